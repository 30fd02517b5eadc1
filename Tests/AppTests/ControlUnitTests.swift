import App
import Config
import Control
import DNSWire
import Foundation
import HealthModel
import Logging
import Policy
import Steering
import Synchronization
import TestSupport
import Testing

@Suite struct ControlUnits {
    @Test(arguments: [
        ("abc", "abc", true), ("abc", "abd", false), ("abc", "abcd", false), ("", "", true),
        ("abcd", "abc", false), ("x", "", false),
    ])
    func constantTimeCompare(_ a: String, _ b: String, _ equal: Bool) {
        #expect(BearerToken.equal(a, b) == equal)
    }

    @Test func requestParsing() {
        let r = ControlRequest(
            method: "GET",
            uri: "/explain?name=www.lab.example&ecs=10.0.0.0%2F8&x",
            headers: [(name: "Authorization", value: "Bearer  t0k ")]
        )
        #expect(r.path == "/explain")
        #expect(r.query == ["name": "www.lab.example", "ecs": "10.0.0.0/8", "x": ""])
        #expect(r.bearerToken == "t0k")
        #expect(
            ControlRequest(method: "GET", uri: "/", headers: [(name: "authorization", value: "Basic xx")]).bearerToken
                == nil
        )
    }

    @Test(arguments: [
        (["type": "A"], "missing parameter 'name'"),
        (["name": "a..b"], "name 'a..b'"),
        (["name": "x.example", "type": "NOPE"], "type 'NOPE'"),
        (["name": "x.example", "client": "300.1.1.1"], "client '300.1.1.1'"),
        (["name": "x.example", "ecs": "2001:db8::/129"], "prefix must be 0...128"),
        (["name": "x.example", "zone": "y"], "unknown parameter 'zone'"),
    ])
    func explainParameters(_ params: [String: String], _ message: String) {
        do {
            _ = try Explain.parse(params)
            Issue.record("accepted \(params)")
        } catch {
            #expect(error.description.contains(message), "\(error)")
        }
    }

    static func config() throws -> GtmdConfig {
        let yaml = """
            zones:
              - { origin: lab.example., file: ../zones/lab.example.zone }
            pools:
              primary: { members: [192.0.2.1] }
              standby: { members: [192.0.2.2, "2001:db8::2"] }
            services:
              www.lab.example: { pools: [primary, standby], ttl: 30, degraded_ttl: 5 }
            """
        return try ConfigLoader.parse(
            yaml,
            file: "t.yaml",
            baseDirectory: Repo.root.appendingPathComponent("config").path
        ).get()
    }

    @Test func explainAPinnedService() throws {
        let config = try Self.config()
        let now = Date()
        let overrides = OverrideSet([
            Override(
                scope: .service,
                target: "www.lab.example.",
                action: .pin,
                pool: "standby",
                setAt: now,
                note: "drill"
            )
        ])
        let views = Policy.views(pools: config.pools, health: [:], overrides: overrides)
        let d = Policy.decide(
            service: config.services[0],
            views: views,
            overrides: overrides,
            state: ServiceState(),
            now: now
        )
        let q = try Explain.parse(["name": "WWW.lab.example.", "type": "AAAA", "client": "198.51.100.7"])
        let e = Explain.explain(
            q,
            config: config,
            zones: [try DNSName(absolute: "lab.example")],
            health: HealthSnapshot(),
            overrides: overrides,
            decisions: ["www.lab.example.": d],
            now: now
        )
        #expect(e.kind == "service" && e.service == "www.lab.example.")
        #expect(e.answer == ["AAAA 2001:db8::2"])
        #expect(e.reason == "pinned to standby by override")
        #expect(e.overrides == ["service www.lab.example. pin standby (drill)"])
        #expect(e.pools.map(\.name) == ["primary", "standby"] && e.pools.map(\.chosen) == [false, true])
        #expect(e.ttl == 5 && e.ttlReason?.contains("not on the first pool") == true)
        #expect(e.location?.client == "198.51.100.7" && e.location?.rule == "none")
        // Another name in the zone, and a name outside.
        let other = Explain.explain(
            try Explain.parse(["name": "chain.lab.example"]),
            config: config,
            zones: [try DNSName(absolute: "lab.example")],
            health: HealthSnapshot(),
            overrides: overrides,
            decisions: [:],
            now: now
        )
        #expect(other.kind == "zone data")
    }

    @Test func overrideValidationIsSharedAndSaysWhy() throws {
        let config = try Self.config()
        let now = Date()
        func refusal(_ r: OverrideRequest) -> String? {
            do {
                _ = try OverrideStore.make(r, config: config, now: now)
                return nil
            } catch { return error.description }
        }
        #expect(
            refusal(OverrideRequest(scope: "pool", target: "nosuch", action: "down"))?.contains("no pool 'nosuch'")
                == true
        )
        #expect(
            refusal(OverrideRequest(scope: "pool", target: "primary", action: "pin"))?.contains("up or down") == true
        )
        #expect(
            refusal(OverrideRequest(scope: "service", target: "www.lab.example", action: "pin"))?.contains(
                "needs 'pool'"
            ) == true
        )
        #expect(
            refusal(OverrideRequest(scope: "member", target: "primary/192.0.2.9", action: "down"))?.contains(
                "no member"
            ) == true
        )
        #expect(
            refusal(OverrideRequest(scope: "pool", target: "primary", action: "down", for: "soon"))?.contains(
                "not a duration"
            ) == true
        )
        #expect(
            refusal(OverrideRequest(scope: "pool", target: "primary", action: "down", for: "1m", until: now + 60))?
                .contains("not both") == true
        )
        let o = try OverrideStore.make(
            OverrideRequest(
                scope: "service",
                target: "WWW.lab.example",
                action: "pin",
                pool: "standby",
                for: "30m"
            ),
            config: config,
            now: now
        )
        #expect(o.target == "www.lab.example." && o.until == now.addingTimeInterval(1800))
    }
}

