import Config
import DNSWire
import Foundation
import Policy
import Testing

@Suite struct FailoverTable {
    static let rows: [Row] = [
        Row(
            label: "all healthy: primary, full TTL",
            pool: "primary",
            answer: ["192.0.2.1", "192.0.2.2", "192.0.2.3"],
            ttl: 30
        ),
        Row(
            label: "one primary member down: the up ones, degraded TTL",
            down: ["primary/192.0.2.2"],
            pool: "primary",
            answer: ["192.0.2.1", "192.0.2.3"],
            ttl: 5
        ),
        Row(
            label: "rule at least 2 of 3, one down: still primary",
            rule: .atLeast(2),
            down: ["primary/192.0.2.1"],
            pool: "primary",
            answer: ["192.0.2.2", "192.0.2.3"],
            ttl: 5
        ),
        Row(
            label: "rule at least 2 of 3, two down: standby",
            rule: .atLeast(2),
            down: ["primary/192.0.2.1", "primary/192.0.2.2"],
            pool: "standby",
            answer: ["198.51.100.1"],
            ttl: 5
        ),
        Row(
            label: "rule all, one down: standby",
            rule: .all,
            down: ["primary/192.0.2.3"],
            pool: "standby",
            answer: ["198.51.100.1"],
            ttl: 5
        ),
        Row(
            label: "rule 70%, one of three down: standby",
            rule: .percent(70),
            down: ["primary/192.0.2.3"],
            pool: "standby",
            answer: ["198.51.100.1"],
            ttl: 5
        ),
        Row(
            label: "rule 50%, one of three down: primary",
            rule: .percent(50),
            down: ["primary/192.0.2.3"],
            pool: "primary",
            answer: ["192.0.2.1", "192.0.2.2"],
            ttl: 5
        ),
        Row(
            label: "primary all down: standby",
            down: ["primary/192.0.2.1", "primary/192.0.2.2", "primary/192.0.2.3"],
            pool: "standby",
            answer: ["198.51.100.1"],
            ttl: 5
        ),
        Row(
            label: "everything down, fail-open: first pool",
            down: ["primary/192.0.2.1", "primary/192.0.2.2", "primary/192.0.2.3", "standby/198.51.100.1"],
            pool: nil,
            answer: ["192.0.2.1", "192.0.2.2", "192.0.2.3"],
            ttl: 5
        ),
        Row(
            label: "everything down, all: every member",
            down: ["primary/192.0.2.1", "primary/192.0.2.2", "primary/192.0.2.3", "standby/198.51.100.1"],
            whenAllDown: .all,
            pool: nil,
            answer: ["192.0.2.1", "192.0.2.2", "192.0.2.3", "198.51.100.1"],
            ttl: 5
        ),
        Row(
            label: "everything down, empty",
            down: ["primary/192.0.2.1", "primary/192.0.2.2", "primary/192.0.2.3", "standby/198.51.100.1"],
            whenAllDown: .empty,
            pool: nil,
            answer: [],
            ttl: 5,
            empty: true
        ),
        Row(
            label: "everything down, servfail",
            down: ["primary/192.0.2.1", "primary/192.0.2.2", "primary/192.0.2.3", "standby/198.51.100.1"],
            whenAllDown: .servfail,
            pool: nil,
            answer: [],
            ttl: 5,
            servfail: true
        ),
        Row(
            label: "member forced down by override",
            overrides: [Override(scope: .member, target: "primary/192.0.2.1", action: .down, setAt: t0)],
            pool: "primary",
            answer: ["192.0.2.2", "192.0.2.3"],
            ttl: 5
        ),
        Row(
            label: "member forced up beats failing health",
            down: ["standby/198.51.100.1", "primary/192.0.2.1", "primary/192.0.2.2", "primary/192.0.2.3"],
            overrides: [Override(scope: .member, target: "standby/198.51.100.1", action: .up, setAt: t0)],
            pool: "standby",
            answer: ["198.51.100.1"],
            ttl: 5
        ),
        Row(
            label: "pool drained: standby",
            overrides: [Override(scope: .pool, target: "primary", action: .down, setAt: t0)],
            pool: "standby",
            answer: ["198.51.100.1"],
            ttl: 5
        ),
        Row(
            label: "pinned to standby while healthy",
            overrides: [
                Override(scope: .service, target: "www.lab.example.", action: .pin, pool: "standby", setAt: t0)
            ],
            pool: "standby",
            answer: ["198.51.100.1"],
            ttl: 5
        ),
        Row(
            label: "expired override is ignored",
            overrides: [
                Override(
                    scope: .pool,
                    target: "primary",
                    action: .down,
                    until: t0.addingTimeInterval(-1),
                    setAt: t0.addingTimeInterval(-60)
                )
            ],
            pool: "primary",
            answer: ["192.0.2.1", "192.0.2.2", "192.0.2.3"],
            ttl: 30
        ),
    ]

    @Test(arguments: rows)
    func decide(_ r: Row) {
        var p = primary
        p.rule = r.rule
        let s = service { $0.whenAllDown = r.whenAllDown }
        let overrides = OverrideSet(r.overrides).active(at: t0)
        let views = Policy.views(pools: [p, standby], health: health(down: r.down), overrides: overrides)
        let d = Policy.decide(service: s, views: views, overrides: overrides, state: ServiceState(), now: t0)
        #expect(d.pool == r.pool, "\(d.reason)")
        #expect(addresses(d) == r.answer, "\(d.reason)")
        #expect(d.ttl == r.ttl, "\(d.ttlReason)")
        #expect((d.outcome == .servfail) == r.servfail)
        #expect((d.outcome == .empty) == r.empty)
    }
}

