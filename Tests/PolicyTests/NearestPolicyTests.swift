import Config
import DNSWire
import Foundation
import Policy
import Testing

/// nearest: failover per client region over that region's pool order.
@Suite struct NearestPolicyTests {
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

/// nearest: a failback ramp runs in each client region on its own.
@Suite struct NearestRampTests {
    @Test func rampPerRegion() throws {
        var s = NearestPolicyTests().nearest()
        s.failbackRamp = FailbackRamp(steps: [25, 100], stepInterval: .seconds(30))
        func step(_ st: ServiceState, down: [String], at t: Double) -> Decision {
            PolicyTests.step(s, st, down: down, at: t)
        }
        var d = step(ServiceState(), down: [], at: 0)
        // The standby (west's first) fails at 10: west on primary; back at 20: west ramps back to it, east untouched.
        d = step(d.state, down: ["standby/198.51.100.1"], at: 10)
        d = step(d.state, down: [], at: 20)
        var per = try #require(d.perRegion)
        #expect(primaryPercent(per[0]) == 100 && per[0].ramp == nil)
        #expect(per[1].ramp?.percent == 25 && per[1].ramp?.to == "standby" && per[1].rampChanged != nil)
        guard case .variants(let vs) = per[1].outcome else {
            Issue.record("\(per[1].reason)")
            return
        }
        #expect(vs.count == 4 && vs.filter { $0.first?.targetID == "standby/198.51.100.1" }.count == 1)
        #expect(per[1].reason.hasPrefix("client region west") && per[1].ttl == 5)
        #expect(d.state.regions?["west"]?.ramp != nil && d.state.regions?["east"]?.ramp == nil)
        #expect(d.nextEvaluation == t0.addingTimeInterval(50))
        d = step(d.state, down: [], at: 50)
        per = try #require(d.perRegion)
        #expect(addresses(per[1]) == ["198.51.100.1"] && per[1].switched?.to == "standby" && per[1].ttl == 30)
        #expect(d.state.regions?["west"]?.ramp == nil)
    }
}

/// nearest's own keys (ecs, max_pools, order, and failover's failback keys) and its cross-section rules.
@Suite struct NearestParsing {
    @Test func keysAreRead() {
        let (s, problems) = parse(
            NearestPolicy.self,
            "ecs: ignore\nmax_pools: 2\norder: { east: [standby, primary] }\nhold_down: 10s\n"
        )
        #expect(problems.isEmpty, "\(problems)")
        #expect(!s.useECS && s.maxPools == 2 && s.explicitOrder == ["east": ["standby", "primary"]])
        #expect(s.holdDown == .seconds(10))
    }

    @Test(arguments: [
        ("ecs: maybe\n", "t.yaml:1: services.www.ecs: 'maybe' is not use or ignore"),
        ("max_pools: 0\n", "t.yaml:1: services.www.max_pools: 0 is out of range 1...64"),
        (
            "order: { east: [elsewhere] }\n",
            "t.yaml:1: services.www.order.east: 'elsewhere' is not one of the service's pools"
        ),
    ])
    func badValuesSayWhereAndWhat(_ yaml: String, _ expected: String) {
        let problems = parse(NearestPolicy.self, yaml).problems
        #expect(problems.count == 1 && problems[0].hasPrefix(expected), "\(problems)")
    }

    @Test func checksNeedRegionsAndPoolRegions() {
        var s = service { $0.policy = .nearest }
        s.explicitOrder = ["mars": ["primary"]]
        let none = NearestPolicy.check(s, PolicyContext(pools: [primary, standby], regions: []))
        #expect(none.map(\.key) == ["order", "policy", "pools", "pools"], "\(none)")
        #expect(none[0].path == "order.mars" && none[1].message.hasPrefix("nearest needs regions"))
        var east = primary
        east.region = "east"
        var west = standby
        west.region = "west"
        s.explicitOrder = ["east": ["primary"]]
        #expect(NearestPolicy.check(s, PolicyContext(pools: [east, west], regions: ["east", "west"])).isEmpty)
    }
}
