import Answers
import Config
import Control
import Foundation
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

    /// Builds everything from a prepared (validated) config; nothing is bound or probed yet.
    public init(request: SetupRequest, prepared: Prepared, udpWorkers: Int?, readyFile: String?, logger: Logger) {
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
        self.steering = SteeringLoop(
            prepared: prepared,
            store: store,
            stateFile: stateFile,
            options: SteeringOptions(coalesceWindow: config.health.coalesceWindow),
            logger: logger
        )
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

    /// Re-reads config and zones off to the side and hands them to the steering loop only when all of it is
    /// valid. Listen addresses, socket options and the control listener need a restart; a change there is logged.
    @discardableResult
    public func reload() async -> Bool {
        notifier.reloading()
        switch Setup.prepare(request) {
        case .failure(let f):
            stats.reloaded(ok: false)
            for p in f.problems {
                logger.error("reload failed, still serving the previous config", metadata: ["problem": "\(p)"])
            }
            notifier.ready(status: "reload failed (\(f.problems.count) problems); serving the previous config")
            return false
        case .success(let prepared):
            for n in prepared.notices { logger.notice("\(n)") }
            let old = steering.view.prepared.config
            if prepared.config.probeTargets() != old.probeTargets() {
                // Unchanged targets keep their state; new or changed ones start fresh (probed at once, and
                // counted as their initial state until the first result).
                monitor.update(targets: prepared.config.probeTargets())
            }
            if prepared.config.server != old.server {
                logger.warning("reload: server settings (listen addresses, TCP limits) take effect at the next restart")
            }
            if prepared.config.control.listen != old.control.listen {
                logger.warning("reload: control.listen takes effect at the next restart")
            }
            if prepared.config.health.coalesceWindow != old.health.coalesceWindow {
                logger.warning("reload: health.coalesce_window takes effect at the next restart")
            }
            _ = await steering.apply(.reload(prepared))
            let table = store.current()
            stats.reloaded(ok: true)
            logger.notice(
                "reloaded",
                metadata: [
                    "table.generation": "\(table.generation)", "table.zones": "\(table.zoneCount)",
                    "table.names": "\(table.nodeCount)",
                ]
            )
            notifier.ready(status: "reloaded: \(table.zoneCount) zones, \(table.nodeCount) names")
            return true
        }
    }

    /// Runs until SIGTERM/SIGINT; SIGHUP reloads.
    public func run() async throws {
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: monitor, successTerminationBehavior: .ignore),
            .init(service: steering),
            .init(service: ServeService(runtime: self)),
            .init(service: ReloadService(runtime: self)),
        ]
        if let listen = steering.view.prepared.config.control.listen {
            let control = ControlServer(
                host: listen.host,
                port: listen.port,
                handler: ControlAPI(backend: self),
                logger: logger
            )
            let bound = try control.start()
            controlAddress.withLock { $0 = ListenAddress(host: bound.host, port: bound.port).description }
            services.append(.init(service: control))
        }
        if let interval = notifier.watchdogInterval {
            services.append(.init(service: WatchdogService(runtime: self, interval: interval)))
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
        _ = await steering.apply(.health(monitor.snapshot()))
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
    }
}

/// Starts serving after the first probe round, then hands every new health snapshot to the steering loop (as
/// is: the loop never pulls health itself) and counts state changes. Stops the listeners on graceful shutdown.
struct ServeService: Service {
    let runtime: GtmdRuntime

    func run() async throws {
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
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await c in changes { stats.stateChanged(target: c.target, check: c.check) }
            }
            for await snapshot in monitor.snapshotUpdates().cancelOnGracefulShutdown() {
                steering.submit(.health(snapshot))
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
        for await _ in signals.cancelOnGracefulShutdown() {
            runtime.logger.notice("SIGHUP: reloading")
            await runtime.reload()
        }
    }
}

/// Counters kept for /metrics: reloads by result, health check state changes per target and check.
final class RuntimeStats: Sendable {
    struct Values {
        var reloadsOK = 0
        var reloadsFailed = 0
        var lastReloadOK: Bool? = nil
        var stateChanges: [String: [String: Int]] = [:]
    }
    private let values = Mutex(Values())
    func reloaded(ok: Bool) {
        values.withLock { v in
            if ok { v.reloadsOK += 1 } else { v.reloadsFailed += 1 }
            v.lastReloadOK = ok
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
            signatureExpiry: store.current().signatureExpiry,
            resignAt: store.current().resignAt
        )
    }

    func apply(_ change: OverrideChange) -> SteeringOutcome? {
        steering.applyBlocking(.override(change))
    }
}
