import Answers
import Config
import Control
import Dispatch
import Fleet
import FoundationEssentials
import Glibc
import Health
import HealthModel
import Logging
import Policy
import Server
import ServiceLifecycle
import Steering
import Synchronization
import UnixSignals

/// The running server, wired: health monitor → steering loop (the one writer) → answer store → DNS listeners;
/// reload, control API, systemd notify. `main` builds a `SetupRequest` and calls `GtmdRuntime.run`; tests run
/// the real binary.
public final class GtmdRuntime: Sendable {
    public let request: SetupRequest
    public let logger: Logger
    public let store: AnswerStore
    public let monitor: HealthMonitor
    public let steering: SteeringLoop
    let server: DNSServer
    let readyFile: String?
    let notifier = SystemdNotifier()
    /// Counters for /metrics that no other part keeps (reloads, health state changes).
    let stats = RuntimeStats()
    /// Listening and the first probe round done (/readyz).
    let ready = Atomic<Bool>(false)
    /// Every health check state change from the start (counted for /metrics).
    let healthChanges: AsyncStream<HealthChange>
    /// The control listener's bound address, once bound.
    let controlAddress = Mutex<String?>(nil)
    /// This server's hold on its state file (`gtmd override --offline` refuses while it is held).
    let stateHold: StateFileHold?
    /// Reloads run here one at a time, whoever asks (SIGHUP, the control API).
    let reloads = DispatchQueue(label: "gtmd.reload")

    /// The fleet (a `fleet:` section): one more input of the steering loop. nil: a single node, as before.
    let fleet: FleetLink?

    /// Builds everything from a prepared (validated) config; nothing is bound or probed yet.
    public init(
        request: SetupRequest,
        prepared: Prepared,
        udpWorkers: Int?,
        readyFile: String?,
        logger: Logger
    ) throws {
        self.request = request
        self.logger = logger
        self.readyFile = readyFile
        // Until the first probe round is done nothing is served; this table is never installed for queries.
        self.store = AnswerStore(AnswerTable.empty())
        let config = prepared.config
        var hopts = HealthMonitorOptions()
        hopts.maxInFlight = config.health.maxInFlight
        self.monitor = HealthMonitor(targets: config.probeTargets(), options: hopts, logger: logger)
        self.healthChanges = monitor.changes()
        let stateFile = config.stateFile ?? StateFile.defaultPath(configFile: config.file)
        switch StateFile.holdForServer(stateFile) {
        case .success(let hold): self.stateHold = hold
        case .failure(let e):
            self.stateHold = nil
            logger.warning(
                "state file: not held by this server; `gtmd override --offline` cannot see that it runs",
                metadata: ["problem": "\(e)"]
            )
        }
        let steering = SteeringLoop(
            prepared: prepared,
            store: store,
            stateFile: stateFile,
            options: SteeringOptions(coalesceWindow: config.health.coalesceWindow, startWorkWaitsForServing: true),
            logger: logger
        )
        self.steering = steering
        self.fleet = try config.fleet.map {
            try FleetLink(settings: $0, stateFile: stateFile, steering: steering, logger: logger)
        }
        let s = config.server
        var options = ServerOptions()
        options.udpWorkersPerAddress = udpWorkers ?? s.udpWorkers
        options.socketBufferSize = s.udpSocketBuffer
        options.tcpMaxConnections = s.tcpMaxConnections
        options.tcpMaxConnectionsPerClient = s.tcpMaxConnectionsPerClient
        options.tcpIdleTimeout = s.tcpIdleTimeout
        options.tcpQueryTimeout = s.tcpQueryTimeout
        options.rateLimit = Self.rateLimitOptions(s.rateLimit)
        self.server = DNSServer(
            endpoints: s.listen.map { ListenEndpoint(host: $0.host, port: $0.port) },
            store: store,
            options: options,
            logger: logger
        )
        // The first probe round goes out now: its wait for the backends overlaps the rest of the start (the
        // service group, the control listener), and nothing is answered before it ends (`startServing`).
        monitor.start()
    }

