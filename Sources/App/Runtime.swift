import Answers
import Config
import Control
import Foundation
import Health
import Logging
import Server
import ServiceLifecycle
import Synchronization
import UnixSignals

/// The running server: health monitor, publisher, answer store, DNS listeners, reload.
/// `main` builds a `SetupRequest` and calls `GtmdRuntime.run`; tests run the real binary.
public final class GtmdRuntime: Sendable {
    public let request: SetupRequest
    public let logger: Logger
    public let store: AnswerStore
    public let monitor: HealthMonitor
    public let publisher: Publisher
    let server: DNSServer
    let readyFile: String?
    let generation: GenerationCounter
    let notifier = SystemdNotifier()
    /// Counters for /metrics that no other part keeps (reloads, health state changes).
    let stats = RuntimeStats()
    /// Wakes the control loop (health changed, an override was set over the API).
    let wakeups: AsyncStream<Void>
    let wake: AsyncStream<Void>.Continuation
    /// Listening and the first probe round done (/readyz).
    let ready = Atomic<Bool>(false)
    /// Every health check state change from the start (counted for /metrics by the control loop).
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
        self.generation = GenerationCounter()
        (self.wakeups, self.wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
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
            logger.warning("state file: not held by this server; `gtmd override --offline` cannot see that it runs",
                           metadata: ["problem": "\(e)"])
        }
        self.publisher = Publisher(prepared: prepared, store: store, stateFile: stateFile, generation: generation, logger: logger)
        let s = config.server
        var options = ServerOptions()
        options.udpWorkersPerAddress = udpWorkers ?? s.udpWorkers
        options.socketBufferSize = s.udpSocketBuffer
        options.tcpMaxConnections = s.tcpMaxConnections
        options.tcpMaxConnectionsPerClient = s.tcpMaxConnectionsPerClient
        options.tcpIdleTimeout = s.tcpIdleTimeout
        options.tcpQueryTimeout = s.tcpQueryTimeout
        options.rateLimit = Self.rateLimitOptions(s.rateLimit)
        self.server = DNSServer(endpoints: s.listen.map { ListenEndpoint(host: $0.host, port: $0.port) },
                                store: store, options: options, logger: logger)
    }

    /// `server.rrl` as the server's options (loopback exempt when no exemptions are configured).
    static func rateLimitOptions(_ r: RateLimitSettings) -> RateLimitOptions {
        RateLimitOptions(responsesPerSecond: r.responsesPerSecond, window: r.window, slip: r.slip,
                         ipv4Prefix: r.ipv4Prefix, ipv6Prefix: r.ipv6Prefix,
                         exempt: r.exempt ?? IPNetwork.loopback,
                         tableSize: r.tableSize)
    }

    func health() -> [String: Bool] {
        monitor.snapshot().targets.mapValues(\.isUp)
    }

    /// Per target: when the latest run of failed probes began (for the failover timing).
    func failingSince() -> [String: Date] {
        monitor.snapshot().targets.compactMapValues { t in t.checks.compactMap(\.failingSince).max() }
    }

    /// Publishes with the current health (the control loop and reload).
    @discardableResult
    func publishNow() -> AnswerTable {
        publisher.publish(health: health(), failingSince: failingSince())
    }

    /// Re-reads config and zones off to the side and installs the new table only when all of it is valid.
    /// Listen addresses, socket options and health checks need a restart; a change there is logged.
    @discardableResult
    public func reload() -> Bool {
        notifier.reloading()
        switch Setup.prepare(request) {
        case .failure(let f):
            stats.reloaded(ok: false)
            for p in f.problems { logger.error("reload failed, still serving the previous config", metadata: ["problem": "\(p)"]) }
            notifier.ready(status: "reload failed (\(f.problems.count) problems); serving the previous config")
            return false
        case .success(let prepared):
            let old = publisher.prepared.config
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
            publisher.replace(prepared)
            let table = publishNow()
            stats.reloaded(ok: true)
            logger.notice("reloaded", metadata: ["table.generation": "\(table.generation)", "table.zones": "\(table.zoneCount)",
                                                 "table.names": "\(table.nodeCount)"])
            notifier.ready(status: "reloaded: \(table.zoneCount) zones, \(table.nodeCount) names")
            return true
        }
    }

    /// Runs until SIGTERM/SIGINT; SIGHUP reloads.
    public func run() async throws {
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: monitor, successTerminationBehavior: .ignore), .init(service: ControlLoop(runtime: self)),
            .init(service: ReloadService(runtime: self)),
        ]
        if let listen = publisher.prepared.config.control.listen {
            let control = ControlServer(host: listen.host, port: listen.port, handler: ControlAPI(runtime: self),
                                        logger: logger)
            let bound = try control.start()
            controlAddress.withLock { $0 = ListenAddress(host: bound.host, port: bound.port).description }
            services.append(.init(service: control))
        }
        if let interval = notifier.watchdogInterval {
            services.append(.init(service: WatchdogService(runtime: self, interval: interval)))
        }
        let group = ServiceGroup(configuration: .init(
            services: services,
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
        try await group.run()
    }

    /// Waits for the first probe round, publishes the first table, binds the listeners.
    func startServing() async throws {
        let start = ContinuousClock.now
        let complete = await monitor.waitForFirstRound()
        if !monitor.targets.isEmpty {
            logger.notice("first probe round", metadata: [
                "complete": "\(complete)", "took": "\(ContinuousClock.now - start)", "targets": "\(monitor.targets.count)",
            ])
        }
        let table = publishNow()
        logger.notice("answer table built", metadata: [
            "table.generation": "\(table.generation)", "table.zones": "\(table.zoneCount)",
            "table.names": "\(table.nodeCount)", "table.bytes": "\(table.answerBytes)",
        ])
        let bound = try server.start()
        ready.store(true, ordering: .releasing)
        for b in bound { logger.notice("listening", metadata: ["listen.addr": "\(b.host)", "listen.port": "\(b.port)"]) }
        notifier.ready(status: "serving \(table.zoneCount) zones on \(bound.map(\.description).joined(separator: ", "))")
        if let readyFile {
            let list = bound.map { "\"\($0)\"" }
            let control = controlAddress.withLock { $0 }.map { ", \"control\": \"\($0)\"" } ?? ""
            let json = "{\"pid\": \(getpid()), \"listen\": [\(list.joined(separator: ", "))]\(control)}\n"
            try json.write(toFile: readyFile, atomically: true, encoding: .utf8)
        }
    }
}

