import Foundation
import HealthModel
import Logging
import ServiceLifecycle
import TestSupport
import Testing

@testable import Health

/// The scheduler, against real loopback backends. Serialized: these tests measure time.
@Suite(.serialized, .enabled(if: Tools.available, "needs python3 and openssl"))
struct MonitorTests {
    static let logger: Logger = {
        var l = Logger(label: "gtmd.health.test")
        l.logLevel = .critical
        return l
    }()

    /// Options without randomness so the timings are predictable.
    static let steady = HealthMonitorOptions(jitter: 0, spreadStart: false)

    func httpCheck(_ port: Int, _ path: String, _ configure: (inout CheckSpec) -> Void = { _ in }) -> CheckSpec {
        var s = CheckSpec(name: "http", kind: .http, port: port, path: path)
        configure(&s)
        return s
    }

    /// The most probes in flight seen in `samples` looks, `every` apart.
    func mostInFlight(_ m: HealthMonitor, samples: Int, every: Duration) -> Task<Int, Never> {
        Task {
            var most = 0
            for _ in 0..<samples {
                most = max(most, m.probesInFlight)
                try? await Task.sleep(for: every)
            }
            return most
        }
    }

    /// Runs `monitor` for the duration of `body`, then cancels it and checks it stops promptly.
    func running<T: Sendable>(_ monitor: HealthMonitor, _ body: () async throws -> T) async throws -> T {
        let task = Task { try await monitor.run() }
        do {
            let v = try await body()
            task.cancel()
            let stopped = Date()
            try await task.value
            #expect(Date().timeIntervalSince(stopped) < 1)
            return v
        } catch {
            task.cancel()
            _ = try? await task.value
            throw error
        }
    }

    /// Plain HTTP checks of an address run on the probe thread without NIO; the verdict, reason and status are
    /// the NIO prober's for the same check (which still makes HTTPS, host-name and body checks).
    @Test func plainHTTPOnTheProbeThreadMatchesTheProber() async throws {
        let b = try await Backend.shared.value
        let quick = { (path: String, configure: (inout CheckSpec) -> Void) -> CheckSpec in
            self.httpCheck(b.ports.http, path) {
                $0.timeout = .milliseconds(400)
                configure(&$0)
            }
        }
        let cases: [(id: String, spec: CheckSpec)] = [
            ("ok", quick("/ok") { _ in }),
            ("503", quick("/status/503") { _ in }),
            ("302", quick("/status/302") { _ in }),
            ("close", quick("/close") { _ in }),
            ("hang", quick("/hang") { _ in }),
            ("head-404", quick("/status/404") { $0.method = .head }),
            ("list", quick("/status/503") { $0.expectStatus = StatusRanges([200...299, 503...503]) }),
            ("refused", self.httpCheck(b.ports.closed, "/ok") { $0.timeout = .milliseconds(400) }),
        ]
        for c in cases {
            #expect(try ResolvedCheck.resolve(c.spec, address: "127.0.0.1").get().isPlainStatusCheck, "\(c.id)")
        }
        let m = HealthMonitor(
            targets: cases.map { ProbeTarget(id: "h/\($0.id)", address: "127.0.0.1", checks: [$0.spec]) },
            options: Self.steady,
            logger: Self.logger
        )
        let prober = Prober(group: nil)
        try await running(m) {
            let all = await eventually(.seconds(5)) {
                cases.allSatisfy { m.snapshot()["h/\($0.id)"]?.checks[0].lastResult != nil }
            }
            #expect(all, "every check has a result")
            for c in cases {
                let thread = try #require(m.snapshot()["h/\(c.id)"]?.checks[0].lastResult, "\(c.id)")
                let nio = await prober.probe(try ResolvedCheck.resolve(c.spec, address: "127.0.0.1").get())
                #expect(thread.ok == nio.ok, "\(c.id): \(thread.reason) / \(nio.reason)")
                #expect(thread.reason == nio.reason, "\(c.id)")
                #expect(thread.statusCode == nio.statusCode, "\(c.id)")
            }
            let ok = m.snapshot()["h/ok"]?.checks[0].lastResult
            #expect(ok?.ok == true && ok?.reason == "status 200" && ok?.statusCode == 200)
            #expect(m.snapshot()["h/hang"]?.checks[0].lastResult?.reason == "timeout (waiting for response)")
            #expect(m.snapshot()["h/refused"]?.checks[0].lastResult?.reason == "connection refused")
        }
    }