    /// `server.rrl` as the server's options (loopback exempt when no exemptions are configured).
    static func rateLimitOptions(_ r: RateLimitSettings) -> RateLimitOptions {
        RateLimitOptions(
            responsesPerSecond: r.responsesPerSecond,
            window: r.window,
            slip: r.slip,
            ipv4Prefix: r.ipv4Prefix,
            ipv6Prefix: r.ipv6Prefix,
            exempt: r.exempt ?? IPNetwork.loopback,
            tableSize: r.tableSize
        )
    }

    /// SIGHUP: reloads (see `reloadNow`) on the reload queue, off the cooperative pool.
    @discardableResult
    public func reload(trigger: String = "SIGHUP") async -> ReloadReport {
        await withCheckedContinuation { c in reloads.async { c.resume(returning: self.reloadNow(trigger: trigger)) } }
    }

    /// `POST /v1/reload`: the same, blocking the control API's handler thread until the new config serves.
    func reloadBlocking(trigger: String) -> ReloadReport {
        reloads.sync { reloadNow(trigger: trigger) }
    }

    /// Re-reads config and zones off to the side and hands them to the steering loop only when all of it is
    /// valid, then waits until the loop has installed a table built from them. A refused reload changes nothing.
    /// Listen addresses, socket options and the control listener need a restart; a change there is a note.
    /// Runs on `reloads` only, so two reloads never interleave (a later one never loses to an earlier one).
    func reloadNow(trigger: String) -> ReloadReport {
        let started = Date()
        notifier.reloading()
        let report: ReloadReport
        switch Setup.prepare(request) {
        case .failure(let f):
            for p in f.problems {
                logger.error(
                    "reload failed, still serving the previous config",
                    metadata: ["problem": "\(p)", "reload.trigger": "\(trigger)"]
                )
            }
            steering.submit(.reloadFailed(f.problems.map { "\($0)" }))
            notifier.ready(status: "reload failed (\(f.problems.count) problems); serving the previous config")
            report = ReloadReport(
                trigger: trigger,
                started: started,
                finished: Date(),
                result: .refused,
                errors: f.problems
            )
        case .success(let prepared):
            for n in prepared.notices { logger.notice("\(n)") }
            for w in prepared.warnings { logger.warning("\(w)") }
            let old = steering.view.prepared.config
            var notes: [String] = []
            if prepared.config.probeTargets() != old.probeTargets() {
                // Unchanged targets keep their state; new or changed ones start fresh (probed at once, and
                // counted as their initial state until the first result).
                monitor.update(targets: prepared.config.probeTargets())
            }
            if prepared.config.server != old.server {
                notes.append("server settings (listen addresses, TCP limits) take effect at the next restart")
            }
            if prepared.config.control.listen != old.control.listen {
                notes.append("control.listen takes effect at the next restart")
            }
            if prepared.config.fleet != old.fleet {
                logger.warning("reload: the fleet: section takes effect at the next restart")
            }
            if prepared.config.health.coalesceWindow != old.health.coalesceWindow {
                notes.append("health.coalesce_window takes effect at the next restart")
            }
            for n in notes { logger.warning("reload: \(n)") }
            guard let outcome = steering.applyBlocking(.reload(prepared), timeout: Self.reloadInstallTimeout) else {
                logger.error("reload: the steering loop did not confirm the new config in time; it is queued")
                notifier.ready(status: "reload handed over, not confirmed yet")
                report = ReloadReport(
                    trigger: trigger,
                    started: started,
                    finished: Date(),
                    result: .pending,
                    errors: [
                        "the steering loop did not install the new config within "
                            + "\(Self.reloadInstallTimeout); it is queued and will serve when installed"
                    ],
                    notes: notes
                )
                break
            }
            let table = store.current()
            logger.notice(
                "reloaded",
                metadata: [
                    "table.generation": "\(table.generation)", "table.zones": "\(table.zoneCount)",
                    "table.names": "\(table.nodeCount)", "reload.trigger": "\(trigger)",
                ]
            )
            notifier.ready(status: "reloaded: \(table.zoneCount) zones, \(table.nodeCount) names")
            report = ReloadReport(
                trigger: trigger,
                started: started,
                finished: Date(),
                result: .installed,
                notes: notes,
                generation: outcome.installed ? outcome.generation : nil
            )
        }
        stats.reloaded(report)
        return report
    }

    /// How long a reload waits for the steering loop to install the new config (a big zone compiles there).
    static let reloadInstallTimeout: Duration = .seconds(45)