final class GenerationCounter: Sendable {
    private let value = Mutex<UInt64>(0)
    func next() -> UInt64 { value.withLock { $0 += 1; return $0 } }
}

/// Starts serving after the first probe round, then republishes whenever health changes (at once, woken
/// by the monitor), the overrides in the state file change (checked every 250 ms) or a policy timer is
/// due (hold-down end, override expiry). Stops the listeners on graceful shutdown.
struct ControlLoop: Service {
    let runtime: GtmdRuntime
    static let stateFileCheck: Duration = .milliseconds(250)

    func run() async throws {
        try await runtime.startServing()
        defer {
            runtime.logger.notice("shutting down")
            runtime.notifier.stopping()
            runtime.server.stop()
        }
        let wakeups = runtime.wakeups, wake = runtime.wake
        let monitor = runtime.monitor, publisher = runtime.publisher, stats = runtime.stats
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await _ in monitor.snapshotUpdates() { wake.yield() }
            }
            group.addTask {
                for await c in runtime.healthChanges { stats.stateChanged(target: c.target, check: c.check) }
            }
            group.addTask {
                while !Task.isCancelled {
                    var sleep = ControlLoop.stateFileCheck
                    if let n = publisher.nextEvaluation {
                        let due = Duration.milliseconds(Int64(max(0, n.timeIntervalSinceNow) * 1000) + 1)
                        sleep = min(sleep, due)
                    }
                    do { try await Task.sleep(for: sleep) } catch { return }
                    wake.yield()
                }
            }
            var lastHealth = runtime.health()
            var lastMTime = StateFile.mtime(publisher.stateFile)
            for await _ in wakeups.cancelOnGracefulShutdown() {
                var changed = false
                let health = runtime.health()
                if health != lastHealth { lastHealth = health; changed = true }
                let m = StateFile.mtime(publisher.stateFile)
                if m?.tv_sec != lastMTime?.tv_sec || m?.tv_nsec != lastMTime?.tv_nsec {
                    lastMTime = m
                    publisher.reloadOverrides()
                    changed = true
                }
                if let n = publisher.nextEvaluation, Date() >= n { changed = true }
                if changed { runtime.publishNow() }
            }
            group.cancelAll()
        }
    }
}

/// Pings the systemd watchdog at half its timeout while the DNS listeners and the control loop run.
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
            runtime.reload()
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
        values.withLock { v in if ok { v.reloadsOK += 1 } else { v.reloadsFailed += 1 }; v.lastReloadOK = ok }
    }
    func stateChanged(target: String, check: String) {
        values.withLock { $0.stateChanges[target, default: [:]][check, default: 0] += 1 }
    }
    var current: Values { values.withLock { $0 } }
}