/// One policy decision for `s` at `t0 + t` with the listed targets down.
@Suite struct FailbackSequences {
    let allPrimaryDown = ["primary/192.0.2.1", "primary/192.0.2.2", "primary/192.0.2.3"]

    @Test func autoFailbackImmediately() {
        let s = service()
        var d = step(s, ServiceState(), down: [], at: 0)
        #expect(d.pool == "primary" && d.switched?.from == nil)
        d = step(s, d.state, down: allPrimaryDown, at: 10)
        #expect(d.pool == "standby" && d.switched?.from == "primary" && d.switched?.to == "standby")
        d = step(s, d.state, down: [], at: 20)
        #expect(d.pool == "primary" && d.switched?.to == "primary")
        #expect(d.ttl == 30)
    }

    @Test func manualFailbackWaitsForRelease() {
        let s = service { $0.failback = .manual }
        var d = step(s, ServiceState(), down: [], at: 0)
        d = step(s, d.state, down: allPrimaryDown, at: 10)
        #expect(d.pool == "standby" && d.state.held)
        d = step(s, d.state, down: [], at: 20)
        #expect(d.pool == "standby", "\(d.reason)")
        #expect(d.reason.contains("held"))
        #expect(d.ttl == 5)
        // A release set before the failover does not count.
        let stale = Override(
            scope: .service,
            target: "www.lab.example.",
            action: .release,
            setAt: t0.addingTimeInterval(5)
        )
        d = step(s, d.state, down: [], overrides: [stale], at: 25)
        #expect(d.pool == "standby")
        let release = Override(
            scope: .service,
            target: "www.lab.example.",
            action: .release,
            setAt: t0.addingTimeInterval(30)
        )
        d = step(s, d.state, down: [], overrides: [release], at: 31)
        #expect(d.pool == "primary" && !d.state.held)
    }

    @Test func manualHeldStandbyFailingGoesBackToPrimary() {
        let s = service { $0.failback = .manual }
        var d = step(s, ServiceState(), down: [], at: 0)
        d = step(s, d.state, down: allPrimaryDown, at: 10)
        d = step(s, d.state, down: ["standby/198.51.100.1"], at: 20)
        #expect(d.pool == "primary")
    }

    @Test func holdDownDelaysFailback() {
        let s = service { $0.holdDown = .seconds(30) }
        var d = step(s, ServiceState(), down: [], at: 0)
        d = step(s, d.state, down: allPrimaryDown, at: 10)
        #expect(d.pool == "standby")
        d = step(s, d.state, down: [], at: 20)  // primary back at t=20
        #expect(d.pool == "standby" && d.nextEvaluation == t0.addingTimeInterval(50))
        d = step(s, d.state, down: allPrimaryDown, at: 30)  // flaps down again: clock resets
        d = step(s, d.state, down: [], at: 40)
        #expect(d.pool == "standby" && d.nextEvaluation == t0.addingTimeInterval(70))
        d = step(s, d.state, down: [], at: 69)
        #expect(d.pool == "standby")
        d = step(s, d.state, down: [], at: 70)
        #expect(d.pool == "primary")
    }

    @Test func minSwitchIntervalDelaysFailbackButNotFailover() {
        let s = service { $0.minSwitchInterval = .seconds(60) }
        var d = step(s, ServiceState(), down: [], at: 0)
        d = step(s, d.state, down: allPrimaryDown, at: 10)
        #expect(d.pool == "standby")
        d = step(s, d.state, down: [], at: 20)
        #expect(d.pool == "standby" && d.nextEvaluation == t0.addingTimeInterval(70))
        // Failing over away from a dead pool is never delayed.
        d = step(s, d.state, down: ["standby/198.51.100.1"], at: 30)
        #expect(d.pool == "primary")
    }

    @Test func threeTiersTakeTheFirstAvailable() {
        let s = service(["primary", "standby", "third"])
        var d = step(s, ServiceState(), down: allPrimaryDown + ["standby/198.51.100.1"], at: 0)
        #expect(d.pool == "third")
        d = step(s, d.state, down: allPrimaryDown, at: 10)
        #expect(d.pool == "standby")
    }

    @Test func ttlClampedToBounds() {
        let s = service { $0.minTTL = 10 }
        let d = step(s, ServiceState(), down: allPrimaryDown, at: 0)
        #expect(d.ttl == 10)
    }
}

/// failover's own keys: failback, hold_down, min_switch_interval.
@Suite struct FailoverParsing {
    @Test func keysAreRead() {
        let (s, problems) = parse(FailoverPolicy.self, "failback: manual\nhold_down: 2m\nmin_switch_interval: 30s\n")
        #expect(problems.isEmpty, "\(problems)")
        #expect(s.failback == .manual && s.holdDown == .seconds(120) && s.minSwitchInterval == .seconds(30))
    }

    @Test(arguments: [
        ("failback: later\n", "t.yaml:1: services.www.failback: 'later' is not auto or manual"),
        ("hold_down: 8d\n", "t.yaml:1: services.www.hold_down: "),
        ("min_switch_interval: soon\n", "t.yaml:1: services.www.min_switch_interval: 'soon' is not a duration"),
    ])
    func badValuesSayWhereAndWhat(_ yaml: String, _ expected: String) {
        let problems = parse(FailoverPolicy.self, yaml).problems
        #expect(problems.count == 1 && problems[0].hasPrefix(expected), "\(problems)")
    }
}
