import Answers
import App
import ArgumentParser
import Config
import FoundationEssentials
import Health
import HealthModel
import Logging
import Policy
import Steering

@main
struct Gtmd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gtmd",
        abstract: "Health-checking authoritative DNS server for disaster-recovery failover.",
        version: GtmdVersion.string,
        subcommands: [
            Serve.self, Check.self, Probe.self, LocateCommand.self, StatusCommand.self, ExplainCommand.self,
            OverrideCommand.self, ReloadCommand.self, EventsCommand.self, SimulateCommand.self, DnssecCommand.self,
        ],
        defaultSubcommand: nil
    )

    /// `gtmd serve ...` is parsed by `Serve` alone: building the parser of the whole command tree (every
    /// subcommand's options, names from type metadata) cost more CPU than anything else before the config is
    /// read. Anything `Serve` alone does not accept (help, a mistake) goes the usual way, so its messages and
    /// exit codes are the usual ones.
    /// Its usual form (`--name value` pairs) is read without ArgumentParser at all (`ServeArguments(plain:)`: its
    /// reflection was the largest cost of a start before the config).
    static func main() async {
        let args = Array(CommandLine.arguments.dropFirst())
        if args.first == "serve",
            let serve = ServeArguments(plain: args.dropFirst())
                ?? (try? Serve.parse(Array(args.dropFirst())))?.arguments
        {
            do { try await Serve.run(serve) } catch { exit(withError: error) }
            return
        }
        await main(nil)
    }
}

struct ZoneOptions: ParsableArguments {
    @Option(name: .long, help: "Config file (YAML).")
    var config: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Serve a zone file: ORIGIN=FILE (repeatable; with or without --config).",
            valueName: "origin=file"
        )
    )
    var zone: [String] = []
}

struct Serve: AsyncParsableCommand {
    // `_superCommandName` matters only when `Serve` is parsed as the root (`Gtmd.main`'s fast path): the
    // parser then skips its check for `--generate-completion-script`, which builds two more parsers with
    // reflection (~60 % of the parse). That option goes to the whole tree, as `Serve` alone refuses it.
    static let configuration = CommandConfiguration(
        _superCommandName: "gtmd",
        abstract: "Serve the configured zones."
    )

    @OptionGroup var zones: ZoneOptions

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Listen on ADDR:PORT instead of the configured addresses (repeatable).",
            valueName: "addr:port"
        )
    )
    var listen: [String] = []

    @Option(name: .long, help: "UDP worker threads per listen address (0 = one per core).")
    var udpWorkers: Int?

    @Option(name: .long, help: "Write the bound addresses as JSON to this file once listening (for tests and scripts).")
    var readyFile: String?

    @Option(name: .long, help: "State file for overrides and service state (default: the config's state_file).")
    var stateFile: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Control API listener ADDR:PORT, or off (default: the config's control.listen, else 127.0.0.1:8053).",
            valueName: "addr:port"
        )
    )
    var control: String?

    @Option(name: .long, help: "This node's name in the fleet (default: the config's fleet.node, else the host name).")
    var node: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "etcd member URLs, comma-separated (default: the config's fleet.etcd.endpoints).",
            valueName: "url[,url]"
        )
    )
    var etcd: [String] = []

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    func validate() throws {
        if let n = udpWorkers, !ServeArguments.udpWorkerRange.contains(n) {
            throw ValidationError(
                "--udp-workers \(n) is out of range \(ServeArguments.udpWorkerRange) (0 = one per core)"
            )
        }
    }

    var arguments: ServeArguments {
        var a = ServeArguments()
        a.config = zones.config
        a.zone = zones.zone
        a.listen = listen
        a.udpWorkers = udpWorkers
        a.readyFile = readyFile
        a.stateFile = stateFile
        a.control = control
        a.node = node
        a.etcd = etcd
        a.logLevel = logLevel
        return a
    }

    func run() async throws { try await Self.run(arguments) }

    static func run(_ a: ServeArguments) async throws {
        let logger = makeLogger(level: a.logLevel)
        var request = SetupRequest(
            configPath: a.config,
            zoneArguments: a.zone,
            listen: a.listen,
            stateFile: a.stateFile,
            control: a.control,
            node: a.node,
            etcd: a.etcd
        )
        request.createKeys = true
        // The loaded zones (every record) end with this scope: the compiled zones keep what serving needs, and a
        // `prepared` alive across `run()` would hold a big zone's records for the life of the server.
        let runtime: GtmdRuntime
        do {
            let prepared: Prepared
            switch Setup.prepare(request) {
            case .success(let p):
                prepared = p
                for n in p.notices { logger.notice("\(n)") }
                for w in p.warnings { logger.warning("\(w)") }
            case .failure(let f):
                for p in f.problems { printError(p) }
                printError("gtmd: \(f.problems.count) problem(s); not starting")
                throw ExitCode(1)
            }
            runtime = try GtmdRuntime(
                request: request,
                prepared: prepared,
                udpWorkers: a.udpWorkers,
                readyFile: a.readyFile,
                logger: logger
            )
        }
        try await runtime.run()
    }
}

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Validate the config and every zone; print all problems. Exit 0 when valid, 1 otherwise."
    )

    @OptionGroup var zones: ZoneOptions

    func run() throws {
        switch Setup.prepare(SetupRequest(configPath: zones.config, zoneArguments: zones.zone)) {
        case .success(let p):
            let table = p.buildTable(generation: 1)
            for r in p.config.locator?.rulesLongerThanECSCap ?? [] {
                print("\(zones.config ?? "-"): geo.networks: warning: \(r.warning)")
            }
            for w in p.warnings { print(w) }
            print(
                "ok: \(p.zones.count) zone(s), \(table.nodeCount) names, \(p.config.server.listen.count) listen address(es)"
            )
        case .failure(let f):
            for p in f.problems { print(p) }
            print("\(f.problems.count) problem(s)")
            throw ExitCode(1)
        }
    }
}