    /// A plain HTTP probe records its verdict at the status line but keeps the connection until the server has
    /// sent the rest: a reset under a server still writing its body would be an error in its log per probe.
    @Test func theProbeThreadLetsTheServerFinishItsResponse() async throws {
        let b = try await Backend.shared.value
        let key = "k\(UInt32.random(in: 0...UInt32.max))"
        let check = httpCheck(b.ports.http, "/late-body/\(key)") { $0.timeout = .seconds(1) }
        let m = HealthMonitor(
            targets: [ProbeTarget(id: "late", address: "127.0.0.1", checks: [check])],
            options: Self.steady,
            logger: Self.logger
        )
        let prober = Prober(group: nil)
        let result = try ResolvedCheck.resolve(httpCheck(b.ports.http, "/late-result/\(key)"), address: "127.0.0.1")
            .get()
        try await running(m) {
            #expect(await eventually(.seconds(3)) { m.snapshot()["late"]?.checks[0].lastResult != nil })
            #expect(m.snapshot()["late"]?.checks[0].lastResult?.reason == "status 200")
            // The backend records its body write 50 ms after the headers: 404 until then.
            var seen = 404
            for _ in 0..<60 where seen == 404 {
                seen = await prober.probe(result).statusCode ?? 0
                if seen == 404 { try await Task.sleep(for: .milliseconds(50)) }
            }
            #expect(seen == 200, "the backend's body write: \(seen) (500: the connection was reset)")
        }
    }

    @Test func firstRoundGivesVerdicts() async throws {
        let b = try await Backend.shared.value
        let m = HealthMonitor(
            targets: [
                ProbeTarget(id: "p/up", address: "127.0.0.1", checks: [httpCheck(b.ports.http, "/ok")]),
                ProbeTarget(id: "p/down", address: "127.0.0.1", checks: [httpCheck(b.ports.http, "/status/503")]),
                ProbeTarget(
                    id: "p/refused",
                    address: "127.0.0.1",
                    checks: [CheckSpec(name: "tcp", kind: .tcp, port: b.ports.closed)]
                ),
            ],
            options: Self.steady,
            logger: Self.logger
        )
        #expect(m.snapshot()["p/up"]?.state == .unknown)
        #expect(m.snapshot()["p/up"]?.isUp == true)  // initial_state defaults to up
        try await running(m) {
            let start = ContinuousClock.now
            let complete = await m.waitForFirstRound()
            #expect(complete)
            // Well inside the 5 s interval (the round does not wait for it); loose for loaded CI machines.
            #expect(ContinuousClock.now - start < .seconds(4))
            let s = m.snapshot()
            #expect(s.firstRoundDone)
            #expect(s["p/up"]?.state == .up && s["p/up"]?.isUp == true)
            #expect(s["p/down"]?.state == .down && s["p/down"]?.isUp == false)
            #expect(s["p/down"]?.downReasons == ["http: status 503"])
            #expect(s["p/refused"]?.checks.first?.lastResult?.reason == "connection refused")
            #expect(s["p/up"]?.checks.first?.lastResult?.latency ?? .zero > .zero)
            #expect(s["p/up"]?.lastChange != nil)
            // A second call returns at once.
            #expect(await m.waitForFirstRound())
        }
    }

