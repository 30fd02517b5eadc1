import App
import ArgumentParser
import Config
import ConfigText
import Control
import FoundationEssentials
import Glibc
import Policy
import Steering

/// `gtmd override ...`: sets, clears and lists operator overrides through the running gtmd's control API
/// (`POST/DELETE/GET /v1/overrides`, bearer token from the config's control.token_file). With `--offline`
/// (or `--state-file`) it edits the state file directly instead; a running gtmd notices that change within
/// a quarter of a second. Both paths validate with `OverrideStore`, so they accept and store the same things.
struct OverrideCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "override",
        abstract: "Force members or pools up or down, pin or release a service; list and clear overrides.",
        discussion: """
            By default this talks to the running gtmd's control API (--control, else the config's control.listen)
            with the token from --token-file or the config's control.token_file. --offline (or --state-file) edits
            the state file directly, for when gtmd is not running.

            Examples:
              gtmd override member --config config/lab.yaml primary/127.0.0.11 down --for 30m --note "maintenance"
              gtmd override pool --config config/lab.yaml primary down          # drain the primary region
              gtmd override pin --config config/lab.yaml www.lab.example standby
              gtmd override release --config config/lab.yaml www.lab.example   # end a manual-failback hold
              gtmd override clear --config config/lab.yaml pool primary
              gtmd override list --config config/lab.yaml
              gtmd override list --config config/lab.yaml --offline
            """,
        subcommands: [ListOverrides.self, MemberOverride.self, PoolOverride.self, Pin.self, Release.self, Clear.self]
    )
}

struct OverrideTarget: ParsableArguments {
    @Option(name: .long, help: "Config file (YAML): control address and token file, or (offline) the state file.")
    var config: String?

    @OptionGroup var control: ControlTarget

    @Flag(name: .long, help: "Edit the state file directly instead of asking the running gtmd.")
    var offline = false

    @Option(name: .long, help: "State file to edit (implies --offline; default: the config's state_file).")
    var stateFile: String?

    var isOffline: Bool { offline || stateFile != nil }

    /// Config and state file for the offline path. Changes are refused while a running gtmd holds the file:
    /// then they go through its control API.
    func offlineTarget(change: Bool = true) throws -> (GtmdConfig, String) {
        guard let config else {
            throw ValidationError("--offline needs --config (to check names and find the state file)")
        }
        let c = try loadConfig(config)!
        let path = stateFile ?? c.stateFile ?? StateFile.defaultPath(configFile: c.file)
        if change, let pid = StateFile.heldByServer(path) {
            printError(
                "gtmd: a running gtmd\(pid > 0 ? " (pid \(pid))" : "") serves from the state file \(path); "
                    + "not editing it offline. Run the command without --offline/--state-file to change overrides "
                    + "through its control API."
            )
            throw ExitCode(1)
        }
        if change, let fleet = c.fleet {
            // The fleet's store holds the overrides; the state file is only their cache, replaced at the next read.
            printError(
                "gtmd: \(c.file) is a node of fleet '\(fleet.name)': its overrides live in etcd and the state file "
                    + "is only their cache, so an offline edit would be replaced. Run the command without "
                    + "--offline/--state-file against any running node of the fleet."
            )
            throw ExitCode(1)
        }
        return (c, path)
    }

    func client(withToken: Bool) throws -> ControlClient {
        try control.client(config: try loadConfig(config), withToken: withToken)
    }

    /// Sets an override through the API or the state file.
    func set(_ r: OverrideRequest) async throws {
        if isOffline {
            let (config, path) = try offlineTarget()
            let o: Override
            do { o = try OverrideStore.make(r, config: config, now: Date()) } catch {
                throw ValidationError(error.description)
            }
            try OverrideStore.set(o, stateFile: path)
            print("set: \(o.summary)")
            return
        }
        let body = Array(try ControlJSON.encoder.encode(r))
        let reply = try await call(try client(withToken: true), "POST", "/v1/overrides", body: body)
        struct SetReply: Decodable { var set: Override }
        if let o = (try? ControlJSON.decoder.decode(SetReply.self, from: Data(reply.utf8)))?.set {
            print("set: \(o.summary)")
        } else {
            print(reply, terminator: "")
        }
    }
}

struct Expiry: ParsableArguments {
    @Option(name: .long, help: "Keep the override for this long, with a unit: 90s, 30m, 2h, 1d.")
    var `for`: String?

    @Option(name: .long, help: "Keep the override until this time (ISO 8601, e.g. 2026-11-21T18:00:00Z).")
    var until: String?

    @Option(name: .long, help: "Why (shown in status and logs).")
    var note: String?

