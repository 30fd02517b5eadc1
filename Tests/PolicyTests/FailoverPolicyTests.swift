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
        ("failback: later\n", "t.yaml:1: services.www.failback: 'later' is not auto, manual or {mode: ramp"),
        ("hold_down: 8d\n", "t.yaml:1: services.www.hold_down: "),
        ("min_switch_interval: soon\n", "t.yaml:1: services.www.min_switch_interval: 'soon' is not a duration"),
    ])
    func badValuesSayWhereAndWhat(_ yaml: String, _ expected: String) {
        let problems = parse(FailoverPolicy.self, yaml).problems
        #expect(problems.count == 1 && problems[0].hasPrefix(expected), "\(problems)")
    }
}

/// `failback: {mode: ramp, steps, step_interval}`: good and bad configs.
@Suite struct RampParsing {
    @Test func rampIsRead() {
        let (s, problems) = parse(
            FailoverPolicy.self,
            "failback: {mode: ramp, steps: [10%, 50%, 100%], step_interval: 60s}\nhold_down: 30s\n"
        )
        #expect(problems.isEmpty, "\(problems)")
        #expect(s.failback == .auto && s.holdDown == .seconds(30))
        #expect(s.failbackRamp == FailbackRamp(steps: [10, 50, 100], stepInterval: .seconds(60)))
    }

    @Test(arguments: [
        ("failback: auto\n", FailbackMode.auto), ("failback: {mode: manual}\n", .manual),
        ("failback: {mode: auto}\n", .auto),
    ])
    func plainModesStillWork(_ yaml: String, _ mode: FailbackMode) {
        let (s, problems) = parse(FailoverPolicy.self, yaml)
        #expect(problems.isEmpty && s.failback == mode && s.failbackRamp == nil, "\(problems)")
    }

    @Test(arguments: [
        ("failback: ramp\n", "t.yaml:1: services.www.failback: ramp needs its steps"),
        (
            "failback:\n  mode: ramp\n  steps: [10%, 50%]\n  step_interval: 60s\n",
            "t.yaml:3: services.www.failback.steps: the last step must be 100% (it is 50%)"
        ),
        (
            "failback:\n  mode: ramp\n  steps: [50%, 10%, 100%]\n  step_interval: 60s\n",
            "t.yaml:3: services.www.failback.steps[1]: 10% does not increase on the step before (50%)"
        ),
        (
            "failback:\n  mode: ramp\n  steps: [0%, 100%]\n  step_interval: 60s\n",
            "t.yaml:3: services.www.failback.steps[0]: '0%' is not a percentage from 1% to 100%"
        ),
        (
            "failback:\n  mode: ramp\n  steps: [ten, 100%]\n  step_interval: 60s\n",
            "t.yaml:3: services.www.failback.steps[0]: 'ten' is not a percentage from 1% to 100%"
        ),
        (
            "failback:\n  mode: ramp\n  steps: []\n  step_interval: 60s\n",
            "t.yaml:3: services.www.failback.steps: needs at least one step, ending at 100%"
        ),
        (
            "failback:\n  mode: ramp\n  steps: [10%, 100%]\n",
            "t.yaml:2: services.www.failback.step_interval: missing: mode ramp needs step_interval"
        ),
        (
            "failback:\n  mode: ramp\n  step_interval: 60s\n",
            "t.yaml:2: services.www.failback.steps: missing: mode ramp needs steps"
        ),
        (
            "failback:\n  mode: ramp\n  steps: [10%, 100%]\n  step_interval: 0s\n",
            "t.yaml:4: services.www.failback.step_interval: 0s is out of range 1s...1d"
        ),
        (
            "failback:\n  mode: manual\n  steps: [10%, 100%]\n",
            "t.yaml:3: services.www.failback.steps: only with mode: ramp (mode is manual)"
        ),
        (
            "failback:\n  mode: slowly\n",
            "t.yaml:2: services.www.failback.mode: 'slowly' is not auto, manual or ramp"
        ),
        (
            "failback:\n  steps: [10%, 100%]\n",
            "t.yaml:2: services.www.failback.mode: missing (auto, manual or ramp)"
        ),
        (
            "failback:\n  mode: ramp\n  steps: [10%, 100%]\n  step_interval: 60s\n  jitter: 1s\n",
            "t.yaml:5: services.www.failback.jitter: unknown key"
        ),
    ])
    func badRampsSayWhereAndWhat(_ yaml: String, _ expected: String) {
        let (s, problems) = parse(FailoverPolicy.self, yaml)
        #expect(problems.count == 1 && problems[0].hasPrefix(expected), "\(problems)")
        #expect(s.failbackRamp == nil)
    }
}

