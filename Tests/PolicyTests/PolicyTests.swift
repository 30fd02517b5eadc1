import Config
import DNSWire
import Foundation
import Policy
import Testing

func member(_ pool: String, _ addr: String, weight: Int = 1) -> PoolMember {
    PoolMember(address: IPAddress.parse(addr), cname: nil, weight: weight, checks: [], targetID: "\(pool)/\(addr)")
}

let primary = PoolConfig(
    name: "primary",
    members: [
        member("primary", "192.0.2.1"), member("primary", "192.0.2.2"),
        member("primary", "192.0.2.3"),
    ]
)
let standby = PoolConfig(name: "standby", members: [member("standby", "198.51.100.1")])
let third = PoolConfig(name: "third", members: [member("third", "203.0.113.1")])
let www = try! DNSName("www.lab.example.")

func service(
    _ pools: [String] = ["primary", "standby"],
    _ change: (inout ServiceConfig) -> Void = { _ in }
) -> ServiceConfig {
    var s = ServiceConfig(name: www, pools: pools, ttl: 30, degradedTTL: 5, minTTL: 1, maxTTL: 3600)
    change(&s)
    return s
}

func addresses(_ d: Decision) -> [String] {
    guard case .members(let m) = d.outcome else { return [] }
    return m.map(\.label)
}

/// Health of every member: the listed target ids are down, everything else up.
func health(down: [String]) -> [String: Bool] {
    var h: [String: Bool] = [:]
    for p in [primary, standby, third] { for m in p.members { h[m.targetID] = !down.contains(m.targetID) } }
    return h
}

struct Row: Sendable, CustomTestStringConvertible {
    var label: String
    var rule: AvailabilityRule = .any
    var down: [String] = []
    var overrides: [Override] = []
    var whenAllDown: AllDownBehaviour = .failOpen
    var pool: String?
    var answer: [String]
    var ttl: UInt32
    var servfail = false
    var empty = false
    var testDescription: String { label }
}

let t0 = Date(timeIntervalSince1970: 1_800_000_000)

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
func step(
    _ s: ServiceConfig,
    _ state: ServiceState,
    down: [String],
    overrides: [Override] = [],
    at t: Double
) -> Decision {
    let o = OverrideSet(overrides)
    let views = Policy.views(pools: [primary, standby, third], health: health(down: down), overrides: o)
    return Policy.decide(service: s, views: views, overrides: o, state: state, now: t0.addingTimeInterval(t))
}

/// Sequences over time: failback modes, hold-down, minimum switch interval.
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

@Suite struct OtherPolicies {
    @Test func allReturnsEveryUpMember() {
        let s = service { $0.policy = .all }
        let views = Policy.views(
            pools: [primary, standby],
            health: health(down: ["primary/192.0.2.2"]),
            overrides: OverrideSet()
        )
        let d = Policy.decide(service: s, views: views, overrides: OverrideSet(), state: ServiceState(), now: t0)
        #expect(addresses(d) == ["192.0.2.1", "192.0.2.3", "198.51.100.1"])
    }

    @Test func weightedDistributionFollowsWeights() {
        let members = [
            member("w", "192.0.2.1", weight: 3), member("w", "192.0.2.2", weight: 1),
            member("w", "192.0.2.3", weight: 0),
        ]
        let pool = PoolConfig(name: "w", members: members)
        var s = service(["w"])
        s.policy = .weighted
        let views = Policy.views(pools: [pool], health: [:], overrides: OverrideSet())
        let d = Policy.decide(service: s, views: views, overrides: OverrideSet(), state: ServiceState(), now: t0)
        guard case .variants(let vs) = d.outcome else {
            Issue.record("not variants")
            return
        }
        #expect(vs.count == 4)
        let firsts = vs.map { $0[0].label }
        #expect(firsts.filter { $0 == "192.0.2.1" }.count == 3)
        #expect(firsts.filter { $0 == "192.0.2.2" }.count == 1)
        #expect(!firsts.contains("192.0.2.3"))  // weight 0 gets no traffic
        s.answers = 2
        let d2 = Policy.decide(service: s, views: views, overrides: OverrideSet(), state: ServiceState(), now: t0)
        guard case .variants(let v2) = d2.outcome else { return }
        #expect(v2.allSatisfy { $0.count == 2 && Set($0.map(\.label)).count == 2 })
    }