/// A handler that waits on its thread (as an override's waits for the steering loop) until `expected` handlers
/// are running at once: 200 when they all got there within `wait`, else 503.
final class Barrier: ControlHandler {
    let expected: Int
    let wait: Duration
    let entered = Atomic<Int>(0)
    init(expected: Int, wait: Duration) {
        self.expected = expected
        self.wait = wait
    }
    func handle(_ request: ControlRequest) -> ControlResponse {
        entered.add(1, ordering: .relaxed)
        let deadline = ContinuousClock.now + wait
        while entered.load(ordering: .relaxed) < expected {
            guard ContinuousClock.now < deadline else { return .text(503, "not all handlers ran at once") }
            usleep(1000)
        }
        return .text(200, "ok")
    }
}

@Suite struct ControlHandlerThreads {
    /// Eight times as many requests at once as the machine has CPUs, each handler waiting on its thread until
    /// all are running: they all run at once, each on a thread of its own from libdispatch's overcommit pool.
    /// On one concurrent queue they were held to its width-limited pool (a thread per CPU, the pool Swift
    /// concurrency's tasks share): the rest waited until libdispatch noticed the blocked threads and added
    /// more, and meanwhile the steering loop's task could not run (on one CPU an override took ~0.9 s;
    /// `bench/override-latency.py --cpus 0`). Sync on purpose: the clients are threads, so a busy concurrency
    /// pool in the test process delays nothing here.
    @Test func handlersThatWaitRunAtOnceOnThreadsOfTheirOwn() throws {
        let n = 8 * ProcessInfo.processInfo.activeProcessorCount + 8
        let server = ControlServer(
            host: "127.0.0.1",
            port: 0,
            handler: Barrier(expected: n, wait: .seconds(3)),
            logger: Logger(label: "test")
        )
        let port = try server.start().port
        defer { server.stop() }
        let statuses = Mutex<[Int]>([])
        let done = DispatchSemaphore(value: 0)
        for _ in 0..<n {
            Thread.detachNewThread {
                let s = (try? httpRequest("127.0.0.1", port, "GET", "/").status) ?? 0
                statuses.withLock { $0.append(s) }
                done.signal()
            }
        }
        for _ in 0..<n { _ = done.wait(timeout: .now() + .seconds(15)) }
        #expect(statuses.withLock { $0 } == Array(repeating: 200, count: n), "\(statuses.withLock { $0 })")
    }
}
