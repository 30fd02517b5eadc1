import Config
import DNSWire
import Foundation
import Policy
import Testing

/// all: every up member of every available pool.
@Suite struct AllPolicyTests {
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

    @Test func allDownAnswersByWhenAllDown() {
        let s = service {
            $0.policy = .all
            $0.whenAllDown = .servfail
        }
        let down = (primary.members + standby.members).map(\.targetID)
        let views = Policy.views(pools: [primary, standby], health: health(down: down), overrides: OverrideSet())
        let d = Policy.decide(service: s, views: views, overrides: OverrideSet(), state: ServiceState(), now: t0)
        #expect(d.outcome == .servfail && d.degraded && d.ttl == 5)
        #expect(d.switched == nil && d.pool == nil)
    }

    @Test func hasNoKeysOfItsOwn() {
        #expect(AllPolicy.keys.isEmpty)
        #expect(parse(AllPolicy.self, "answers: 2\n").service.answers == 1)
    }
}