    func request(scope: String, target: String, action: String, pool: String? = nil) throws -> OverrideRequest {
        var date: Date? = nil
        // Time units are the same everywhere, and `--for 10` reads as ten minutes to some and ten seconds to others.
        if let f = self.for, !f.isEmpty, f.allSatisfy({ $0.isNumber || $0 == "." }) {
            throw ValidationError(
                "--for '\(f)' has no unit: write \(f)s, \(f)m or \(f)h (a bare number would mean seconds)"
            )
        }
        if let u = until {
            guard let d = OverrideRequest.parseUntil(u) else {
                throw ValidationError("--until '\(u)' \(OverrideRequest.untilProblem)")
            }
            date = d
        }
        return OverrideRequest(
            scope: scope,
            target: target,
            action: action,
            pool: pool,
            for: self.for,
            until: date,
            note: note
        )
    }
}

enum UpDown: String, ExpressibleByArgument { case up, down }

struct MemberOverride: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "member", abstract: "Force a pool member up or down.")
    @OptionGroup var target: OverrideTarget
    @Argument(help: "POOL/ADDRESS, e.g. primary/127.0.0.11") var member: String
    @Argument(help: "up or down") var state: UpDown
    @OptionGroup var expiry: Expiry
    func run() async throws {
        try await target.set(try expiry.request(scope: "member", target: member, action: state.rawValue))
    }
}

struct PoolOverride: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pool",
        abstract: "Force a whole pool up or down (drain)."
    )
    @OptionGroup var target: OverrideTarget
    @Argument(help: "Pool name") var pool: String
    @Argument(help: "up or down") var state: UpDown
    @OptionGroup var expiry: Expiry
    func run() async throws {
        try await target.set(try expiry.request(scope: "pool", target: pool, action: state.rawValue))
    }
}

struct Pin: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Pin a service to one of its pools.")
    @OptionGroup var target: OverrideTarget
    @Argument(help: "Service name, e.g. www.lab.example") var service: String
    @Argument(help: "Pool name") var pool: String
    @OptionGroup var expiry: Expiry
    func run() async throws {
        try await target.set(try expiry.request(scope: "service", target: service, action: "pin", pool: pool))
    }
}

struct Release: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Release a service held on a standby by failback: manual (it fails back if the primary is available)."
    )
    @OptionGroup var target: OverrideTarget
    @Argument(help: "Service name") var service: String
    @Option(name: .long, help: "Why (shown in status and logs).") var note: String?
    func run() async throws {
        try await target.set(OverrideRequest(scope: "service", target: service, action: "release", note: note))
    }
}

struct Clear: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Remove the overrides of a member, pool or service.")
    @OptionGroup var target: OverrideTarget
    @Argument(help: "member, pool or service") var scope: String
    @Argument(help: "The member (POOL/ADDRESS), pool or service name") var name: String
    func run() async throws {
        let removed: Int
        if target.isOffline {
            let (config, path) = try target.offlineTarget()
            do {
                removed = try OverrideStore.clear(scope: scope, target: name, config: config, stateFile: path)
            } catch let e as OverrideError { throw ValidationError(e.description) }
        } else {
            var comps = URLComponents()
            comps.queryItems = [URLQueryItem(name: "scope", value: scope), URLQueryItem(name: "target", value: name)]
            let reply = try await call(
                try target.client(withToken: true),
                "DELETE",
                "/v1/overrides?" + (comps.percentEncodedQuery ?? "")
            )
            removed =
                (JSONText.object(reply.utf8)?["cleared"] as? Int64).map { Int($0) } ?? 0
        }
        print(removed == 0 ? "no override for \(scope) \(name)" : "cleared \(removed) override(s) for \(scope) \(name)")
    }
}

struct ListOverrides: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List overrides (offline: and the services' remembered state)."
    )
    @OptionGroup var target: OverrideTarget
    func run() async throws {
        let now = Date()
        if !target.isOffline {
            let reply = try await call(try target.client(withToken: false), "GET", "/v1/overrides")
            struct Entry: Decodable {
                var override: Override
                var active: Bool
            }
            struct List: Decodable {
                var stateFile: String
                var overrides: [Entry]
            }
            guard let list = try? ControlJSON.decoder.decode(List.self, from: Data(reply.utf8)) else {
                print(reply, terminator: "")
                return
            }
            print("state file: \(list.stateFile)")
            if list.overrides.isEmpty { print("no overrides") }
            for e in list.overrides { print((e.active ? "active   " : "expired  ") + e.override.summary) }
            return
        }
        let (_, path) = try target.offlineTarget(change: false)
        let content = try StateFile.read(path)
        print("state file: \(path)")
        if content.overrides.isEmpty { print("no overrides") }
        for o in content.overrides {
            print((o.isActive(at: now) ? "active   " : "expired  ") + o.summary)
        }
        for (name, s) in content.services.sorted(by: { $0.key < $1.key }) {
            print("service \(name): pool \(s.pool ?? "-")" + (s.held ? " (held: failback manual)" : ""))
        }
    }
}