/// The share of a decision's answers (over its query-ID variants) that come from the primary pool.
func primaryPercent(_ d: Decision) -> Int {
    switch d.outcome {
    case .members(let m): return m.first?.targetID.hasPrefix("primary/") == true ? 100 : 0
    case .variants(let vs):
        let n = vs.filter { $0.first?.targetID.hasPrefix("primary/") == true }.count
        return n * 100 / max(1, vs.count)
    default: return -1
    }
}

/// Ramps over time: steps, the primary failing mid-ramp, hold-down before the ramp.
@Suite struct RampSequences {
    let allPrimaryDown = ["primary/192.0.2.1", "primary/192.0.2.2", "primary/192.0.2.3"]
    func ramped(_ change: (inout ServiceConfig) -> Void = { _ in }) -> ServiceConfig {
        service { s in
            s.failbackRamp = FailbackRamp(steps: [10, 50, 100], stepInterval: .seconds(60))
            change(&s)
        }
    }

    struct Tick: Sendable, CustomTestStringConvertible {
        var at: Double
        var down: [String] = []
        /// Percent of answers from the primary.
        var percent: Int
        var pool: String
        var ttl: UInt32
        var next: Double?
        var event: String?
        var testDescription: String { "t=\(at)" }
    }

    /// One run: failover at 10, primary back at 20; steps at 20 (10%), 80 (50%), 140 (100% = switch).
    static let ticks: [Tick] = [
        Tick(at: 0, percent: 100, pool: "primary", ttl: 30, next: nil),
        Tick(
            at: 10,
            down: ["primary/192.0.2.1", "primary/192.0.2.2", "primary/192.0.2.3"],
            percent: 0,
            pool: "standby",
            ttl: 5,
            next: nil
        ),
        Tick(at: 20, percent: 10, pool: "standby", ttl: 5, next: 80, event: "step 1 10%"),
        Tick(at: 50, percent: 10, pool: "standby", ttl: 5, next: 80),
        Tick(at: 80, percent: 50, pool: "standby", ttl: 5, next: 140, event: "step 2 50%"),
        Tick(at: 139, percent: 50, pool: "standby", ttl: 5, next: 140),
        Tick(at: 140, percent: 100, pool: "primary", ttl: 30, next: nil, event: "switch"),
        Tick(at: 200, percent: 100, pool: "primary", ttl: 30, next: nil),
    ]

    @Test func stepsOverTime() {
        let s = ramped()
        var state = ServiceState()
        for t in Self.ticks {
            let d = step(s, state, down: t.down, at: t.at)
            state = d.state
            #expect(primaryPercent(d) == t.percent, "t=\(t.at): \(d.reason)")
            #expect(d.pool == t.pool && d.ttl == t.ttl, "t=\(t.at): \(d.reason) / \(d.ttlReason)")
            #expect(d.nextEvaluation == t.next.map { t0.addingTimeInterval($0) }, "t=\(t.at)")
            let event: String? =
                if let c = d.rampChanged {
                    "step \(c.step + 1) \(c.percent)%"
                } else if d.switched?.to == "primary"
                    && d.switched?.from != nil
                { "switch" } else { nil }
            #expect(event == t.event, "t=\(t.at): \(d.reason)")
            #expect((state.ramp != nil) == (t.percent > 0 && t.percent < 100), "t=\(t.at)")
        }
    }

