import Answers
import Config
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

    /// Builds everything from a prepared (validated) config; nothing is bound or probed yet.
    public init(request: SetupRequest, prepared: Prepared, udpWorkers: Int?, readyFile: String?, logger: Logger) {
        self.request = request
        self.logger = logger
        self.readyFile = readyFile
        self.generation = GenerationCounter()
        // Until the first probe round is done nothing is served; this table is never installed for queries.
        self.store = AnswerStore(AnswerTable.empty())
        let config = prepared.config
        var hopts = HealthMonitorOptions()
        hopts.maxInFlight = config.health.maxInFlight
        self.monitor = HealthMonitor(targets: config.probeTargets(), options: hopts, logger: logger)
        let stateFile = config.stateFile ?? StateFile.defaultPath(configFile: config.file)
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
                         exempt: r.exempt.map { $0.compactMap { IPNetwork(bytes: $0.address.bytes, prefix: $0.prefix) } }
                             ?? IPNetwork.loopback,
                         tableSize: r.tableSize)
    }

    func health() -> [String: Bool] {
        monitor.snapshot().targets.mapValues(\.isUp)
    }

    /// Re-reads config and zones off to the side and installs the new table only when all of it is valid.
    /// Listen addresses, socket options and health checks need a restart; a change there is logged.
    @discardableResult
    public func reload() -> Bool {
        notifier.reloading()
        switch Setup.prepare(request) {
        case .failure(let f):
            for p in f.problems { logger.error("reload failed, still serving the previous config", metadata: ["problem": "\(p)"]) }
            notifier.ready(status: "reload failed (\(f.problems.count) problems); serving the previous config")
            return false
        case .success(let prepared):
            let old = publisher.prepared.config
            if Set(prepared.config.probeTargets()) != Set(old.probeTargets()) {
                logger.warning("reload: health check changes take effect at the next restart; probing the previous checks")
            }
            if prepared.config.server != old.server {
                logger.warning("reload: server settings (listen addresses, TCP limits) take effect at the next restart")
            }
            publisher.replace(prepared)
            let table = publisher.publish(health: health())
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
        let table = publisher.publish(health: health())
        logger.notice("answer table built", metadata: [
            "table.generation": "\(table.generation)", "table.zones": "\(table.zoneCount)",
            "table.names": "\(table.nodeCount)", "table.bytes": "\(table.answerBytes)",
        ])
        let bound = try server.start()
        for b in bound { logger.notice("listening", metadata: ["listen.addr": "\(b.host)", "listen.port": "\(b.port)"]) }
        notifier.ready(status: "serving \(table.zoneCount) zones on \(bound.map(\.description).joined(separator: ", "))")
        if let readyFile {
            let list = bound.map { "\"\($0)\"" }
            let json = "{\"pid\": \(getpid()), \"listen\": [\(list.joined(separator: ", "))]}\n"
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
        let (wakeups, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let monitor = runtime.monitor, publisher = runtime.publisher
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await _ in monitor.snapshotUpdates() { wake.yield() }
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
                if changed { publisher.publish(health: health) }
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