func printError(_ s: String) {
    GtmdLogHandler.standardError(s + "\n")
}

func makeLogger(level: String) -> Logger {
    let l = Logger.Level(rawValue: level) ?? .info
    LoggingSystem.bootstrap { _ in GtmdLogHandler(level: l) }
    return Logger(label: "gtmd")
}

struct Probe: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run every health check once and print a table. Exit 0 when all pass, 1 otherwise."
    )

    @Option(name: .long, help: "Config file (YAML).")
    var config: String

    func run() async throws {
        let cfg: GtmdConfig
        switch ConfigLoader.load(path: config) {
        case .success(let c): cfg = c
        case .failure(let p):
            print(p.description)
            throw ExitCode(1)
        }
        let targets = cfg.probeTargets()
        if targets.isEmpty {
            print("no health checks configured")
            return
        }
        let rows = await OneShotProbe.runAll(targets: targets, maxInFlight: cfg.health.maxInFlight)
        print(OneShotProbe.table(rows), terminator: "")
        if !OneShotProbe.allPassed(rows) { throw ExitCode(1) }
    }
}

struct LocateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "locate",
        abstract:
            "Show where a client is (network rule, database entry or default), its region, its ordered pools and what each service answers it now.",
        discussion: """
            ADDRESS is the query's source address (a client, or the resolver asking for it). --ecs gives the EDNS \
            Client Subnet the resolver sends (e.g. 10.2.3.0/24). Health comes from one probe round of every \
            check (as `gtmd probe`), overrides and service state from the state file.
            """
    )

    @Option(name: .long, help: "Config file (YAML).")
    var config: String
    @Argument(help: "Source address of the query (IPv4 or IPv6).")
    var address: String
    @Option(name: .long, help: "EDNS Client Subnet prefix, e.g. 10.2.3.0/24.")
    var ecs: String?
    @Flag(name: .long, help: "Do not probe: count every member up.")
    var noProbe = false
    @Option(name: .long, help: "State file (default: the config's state_file).")
    var stateFile: String?

    func run() async throws {
        guard let source = IPAddress.parse(address) else {
            print("'\(address)' is not an IPv4 or IPv6 address")
            throw ExitCode(2)
        }
        var ecsNet: IPNetwork? = nil
        if let ecs {
            switch IPNetwork.parse(ecs) {
            case .success(let n): ecsNet = n
            case .failure(let e):
                print("--ecs: \(e)")
                throw ExitCode(2)
            }
        }
        let cfg: GtmdConfig
        switch ConfigLoader.load(path: config) {
        case .success(let c): cfg = c
        case .failure(let p):
            print(p.description)
            throw ExitCode(1)
        }
        var health: [String: Bool]? = nil
        if !noProbe {
            let rows = await OneShotProbe.runAll(targets: cfg.probeTargets(), maxInFlight: cfg.health.maxInFlight)
            var h: [String: Bool] = [:]
            for r in rows { h[r.target] = (h[r.target] ?? true) && r.result.ok }
            health = h
        }
        let path = stateFile ?? cfg.stateFile ?? StateFile.defaultPath(configFile: cfg.file)
        let content = (try? StateFile.read(path)) ?? StateFileContent()
        print(
            Locate.report(
                config: cfg,
                request: .init(source: source, ecs: ecsNet),
                health: health,
                overrides: OverrideSet(content.overrides).active(at: Date()),
                states: content.services
            ),
            terminator: ""
        )
    }
}