    @Test func primaryFailingMidRampGoesStraightBack() throws {
        let s = ramped()
        var d = step(s, ServiceState(), down: [], at: 0)
        d = step(s, d.state, down: allPrimaryDown, at: 10)
        d = step(s, d.state, down: [], at: 20)
        d = step(s, d.state, down: [], at: 80)
        #expect(primaryPercent(d) == 50)
        // One primary member failing leaves the pool available (rule any): the ramp goes on with the others.
        d = step(s, d.state, down: ["primary/192.0.2.1"], at: 90)
        guard case .variants(let vs) = d.outcome else {
            Issue.record("no variants: \(d.reason)")
            return
        }
        #expect(!vs.contains { $0.contains { $0.targetID == "primary/192.0.2.1" } } && primaryPercent(d) == 50)
        // The whole primary fails: everything back on the standby at once, the ramp aborted.
        d = step(s, d.state, down: allPrimaryDown, at: 100)
        #expect(primaryPercent(d) == 0 && d.pool == "standby" && d.state.ramp == nil && d.switched == nil)
        let aborted = try #require(d.rampChanged)
        #expect(aborted.aborted && aborted.percent == 0 && aborted.to == "primary")
        // Back again: a new ramp from its first step.
        d = step(s, d.state, down: [], at: 110)
        #expect(primaryPercent(d) == 10 && d.nextEvaluation == t0.addingTimeInterval(170))
    }

    @Test func standbyFailingMidRampSwitchesFully() {
        let s = ramped()
        var d = step(s, ServiceState(), down: [], at: 0)
        d = step(s, d.state, down: allPrimaryDown, at: 10)
        d = step(s, d.state, down: [], at: 20)
        d = step(s, d.state, down: ["standby/198.51.100.1"], at: 30)
        #expect(primaryPercent(d) == 100 && d.pool == "primary" && d.state.ramp == nil)
        #expect(d.rampChanged == nil && d.switched?.to == "primary")
    }

    @Test func holdDownAndSwitchIntervalComeFirst() {
        let s = ramped {
            $0.holdDown = .seconds(30)
            $0.minSwitchInterval = .seconds(50)
        }
        var d = step(s, ServiceState(), down: [], at: 0)
        d = step(s, d.state, down: allPrimaryDown, at: 10)
        d = step(s, d.state, down: [], at: 20)  // back at 20: hold-down until 50, switch interval until 60
        #expect(primaryPercent(d) == 0 && d.nextEvaluation == t0.addingTimeInterval(50))
        d = step(s, d.state, down: [], at: 50)
        #expect(primaryPercent(d) == 0 && d.nextEvaluation == t0.addingTimeInterval(60), "\(d.reason)")
        d = step(s, d.state, down: [], at: 60)
        #expect(primaryPercent(d) == 10 && d.nextEvaluation == t0.addingTimeInterval(120), "\(d.reason)")
    }

    @Test func pinDuringRampEndsIt() {
        let s = ramped()
        var d = step(s, ServiceState(), down: [], at: 0)
        d = step(s, d.state, down: allPrimaryDown, at: 10)
        d = step(s, d.state, down: [], at: 20)
        let pin = Override(scope: .service, target: www.description, action: .pin, pool: "standby", setAt: t0)
        d = step(s, d.state, down: [], overrides: [pin], at: 30)
        #expect(primaryPercent(d) == 0 && d.state.ramp == nil && d.rampChanged?.aborted == true)
    }

    @Test func rampStateRoundTripsAndOldStateLoads() throws {
        let s = ramped()
        var d = step(s, ServiceState(), down: [], at: 0)
        d = step(s, d.state, down: allPrimaryDown, at: 10)
        d = step(s, d.state, down: [], at: 20)
        let data = try JSONEncoder().encode(d.state)
        let back = try JSONDecoder().decode(ServiceState.self, from: data)
        #expect(back == d.state && back.ramp?.to == "primary")
        let old = try JSONDecoder().decode(
            ServiceState.self,
            from: Data(#"{"pool":"standby","held":false,"availableSince":{}}"#.utf8)
        )
        #expect(old.ramp == nil && old.pool == "standby")
    }
}