    @Test(arguments: [("any", AvailabilityRule.any), ("all", .all), ("2", .atLeast(2)), ("50%", .percent(50))])
    func ruleParsing(_ text: String, _ rule: AvailabilityRule) {
        #expect(AvailabilityRule.parse(text) == rule)
    }

    @Test(arguments: [
        (AvailabilityRule.any, 1, 3, true), (.any, 0, 3, false), (.all, 2, 3, false), (.atLeast(2), 2, 3, true),
        (.atLeast(5), 2, 2, true), (.percent(70), 2, 3, false), (.percent(50), 2, 4, true),
    ])
    func ruleEvaluation(_ rule: AvailabilityRule, _ up: Int, _ total: Int, _ available: Bool) {
        #expect(rule.isAvailable(up: up, total: total) == available)
    }
}

/// nearest: failover per client region over that region's pool order.
@Suite struct NearestPolicy {
    func nearest() -> ServiceConfig {
        service(["primary", "standby", "third"]) { s in
            s.policy = .nearest
            s.regionOrder = [
                RegionOrder(region: "east", pools: ["primary", "standby"], basis: "distance"),
                RegionOrder(region: "west", pools: ["standby", "primary"], basis: "distance"),
                RegionOrder(region: "south", pools: ["third"], basis: "explicit order"),
            ]
        }
    }

    func step(_ state: ServiceState, down: [String], overrides: [Override] = [], at t: Double) -> Decision {
        PolicyTests.step(nearest(), state, down: down, overrides: overrides, at: t)
    }

    @Test func eachRegionFailsOverOnItsOwn() throws {
        var d = step(ServiceState(), down: [], at: 0)
        let per = try #require(d.perRegion)
        #expect(per.map(addresses) == [["192.0.2.1", "192.0.2.2", "192.0.2.3"], ["198.51.100.1"], ["203.0.113.1"]])
        #expect(per.map(\.ttl) == [30, 30, 30] && !d.degraded)
        #expect(d.state.regions?.keys.sorted() == ["east", "south", "west"])
        // The standby (west's nearest) fails: west moves to primary, east and south do not change.
        d = step(d.state, down: ["standby/198.51.100.1"], at: 10)
        let after = try #require(d.perRegion)
        #expect(addresses(after[1]) == ["192.0.2.1", "192.0.2.2", "192.0.2.3"] && after[1].ttl == 5)
        #expect(after[1].switched?.from == "standby" && after[1].switched?.to == "primary")
        #expect(after[1].switched?.reason.hasPrefix("client region west") == true)
        #expect(after[0].switched == nil && after[2].switched == nil && addresses(after[2]) == ["203.0.113.1"])
        #expect(d.degraded && d.ttl == 5)
        // South has one pool: when it fails, its when_all_down (fail-open) answers it.
        d = step(d.state, down: ["third/203.0.113.1"], at: 20)
        #expect(addresses(d.perRegion![2]) == ["203.0.113.1"] && d.perRegion![2].reason.contains("all pools down"))
    }

    @Test func pinAppliesToEveryRegionAndStateRoundTrips() throws {
        let pin = Override(scope: .service, target: www.description, action: .pin, pool: "standby", setAt: t0)
        let d = step(ServiceState(), down: [], overrides: [pin], at: 0)
        #expect(d.perRegion!.prefix(2).allSatisfy { addresses($0) == ["198.51.100.1"] })
        // A pin to a pool a region does not use leaves that region alone.
        #expect(addresses(d.perRegion![2]) == ["203.0.113.1"])
        let data = try JSONEncoder().encode(d.state)
        #expect(try JSONDecoder().decode(ServiceState.self, from: data) == d.state)
        // Old state files (no regions key) still load.
        let old = try JSONDecoder().decode(ServiceState.self, from: Data(#"{"held":false,"availableSince":{}}"#.utf8))
        #expect(old.regions == nil)
    }
}