    /// Runs until SIGTERM/SIGINT; SIGHUP reloads.
    public func run() async throws {
        // Each service is named here: without a name, ServiceLifecycle prints the service value with
        // reflection (`"\(service)"`), ~2 ms of dynamic casts at every start.
        let control = steering.view.prepared.config.control.listen.map {
            ControlServer(host: $0.host, port: $0.port, handler: ControlAPI(backend: self), logger: logger)
        }
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: monitor, successTerminationBehavior: .ignore, serviceName: "health"),
            .init(service: steering, serviceName: "steering"),
            .init(service: ServeService(runtime: self, control: control), serviceName: "serve"),
            .init(service: ReloadService(runtime: self), serviceName: "reload"),
        ]
        if let control { services.append(.init(service: control, serviceName: "control")) }
        if let fleet {
            // First in, last out: the node revokes its lease after the listeners stopped.
            services.insert(.init(service: FleetService(fleet: fleet.node), serviceName: "fleet"), at: 0)
        }
        if let interval = notifier.watchdogInterval {
            services.append(.init(service: WatchdogService(runtime: self, interval: interval), serviceName: "watchdog"))
        }
        let group = ServiceGroup(
            configuration: .init(
                services: services,
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        try await group.run()
    }

    /// Waits for the first probe round, has the first table published, binds the listeners.
    func startServing() async throws {
        let start = ContinuousClock.now
        let complete = await monitor.waitForFirstRound()
        if !monitor.targets.isEmpty {
            logger.notice(
                "first probe round",
                metadata: [
                    "complete": "\(complete)", "took": "\(ContinuousClock.now - start)",
                    "targets": "\(monitor.targets.count)",
                ]
            )
        }
        let snapshot = monitor.snapshot()
        if let fleet {
            // The first answers use the fleet's decision when the store answers soon; a dead store delays the
            // start by at most one round of requests over the members.
            fleet.node.report(FleetLink.localVerdicts(snapshot))
            let s = fleet.node.settings
            await fleet.node.waitForFirstSync(timeout: s.requestTimeout * (s.endpoints.count + 1))
            fleet.push()
        }
        _ = await steering.apply(.health(snapshot))
        let table = store.current()
        logger.notice(
            "answer table built",
            metadata: [
                "table.generation": "\(table.generation)", "table.zones": "\(table.zoneCount)",
                "table.names": "\(table.nodeCount)", "table.bytes": "\(table.answerBytes)",
            ]
        )
        let bound = try server.start()
        ready.store(true, ordering: .releasing)
        for b in bound {
            logger.notice("listening", metadata: ["listen.addr": "\(b.host)", "listen.port": "\(b.port)"])
        }
        notifier.ready(
            status: "serving \(table.zoneCount) zones on \(bound.map(\.description).joined(separator: ", "))"
        )
        if let readyFile {
            let list = bound.map { "\"\($0)\"" }
            let control = controlAddress.withLock { $0 }.map { ", \"control\": \"\($0)\"" } ?? ""
            let json = "{\"pid\": \(getpid()), \"listen\": [\(list.joined(separator: ", "))]\(control)}\n"
            try json.write(toFile: readyFile, atomically: true, encoding: .utf8)
        }
        // The first table's save and the saved event history's decoding were left until now.
        steering.serving()
    }
}

/// Starts serving after the first probe round, then hands every new health snapshot to the steering loop (as
/// is: the loop never pulls health itself) and counts state changes. Stops the listeners on graceful shutdown.
struct ServeService: Service {
    let runtime: GtmdRuntime
    /// Bound here, while the first probe round is out (the health service starts first): its set-up overlaps
    /// the wait for the backends instead of coming before it (~1 ms of a start). It is bound before anything
    /// is served; a failure to bind ends the server.
    let control: ControlServer?