    @Test func updateKeepsUnchangedTargetsAndRestartsChangedOnes() async throws {
        let b = try await Backend.shared.value
        let dead = ProbeTarget(
            id: "p/dead",
            address: "127.0.0.1",
            checks: [
                CheckSpec(
                    name: "tcp",
                    kind: .tcp,
                    port: b.ports.closed,
                    timeout: .milliseconds(100),
                    interval: .milliseconds(100)
                )
            ]
        )
        let ok = ProbeTarget(id: "p/ok", address: "127.0.0.1", checks: [httpCheck(b.ports.http, "/ok")])
        let m = HealthMonitor(targets: [dead, ok], options: Self.steady, logger: Self.logger)
        try await running(m) {
            #expect(await m.waitForFirstRound())
            #expect(await eventually(.seconds(3)) { (m.snapshot()["p/dead"]?.checks.first?.probes ?? 0) >= 4 })
            let before = try #require(m.snapshot()["p/dead"])
            #expect(before.state == .down)
            // p/dead unchanged, p/ok changed (another path), p/new added.
            var changed = ok
            changed.checks[0].path = "/status/503"
            let added = ProbeTarget(id: "p/new", address: "127.0.0.1", checks: [httpCheck(b.ports.http, "/ok")])
            let r = m.update(targets: [dead, changed, added])
            #expect(r.kept == 1 && r.started == 2 && r.removed == 0)
            let after = try #require(m.snapshot()["p/dead"])
            #expect(after.state == .down && after.lastChange == before.lastChange)
            #expect(after.checks[0].probes >= before.checks[0].probes, "probe count kept")
            #expect(after.checks[0].consecutiveFailures >= before.checks[0].consecutiveFailures)
            // The changed target starts fresh and gets its own verdict from its new check.
            #expect(
                await eventually(.seconds(3)) {
                    m.snapshot()["p/ok"]?.state == .down && m.snapshot()["p/new"]?.state == .up
                }
            )
            #expect((m.snapshot()["p/ok"]?.checks[0].probes ?? 99) < 3)
            // A kept target that moves in the list goes on being probed and counted (its loop's key still names
            // its old place, where another target is now).
            let moved = m.update(targets: [added, dead])
            #expect(moved.kept == 2 && moved.removed == 1)
            let counted = m.snapshot()["p/dead"]?.checks[0].probes ?? 0
            #expect(await eventually(.seconds(3)) { (m.snapshot()["p/dead"]?.checks[0].probes ?? 0) >= counted + 3 })
            #expect(m.snapshot()["p/dead"]?.lastChange == before.lastChange)
            // Removed targets disappear and are no longer probed.
            #expect(m.update(targets: [dead]).removed == 1)
            #expect(m.snapshot().targets.keys.sorted() == ["p/dead"])
            #expect(m.targets == [dead])
        }
    }

    @Test func targetIsUpOnlyWhenAllChecksAreUp() async throws {
        let b = try await Backend.shared.value
        let m = HealthMonitor(
            targets: [
                ProbeTarget(
                    id: "p/mixed",
                    address: "127.0.0.1",
                    checks: [
                        CheckSpec(name: "tcp", kind: .tcp, port: b.ports.http),
                        httpCheck(b.ports.http, "/status/500") { $0.name = "app" },
                    ]
                )
            ],
            options: Self.steady,
            logger: Self.logger
        )
        try await running(m) {
            await m.waitForFirstRound()
            let t = try #require(m.snapshot()["p/mixed"])
            #expect(t.checks.map(\.state) == [.up, .down])
            #expect(t.state == .down && !t.isUp)
            #expect(t.downReasons == ["app: status 500"])
        }
    }

    @Test func fastIntervalConfirmsADeadTargetQuickly() async throws {
        let b = try await Backend.shared.value
        let key = uniqueKey("fast")
        // interval 1s, fall 3: without fast_interval going down takes >= 2s after the first failure.
        let check = httpCheck(b.ports.http, "/flip/\(key)") {
            $0.interval = .seconds(1)
            $0.fastInterval = .milliseconds(50)
            $0.timeout = .milliseconds(500)
            $0.rise = 2
            $0.fall = 3
        }
        let m = HealthMonitor(
            targets: [ProbeTarget(id: "p/flip", address: "127.0.0.1", checks: [check])],
            options: Self.steady,
            logger: Self.logger
        )
        let changes = m.changes()
        try await running(m) {
            #expect(await m.waitForFirstRound())
            #expect(m.snapshot()["p/flip"]?.state == .up)
            b.set(key, 503)
            let flipped = ContinuousClock.now
            let down = await eventually(.seconds(3)) { m.snapshot()["p/flip"]?.state == .down }
            let took = ContinuousClock.now - flipped
            #expect(down)
            #expect(took < .milliseconds(1600), "down after \(took)")
            let c = try #require(m.snapshot()["p/flip"]?.checks.first)
            #expect(c.consecutiveFailures >= 3 && c.lastResult?.reason == "status 503")

            b.set(key, 200)
            let healed = ContinuousClock.now
            let up = await eventually(.seconds(3)) { m.snapshot()["p/flip"]?.state == .up }
            #expect(up)
            #expect(ContinuousClock.now - healed < .milliseconds(1600))
        }
        // The stream saw every change in order, with reasons and counts, then ended with run().
        var seen: [HealthChange] = []
        for await c in changes { seen.append(c) }
        #expect(seen.map { "\($0.from)->\($0.to)" } == ["unknown->up", "up->down", "down->up"])
        #expect(seen[1].reason == "status 503" && seen[1].failures == 3 && seen[1].fall == 3)
        #expect(seen[1].targetFrom == .up && seen[1].targetTo == .down && !seen[1].targetIsUp)
        #expect(seen[2].reason == "status 200" && seen[2].passes == 2)
    }

    @Test func oneFailureInDoubtDoesNotFlip() async throws {
        let b = try await Backend.shared.value
        let key = uniqueKey("blip")
        let check = httpCheck(b.ports.http, "/flip/\(key)") {
            $0.interval = .milliseconds(300)
            $0.fastInterval = .milliseconds(300)
            $0.timeout = .milliseconds(200)
            $0.fall = 3
        }
        let m = HealthMonitor(
            targets: [ProbeTarget(id: "p/blip", address: "127.0.0.1", checks: [check])],
            options: Self.steady,
            logger: Self.logger
        )
        try await running(m) {
            await m.waitForFirstRound()
            b.set(key, 503)
            let doubt = await eventually(.seconds(2)) { m.snapshot()["p/blip"]?.checks.first?.inDoubt == true }
            #expect(doubt)
            b.set(key, 200)
            let settled = await eventually(.seconds(2)) {
                let c = m.snapshot()["p/blip"]?.checks.first
                return c?.inDoubt == false && c?.consecutivePasses ?? 0 >= 1
            }
            #expect(settled)
            #expect(m.snapshot()["p/blip"]?.state == .up)
        }
    }

    @Test func hangingBackendDelaysNoOtherProbe() async throws {
        let b = try await Backend.shared.value
        let m = HealthMonitor(
            targets: [
                ProbeTarget(
                    id: "p/hang",
                    address: "127.0.0.1",
                    checks: [
                        httpCheck(b.ports.http, "/hang") {
                            $0.timeout = .seconds(2)
                            $0.interval = .seconds(3)
                        }
                    ]
                ),
                ProbeTarget(
                    id: "p/quick",
                    address: "127.0.0.1",
                    checks: [
                        httpCheck(b.ports.http, "/ok") {
                            $0.timeout = .milliseconds(90)
                            $0.interval = .milliseconds(100)
                            $0.fastInterval = .milliseconds(50)
                        }
                    ]
                ),
            ],
            options: Self.steady,
            logger: Self.logger
        )
        try await running(m) {
            let start = ContinuousClock.now
            let enough = await eventually(.milliseconds(1800)) { (m.snapshot()["p/quick"]?.checks[0].probes ?? 0) >= 5 }
            #expect(enough, "quick target probed \(m.snapshot()["p/quick"]?.checks[0].probes ?? 0) times")
            // Meanwhile the hanging probe has not finished yet.
            #expect(m.snapshot()["p/hang"]?.checks[0].probes == 0)
            #expect(ContinuousClock.now - start < .seconds(2))
            let hung = await eventually(.seconds(3)) { m.snapshot()["p/hang"]?.state == .down }
            #expect(hung)
            #expect(m.snapshot()["p/hang"]?.checks[0].lastResult?.reason == "timeout (waiting for response)")
        }
    }

    @Test func firstRoundWaitIsBoundedAndInFlightIsLimited() async throws {
        let b = try await Backend.shared.value
        let hang = { (id: String, initial: Bool) in
            ProbeTarget(
                id: id,
                address: "127.0.0.1",
                checks: [self.httpCheck(b.ports.http, "/hang") { $0.timeout = .milliseconds(400) }],
                initialState: initial
            )
        }
        // Three 400 ms probes, one at a time: the round needs 1.2 s, the wait is bounded by 400 + 250 ms.
        let m = HealthMonitor(
            targets: [hang("h/1", true), hang("h/2", false), hang("h/3", false)],
            options: HealthMonitorOptions(maxInFlight: 1, jitter: 0, spreadStart: false),
            logger: Self.logger
        )
        #expect(m.firstRoundBound == .milliseconds(650))
        try await running(m) {
            let start = ContinuousClock.now
            let sampler = mostInFlight(m, samples: 100, every: .milliseconds(10))
            let complete = await m.waitForFirstRound()
            let took = ContinuousClock.now - start
            #expect(!complete)
            // Not before the bound, and well before the 1.2 s a full round needs (loose: CI may be busy).
            #expect(took >= .milliseconds(600) && took < .milliseconds(1150), "took \(took)")
            let s = m.snapshot()
            #expect(s.firstRoundDone)
            let unknown = s.targets.values.filter { $0.state == .unknown }
            #expect(unknown.count >= 1)
            for t in unknown { #expect(t.isUp == (t.id == "h/1")) }  // counts as its initial_state
            #expect(await sampler.value == 1)
        }
    }

    /// TCP checks of an address are connects on the probe thread itself: every outcome, IPv4 and IPv6, under
    /// the in-flight limit shared with the HTTP checks (which run on NIO).
    @Test func tcpChecksOnTheProbeThread() async throws {
        let b = try await Backend.shared.value
        let tcp = { (id: String, address: String, port: Int) in
            ProbeTarget(
                id: id,
                address: address,
                checks: [
                    CheckSpec(
                        name: "tcp",
                        kind: .tcp,
                        port: port,
                        timeout: .milliseconds(300),
                        interval: .milliseconds(400)
                    )
                ]
            )
        }
        let targets = [
            tcp("t/up", "127.0.0.1", b.ports.http),
            tcp("t/refused", "127.0.0.1", b.ports.closed),
            tcp("t/refused6", "::1", b.ports.closed),
            tcp("t/hang1", "127.0.0.1", b.ports.blackhole),
            tcp("t/hang2", "127.0.0.1", b.ports.blackhole),
            ProbeTarget(id: "t/http", address: "127.0.0.1", checks: [httpCheck(b.ports.http, "/ok")]),
        ]
        let m = HealthMonitor(
            targets: targets,
            options: HealthMonitorOptions(maxInFlight: 2, jitter: 0, spreadStart: false),
            logger: Self.logger
        )
        try await running(m) {
            let sampler = mostInFlight(m, samples: 150, every: .milliseconds(5))
            // Two 300 ms timeouts hold both slots for a while; the round still completes.
            #expect(await eventually(.seconds(5)) { m.snapshot().firstRoundDone })
            #expect(await m.waitForFirstRound())
            let s = m.snapshot()
            #expect(s["t/up"]?.state == .up)
            #expect(s["t/up"]?.checks.first?.lastResult?.reason == "connected")
            #expect(s["t/up"]?.checks.first?.lastResult?.latency ?? .zero > .zero)
            #expect(s["t/refused"]?.checks.first?.lastResult?.reason == "connection refused")
            #expect(s["t/refused6"]?.state == .down)
            for id in ["t/hang1", "t/hang2"] {
                let r = try #require(s[id]?.checks.first?.lastResult)
                #expect(!r.ok && r.reason == "timeout (connect)", "\(id): \(r.reason)")
                #expect(r.latency >= .milliseconds(290) && r.latency < .milliseconds(900), "\(id): \(r.latency)")
            }
            #expect(s["t/http"]?.state == .up)
            // The checks go on at their interval.
            #expect(await eventually(.seconds(5)) { (m.snapshot()["t/up"]?.checks.first?.probes ?? 0) >= 3 })
            let most = await sampler.value
            #expect(most >= 1 && most <= 2, "most in flight \(most)")
        }
        #expect(m.probesInFlight == 0)
    }

    @Test func snapshotUpdatesAreCoalesced() async throws {
        let b = try await Backend.shared.value
        let m = HealthMonitor(
            targets: [
                ProbeTarget(id: "s/a", address: "127.0.0.1", checks: [httpCheck(b.ports.http, "/ok")]),
                ProbeTarget(id: "s/b", address: "127.0.0.1", checks: [httpCheck(b.ports.http, "/status/500")]),
            ],
            options: Self.steady,
            logger: Self.logger
        )
        let updates = m.snapshotUpdates()
        try await running(m) {
            await m.waitForFirstRound()
            try await Task.sleep(for: .milliseconds(50))
        }
        // A slow reader sees the snapshot it got first, then only the newest one.
        var got: [HealthSnapshot] = []
        for await s in updates { got.append(s) }
        #expect(got.count <= 2)
        let last = try #require(got.last)
        #expect(last["s/a"]?.state == .up && last["s/b"]?.state == .down)
        #expect(last.generation > 0)
    }

    @Test func gracefulShutdownThroughServiceGroup() async throws {
        let b = try await Backend.shared.value
        let m = HealthMonitor(
            targets: [ProbeTarget(id: "g/a", address: "127.0.0.1", checks: [httpCheck(b.ports.http, "/ok")])],
            logger: Self.logger
        )
        let group = ServiceGroup(services: [m], logger: Self.logger)
        let task = Task { try await group.run() }
        #expect(await m.waitForFirstRound())
        let start = ContinuousClock.now
        await group.triggerGracefulShutdown()
        try await task.value
        #expect(ContinuousClock.now - start < .seconds(1))
        #expect(m.snapshot()["g/a"]?.state == .up)
    }

    /// `start()` probes before `run()` (the server's first round overlaps the rest of its start); `run()` then
    /// goes on from there (no second first round, no second thread) and its cancellation ends the probing.
    @Test func startProbesBeforeRunAndRunTakesOver() async throws {
        let b = try await Backend.shared.value
        let t = ProbeTarget(
            id: "early/a",
            address: "127.0.0.1",
            checks: [CheckSpec(name: "tcp", kind: .tcp, port: b.ports.http, interval: .milliseconds(200))]
        )
        let m = HealthMonitor(targets: [t], options: Self.steady, logger: Self.logger)
        m.start()
        m.start()
        #expect(await eventually(.seconds(3)) { m.snapshot()["early/a"]?.state == .up })
        #expect(await m.waitForFirstRound(), "the first round ended by its probes, before run()")
        try await running(m) {
            let probes = m.snapshot()["early/a"]?.checks.first?.probes ?? 0
            #expect(
                await eventually(.seconds(3)) { (m.snapshot()["early/a"]?.checks.first?.probes ?? 0) >= probes + 2 }
            )
            #expect(m.isRunning)
            #expect(m.probesInFlight <= 1, "one check: never two of its probes at once")
        }
        #expect(!m.isRunning)
        let after = m.snapshot()["early/a"]?.checks.first?.probes ?? 0
        #expect(
            await eventually(.milliseconds(600)) { (m.snapshot()["early/a"]?.checks.first?.probes ?? 0) > after }
                == false
        )
    }

    @Test func emptyMonitorIsReadyAtOnce() async throws {
        let m = HealthMonitor(targets: [], logger: Self.logger)
        #expect(await m.waitForFirstRound())
        #expect(m.snapshot().targets.isEmpty)
    }

    /// Started without checks (no probe thread yet), a reload that adds one gets it probed.
    @Test func checksAddedToAMonitorStartedWithoutAny() async throws {
        let b = try await Backend.shared.value
        let m = HealthMonitor(targets: [], options: Self.steady, logger: Self.logger)
        try await running(m) {
            #expect(await m.waitForFirstRound())
            // Running, with no probe thread, past its first-round bound (the end of its other task); the check
            // below is then posted to the scheduler, not read at start.
            #expect(await eventually(.seconds(3)) { m.isRunning })
            let stopped = await eventually(m.firstRoundBound * 3) { !m.isRunning }
            #expect(!stopped, "a monitor without checks ended by itself")
            let t = ProbeTarget(
                id: "late/a",
                address: "127.0.0.1",
                checks: [CheckSpec(name: "tcp", kind: .tcp, port: b.ports.http, interval: .milliseconds(400))]
            )
            #expect(m.update(targets: [t]).started == 1)
            #expect(await eventually(.seconds(5)) { (m.snapshot()["late/a"]?.checks.first?.probes ?? 0) >= 2 })
            #expect(m.snapshot()["late/a"]?.state == .up)
            #expect(m.isRunning, "the monitor goes on past its first-round bound")
        }
    }
}
