import Config
import DNSWire
import Foundation
import Policy
import Testing

/// weighted: one variant per unit of weight, `answers` members each.
@Suite struct WeightedPolicyTests {
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

    @Test func answersIsRead() {
        #expect(parse(WeightedPolicy.self, "answers: 3\n").service.answers == 3)
        let problems = parse(WeightedPolicy.self, "answers: 65\n").problems
        #expect(problems == ["t.yaml:1: services.www.answers: 65 is out of range 1...64"], "\(problems)")
    }
}