    func run() async throws {
        if let control {
            let bound = try control.start()
            runtime.controlAddress.withLock { $0 = ListenAddress(host: bound.host, port: bound.port).description }
        }
        try await runtime.startServing()
        defer {
            runtime.logger.notice("shutting down")
            runtime.notifier.stopping()
            runtime.server.stop()
        }
        let monitor = runtime.monitor
        let steering = runtime.steering
        let stats = runtime.stats
        let changes = runtime.healthChanges
        let fleet = runtime.fleet
        let updates = monitor.snapshotUpdates()
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await c in changes { stats.stateChanged(target: c.target, check: c.check) }
            }
            // Ends at graceful shutdown (the stream's iteration ends when its task is cancelled). Not
            // `cancelOnGracefulShutdown()`: its merged sequences cost ~1 ms of generic set-up at every start.
            await cancelWhenGracefulShutdown {
                for await snapshot in updates {
                    // The fleet hears the node's own verdicts (written on transitions; its decision may change).
                    fleet?.node.report(FleetLink.localVerdicts(snapshot))
                    steering.submit(.health(snapshot))
                }
            }
            group.cancelAll()
        }
    }
}

/// Pings the systemd watchdog at half its timeout while the DNS listeners and the steering loop run.
struct WatchdogService: Service {
    let runtime: GtmdRuntime
    let interval: Duration
    func run() async throws {
        while !Task.isShuttingDownGracefully {
            do { try await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) } } catch { return }
            runtime.notifier.watchdog()
        }
    }
}

/// Reloads on SIGHUP until shutdown.
struct ReloadService: Service {
    let runtime: GtmdRuntime
    func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sighup)
        let runtime = self.runtime
        // Ends at graceful shutdown, as in ServeService.
        await cancelWhenGracefulShutdown {
            for await _ in signals {
                runtime.logger.notice("SIGHUP: reloading")
                await runtime.reload()
            }
        }
    }
}

/// Counters kept for /metrics: reloads by result, health check state changes per target and check.
final class RuntimeStats: Sendable {
    struct Values {
        var reloadsOK = 0
        var reloadsFailed = 0
        var lastReload: ReloadReport? = nil
        var stateChanges: [String: [String: Int]] = [:]
    }
    private let values = Mutex(Values())
    func reloaded(_ report: ReloadReport) {
        values.withLock { v in
            if report.result == .refused { v.reloadsFailed += 1 } else { v.reloadsOK += 1 }
            v.lastReload = report
        }
    }
    func stateChanged(target: String, check: String) {
        values.withLock { $0.stateChanges[target, default: [:]][check, default: 0] += 1 }
    }
    var current: Values { values.withLock { $0 } }
}

extension GtmdRuntime: ControlBackend {
    var isReady: Bool { ready.load(ordering: .acquiring) }
    var view: SteeringView { steering.view }
    var eventsView: SteeringView { steering.viewWithHistory() }
    var health: HealthSnapshot { monitor.snapshot() }

    func metricsInput() -> MetricsInput {
        let v = steering.view
        let stats = stats.current
        return MetricsInput(
            udp: server.counters(.udp),
            tcp: server.counters(.tcp),
            config: v.prepared.config,
            health: monitor.snapshot(),
            decisions: v.decisions,
            switches: v.switches,
            failovers: v.failovers,
            overridesActive: v.overrides.active(at: Date()).all.count,
            generation: store.current().generation,
            reloadsOK: stats.reloadsOK,
            reloadsFailed: stats.reloadsFailed,
            stateChanges: stats.stateChanges,
            ready: isReady,
            fleet: fleetReport,
            signatureExpiry: store.current().signatureExpiry,
            resignAt: store.current().resignAt,
            dnssecKeys: DnssecZoneStatus.build(v.prepared.signers, now: Date())
        )
    }

    func apply(_ change: OverrideChange) -> SteeringOutcome? {
        steering.applyBlocking(.override(change))
    }

    func reload() -> ReloadReport { reloadBlocking(trigger: "control API") }

    var lastReload: ReloadReport? { stats.current.lastReload }

    func subscribeEvents(_ listener: @escaping @Sendable ([GtmdEvent]) -> Void) -> UInt64 {
        steering.subscribeEvents(listener)
    }

    func unsubscribeEvents(_ id: UInt64) { steering.unsubscribeEvents(id) }

    func share(_ change: OverrideChange) -> SharedChange {
        fleet?.share(change) ?? .notShared
    }

    var fleetReport: FleetReport? {
        guard let fleet else { return nil }
        let snapshot = monitor.snapshot()
        let v = steering.view
        let used = v.fleet?.effective(snapshot.targets.mapValues(\.isUp)) ?? snapshot.targets.mapValues(\.isUp)
        return fleet.report(snapshot: snapshot, used: used)
    }
}
