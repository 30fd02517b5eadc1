import App
import ArgumentParser
import Config
import DNSWire
import Foundation
import Policy

/// `gtmd override ...`: sets, clears and lists operator overrides in the state file. A running gtmd
/// notices the change within a quarter of a second and republishes its answers.
struct OverrideCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "override",
        abstract: "Force members or pools up or down, pin or release a service; list and clear overrides.",
        discussion: """
        Examples:
          gtmd override member --config config/lab.yaml primary/127.0.0.11 down --for 30m --note "maintenance"
          gtmd override pool --config config/lab.yaml primary down          # drain the primary region
          gtmd override pin --config config/lab.yaml www.lab.example standby
          gtmd override release --config config/lab.yaml www.lab.example   # end a manual-failback hold
          gtmd override clear --config config/lab.yaml pool primary
          gtmd override list --config config/lab.yaml
        """,
        subcommands: [ListOverrides.self, MemberOverride.self, PoolOverride.self, Pin.self, Release.self, Clear.self])
}

struct OverrideTarget: ParsableArguments {
    @Option(name: .long, help: "Config file (YAML); its state_file holds the overrides.")
    var config: String

    @Option(name: .long, help: "State file (default: the config's state_file).")
    var stateFile: String?

    func load() throws -> (GtmdConfig, String) {
        switch ConfigLoader.load(path: config) {
        case .success(let c):
            return (c, stateFile ?? c.stateFile ?? StateFile.defaultPath(configFile: c.file))
        case .failure(let p):
            throw ValidationError(p.description)
        }
    }
}

struct Expiry: ParsableArguments {
    @Option(name: .long, help: "Keep the override for this long (e.g. 30m, 2h).")
    var `for`: String?

    @Option(name: .long, help: "Keep the override until this time (ISO 8601, e.g. 2026-11-21T18:00:00Z).")
    var until: String?

    @Option(name: .long, help: "Why (shown in status and logs).")
    var note: String?

    func expiry(now: Date) throws -> Date? {
        if self.for != nil && until != nil { throw ValidationError("give --for or --until, not both") }
        if let f = self.for {
            guard let d = parseDuration(f), d > .zero else { throw ValidationError("--for '\(f)' is not a duration (e.g. 30m)") }
            return now.addingTimeInterval(Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18)
        }
        if let u = until {
            guard let date = ISO8601DateFormatter().date(from: u) else {
                throw ValidationError("--until '\(u)' is not an ISO 8601 time (e.g. 2026-11-21T18:00:00Z)")
            }
            guard date > now else { throw ValidationError("--until '\(u)' is in the past") }
            return date
        }
        return nil
    }
}

func setOverride(_ o: Override, path: String) throws {
    try StateFile.update(path) { content in
        var set = OverrideSet(content.overrides)
        set.set(o)
        content.overrides = set.all
    }
    print("set: \(o.summary)")
}

func serviceName(_ text: String, _ config: GtmdConfig) throws -> String {
    let name: DNSName
    do { name = try DNSName(absolute: text) } catch { throw ValidationError("'\(text)': \(error)") }
    guard let s = config.services.first(where: { $0.name == name }) else {
        throw ValidationError("no service \(name) (configured: \(config.services.map(\.name.description).joined(separator: ", ")))")
    }
    return s.name.description
}

enum UpDown: String, ExpressibleByArgument { case up, down }

/// Sets a member or pool override after checking the name against the config.
func forceOverride(_ scope: Override.Scope, _ name: String, _ state: UpDown, _ target: OverrideTarget, _ expiry: Expiry) throws {
    let (config, path) = try target.load()
    let known = scope == .member ? config.pools.flatMap { $0.members.map(\.targetID) } : config.pools.map(\.name)
    guard known.contains(name) else {
        throw ValidationError("no \(scope.rawValue) '\(name)' (\(scope.rawValue)s: \(known.joined(separator: ", ")))")
    }
    let now = Date()
    try setOverride(Override(scope: scope, target: name, action: state == .up ? .up : .down,
                             until: try expiry.expiry(now: now), setAt: now, note: expiry.note), path: path)
}

struct MemberOverride: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "member", abstract: "Force a pool member up or down.")
    @OptionGroup var target: OverrideTarget
    @Argument(help: "POOL/ADDRESS, e.g. primary/127.0.0.11") var member: String
    @Argument(help: "up or down") var state: UpDown
    @OptionGroup var expiry: Expiry
    func run() throws { try forceOverride(.member, member, state, target, expiry) }
}

struct PoolOverride: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "pool", abstract: "Force a whole pool up or down (drain).")
    @OptionGroup var target: OverrideTarget
    @Argument(help: "Pool name") var pool: String
    @Argument(help: "up or down") var state: UpDown
    @OptionGroup var expiry: Expiry
    func run() throws { try forceOverride(.pool, pool, state, target, expiry) }
}

struct Pin: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Pin a service to one of its pools.")
    @OptionGroup var target: OverrideTarget
    @Argument(help: "Service name, e.g. www.lab.example") var service: String
    @Argument(help: "Pool name") var pool: String
    @OptionGroup var expiry: Expiry
    func run() throws {
        let (config, path) = try target.load()
        let name = try serviceName(service, config)
        let pools = config.services.first { $0.name.description == name }!.pools
        guard pools.contains(pool) else { throw ValidationError("service \(name) has no pool '\(pool)' (pools: \(pools.joined(separator: ", ")))") }
        let now = Date()
        try setOverride(Override(scope: .service, target: name, action: .pin, pool: pool,
                                 until: try expiry.expiry(now: now), setAt: now, note: expiry.note), path: path)
    }
}

struct Release: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Release a service held on a standby by failback: manual (it fails back if the primary is available).")
    @OptionGroup var target: OverrideTarget
    @Argument(help: "Service name") var service: String
    @Option(name: .long, help: "Why (shown in status and logs).") var note: String?
    func run() throws {
        let (config, path) = try target.load()
        let name = try serviceName(service, config)
        try setOverride(Override(scope: .service, target: name, action: .release, setAt: Date(), note: note), path: path)
    }
}

struct Clear: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Remove the overrides of a member, pool or service.")
    @OptionGroup var target: OverrideTarget
    @Argument(help: "member, pool or service") var scope: String
    @Argument(help: "The member (POOL/ADDRESS), pool or service name") var name: String
    func run() throws {
        let (config, path) = try target.load()
        guard let sc = Override.Scope(rawValue: scope) else { throw ValidationError("scope '\(scope)' is not member, pool or service") }
        let key = sc == .service ? try serviceName(name, config) : name
        var removed = 0
        try StateFile.update(path) { content in
            var set = OverrideSet(content.overrides)
            removed = set.clear(scope: sc, target: key)
            content.overrides = set.all
        }
        print(removed == 0 ? "no override for \(scope) \(key)" : "cleared \(removed) override(s) for \(scope) \(key)")
    }
}

struct ListOverrides: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List overrides and the services' remembered state.")
    @OptionGroup var target: OverrideTarget
    func run() throws {
        let (_, path) = try target.load()
        let content = try StateFile.read(path)
        let now = Date()
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
