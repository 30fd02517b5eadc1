import App
import ArgumentParser
import Config
import ConfigText
import Control
import FoundationEssentials
import Glibc
import Policy
import Steering

/// Where the control API is: `--control`, else the config's `control.listen`, else 127.0.0.1:8053.
struct ControlTarget: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "The control API: ADDR:PORT or http://ADDR:PORT (default: the config's control.listen, else 127.0.0.1:8053).",
            valueName: "url"
        )
    )
    var control: String?

    @Option(name: .long, help: "File with the bearer token for changes (default: the config's control.token_file).")
    var tokenFile: String?

    @Option(name: .long, help: "Seconds to wait for the whole reply (default 5; reload: 60).")
    var timeout: Double?

    func validate() throws {
        if let t = timeout, !(t > 0 && t <= 3600) {
            throw ValidationError("--timeout \(t) is out of range: more than 0 and at most 3600 seconds")
        }
    }

    /// The client; `config` supplies defaults. A token is read only when `withToken`: from --token-file, else the
    /// config's control.token_file (under systemd the unit's credential of that name, as the server reads it).
    func client(config: GtmdConfig?, withToken: Bool, defaultTimeout: Double = 5) throws -> ControlClient {
        let address: ListenAddress
        if let c = control {
            guard let a = ControlClient.parseTarget(c) else {
                throw ValidationError("--control '\(c)': expected ADDR:PORT or http://ADDR:PORT (e.g. 127.0.0.1:8053)")
            }
            address = a
        } else if let config {
            guard let l = config.control.listen else {
                throw ValidationError(
                    "\(config.file): the control listener is off (control.listen); give --control ADDR:PORT"
                )
            }
            address = ListenAddress(
                host: l.host == "0.0.0.0" ? "127.0.0.1" : l.host == "::" ? "::1" : l.host,
                port: l.port
            )
        } else {
            address = ControlSettings.defaultListen
        }
        var token: String? = nil
        if withToken, let file = tokenFile ?? config?.control.tokenFile.map({ ControlSettings.tokenPath($0) }) {
            guard let data = FileManager.default.contents(atPath: file) else {
                throw ValidationError("cannot read the token file \(file) (as uid \(getuid()))")
            }
            token = String(decoding: data, as: UTF8.self).trimmedSpace(newlines: true)
        }
        return ControlClient(address: address, token: token, timeout: timeout ?? defaultTimeout)
    }
}

func loadConfig(_ path: String?) throws -> GtmdConfig? {
    guard let path else { return nil }
    switch ConfigLoader.load(path: path) {
    case .success(let c): return c
    case .failure(let p): throw ValidationError(p.description)
    }
}

/// Sends a request; prints the body (or the error) and fails on a non-2xx status.
func call(_ client: ControlClient, _ method: String, _ target: String, body: [UInt8]? = nil) async throws -> String {
    let r: ControlClient.Response
    do { r = try await client.request(method, target, body: body) } catch {
        printError("gtmd: \(error)")
        throw ExitCode(2)
    }
    guard (200..<300).contains(r.status) else {
        let message =
            JSONText.object(r.body.utf8)?["error"] as? String
        printError("gtmd: \(r.status): \(message ?? r.body.trimmedSpace(newlines: true))")
        throw ExitCode(1)
    }
    return r.body
}

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract:
            "Show what the running gtmd answers and why: services, pools, members, checks, overrides (GET /status)."
    )
    @Option(name: .long, help: "Config file (YAML), for the control address.") var config: String?
    @OptionGroup var target: ControlTarget
    @Flag(name: .long, help: "Print the JSON as received.") var json = false

    func run() async throws {
        let client = try target.client(config: try loadConfig(config), withToken: false)
        let body = try await call(client, "GET", "/status")
        if json {
            print(body, terminator: "")
            return
        }
        guard let s = try? ControlJSON.decoder.decode(StatusReport.self, from: Data(body.utf8)) else {
            print(body, terminator: "")
            return
        }
        print("gtmd \(s.ready ? "ready" : "NOT READY"), table generation \(s.generation), config \(s.config)")
        if let r = s.lastReload {
            print("last reload: \(r.summary)")
            for e in r.errors { print("  \(e)") }
            for n in r.notes { print("  note: \(n)") }
        } else {
            print("last reload: none since start")
        }
        for svc in s.services {
            print(
                "service \(svc.name) (\(svc.policy)): \(svc.rcode) \(svc.answer.joined(separator: " ")) ttl \(svc.ttl)"
                    + (svc.pool.map { " pool \($0)" } ?? "") + (svc.degraded ? " DEGRADED" : "")
                    + (svc.held ? " HELD" : "")
            )
            print("  why: \(svc.reason); ttl: \(svc.ttlReason); switches: \(svc.switches)")
            if let f = svc.lastFailover {
                print(
                    "  last switch \(f.from) -> \(f.to ?? "-") at \(f.at.formatted(.iso8601))"
                        + (f.detectionSeconds.map {
                            ", \(DurationText.fixed($0, places: 2))s after the first failed probe"
                        } ?? "")
                        + (f.staleTTL.map { ", clients may hold the old answer \($0)s" } ?? "")
                )
            }
        }
        for p in s.pools {
            print(
                "pool \(p.name) (rule \(p.rule)): \(p.available ? "available" : "UNAVAILABLE") - \(p.reason)"
                    + (p.override.map { " [override: \($0.summary)]" } ?? "")
            )
            for m in p.members {
                print(
                    "  \(m.id): \(m.up ? "up" : "DOWN") (\(m.reason); health \(m.health))"
                        + (m.override.map { " [override: \($0.summary)]" } ?? "")
                )
                for c in m.checks {
                    let last =
                        c.lastReason.map {
                            "last \($0)" + (c.lastLatencyMs.map { " in \(DurationText.fixed($0, places: 1))ms" } ?? "")
                        } ?? "not probed yet"
                    print(
                        "    check \(c.name) \(c.endpoint): \(c.state), \(last), passes \(c.consecutivePasses)/\(c.rise), failures \(c.consecutiveFailures)/\(c.fall)"
                    )
                }
            }
        }
        if s.overrides.isEmpty { print("no overrides") }
        for o in s.overrides { print("override: \(o.summary)") }
        if let f = s.fleet { printFleet(f) }
        for z in s.dnssec ?? [] { for l in z.lines { print(l) } }
    }
}

/// The fleet part of `gtmd status`.
func printFleet(_ f: FleetReport) {
    func word(_ up: Bool?) -> String { up.map { $0 ? "up" : "DOWN" } ?? "-" }
    let store = f.store.connected ? "store connected" : "STORE UNREACHABLE (\(f.store.lastError ?? "-"))"
    print(
        "fleet \(f.name): node \(f.node) at \(f.vantage), quorum \(f.quorum), mode \(f.mode), \(store) since "
            + f.store.since.formatted(.iso8601) + ", on_store_loss \(f.onStoreLoss)"
    )
    let lag = f.store.watchLagSeconds.map { DurationText.fixed($0, places: 3) + "s" } ?? "-"
    let writes = f.store.writes.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
    print("  store: revision \(f.store.revision), watch lag \(lag), writes \(writes)")
    for m in f.members { print("  member \(m.node) at \(m.vantage)") }
    for t in f.targets {
        let vs = t.vantages.sorted { $0.key < $1.key }.map { "\($0.key) \(word($0.value))" }.joined(separator: ", ")
        print(
            "  target \(t.target): used \(word(t.used)), own probes \(word(t.local)); vantages: \(vs.isEmpty ? "-" : vs)"
        )
    }
    for p in f.problems { print("  left out: \(p)") }
}

struct ExplainCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "explain",
        abstract: "Explain why a client gets this answer now (GET /explain).",
        discussion: "Example: gtmd explain --config config/lab.yaml www.lab.example A --client 192.0.2.1"
    )
    @Option(name: .long, help: "Config file (YAML), for the control address.") var config: String?
    @OptionGroup var target: ControlTarget
    @Argument(help: "The name asked for") var name: String
    @Argument(help: "The query type (default A)") var type: String = "A"
    @Option(name: .long, help: "The client's address (the resolver's source address).") var client: String?
    @Option(name: .long, help: "EDNS Client Subnet, ADDRESS/PREFIX.") var ecs: String?

    func run() async throws {
        let c = try target.client(config: try loadConfig(config), withToken: false)
        var items = [URLQueryItem(name: "name", value: name), URLQueryItem(name: "type", value: type)]
        if let client { items.append(URLQueryItem(name: "client", value: client)) }
        if let ecs { items.append(URLQueryItem(name: "ecs", value: ecs)) }
        var comps = URLComponents()
        comps.path = "/explain"
        comps.queryItems = items
        let encoded = (comps.percentEncodedQuery ?? "").replacing("+", with: "%2B")
        print(try await call(c, "GET", "/explain?" + encoded), terminator: "")
    }
}

/// `gtmd reload`: asks the running gtmd to reload (`POST /v1/reload`) and waits until the new config serves.
struct ReloadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reload",
        abstract: "Reload the running gtmd's config and zones; return once the new config serves (POST /v1/reload).",
        discussion: """
            The config and every zone are loaded and checked off to the side; when all of it is valid the new \
            config is installed and this command returns once a table built from it serves. When anything is \
            wrong nothing changes: the previous config keeps serving and every problem is printed. The unit's \
            ExecReload= runs this, so `systemctl reload gtmd` fails on a broken config. Needs the control \
            listener and the token (control.token_file). SIGHUP still reloads too, without an answer.

            Exit status: 0 the new config serves; 1 refused (problems printed, nothing changed); 2 the control \
            API cannot be reached (gtmd not running, or its control listener is elsewhere or off); 3 anything \
            else (token refused, no answer within --timeout, not confirmed by the server).
            """
    )
    @Option(name: .long, help: "Config file (YAML), for the control address and token file.") var config: String?
    @OptionGroup var target: ControlTarget

    static let refused: Int32 = 1
    static let unreachable: Int32 = 2
    static let otherFailure: Int32 = 3

    func run() async throws {
        let client = try target.client(config: try loadConfig(config), withToken: true, defaultTimeout: 60)
        let r: ControlClient.Response
        do { r = try await client.request("POST", "/v1/reload") } catch {
            printError("gtmd: reload: \(error)")
            throw ExitCode(error.kind == .unreachable ? Self.unreachable : Self.otherFailure)
        }
        struct Reply: Decodable {
            var error: String?
            var reload: ReloadReport?
        }
        let reply = try? ControlJSON.decoder.decode(Reply.self, from: Data(r.body.utf8))
        guard let report = reply?.reload else {
            let message = reply?.error ?? r.body.trimmedSpace(newlines: true)
            printError("gtmd: reload: \(r.status): \(message)")
            throw ExitCode(Self.otherFailure)
        }
        switch report.result {
        case .installed:
            print("reloaded: \(report.summary)")
            for n in report.notes { print("note: \(n)") }
        case .refused:
            for e in report.errors { printError(e) }
            printError("gtmd: reload refused (\(report.errors.count) problem(s)); the previous config keeps serving")
            throw ExitCode(Self.refused)
        case .pending:
            printError("gtmd: reload: \(report.summary)")
            throw ExitCode(Self.otherFailure)
        }
    }
}
