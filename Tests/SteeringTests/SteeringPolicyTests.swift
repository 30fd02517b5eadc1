import Answers
import Foundation
import HealthModel
import Policy
import Steering
import TestSupport
import Testing

/// Policy behaviour through the writer, as the binary tests used to check it with backends and dig: manual
/// failback, availability rules and nearest-region answers per client, on a controllable clock with no sockets.
/// The end-to-end dig tests (Tests/IntegrationTests/FailoverTests, NearestTests, LabTests) keep one path each.
@Suite struct SteeringPolicyTests {
    let t0 = SteeringLab.t0

    @Test func manualFailbackHoldsTheStandbyUntilReleased() throws {
        let lab = try SteeringLab()
        let core = try lab.core(service: "failback: manual")
        core.step(.health(bothUp), at: t0)
        core.step(.health(primaryDown), at: t0 + 1)
        #expect(lab.answer == ["192.0.2.2/5"])
        // The primary is healthy again: the service stays on the standby, however long.
        core.step(.health(bothUp), at: t0 + 2)
        for t in [3.0, 60, 3600] {
            core.step(.tick, at: t0 + t)
            #expect(lab.answer == ["192.0.2.2/5"])
        }
        #expect(core.services["www.lab.example."]?.held == true)
        #expect(core.decisions["www.lab.example."]?.reason.contains("held on standby until released") == true)
        #expect(lab.log.matching("notice failover switch", "from=standby").isEmpty)
        // The operator releases it: back at once, one switch logged.
        let release = Override(scope: .service, target: "www.lab.example.", action: .release, setAt: t0 + 3601)
        let g = lab.generation
        #expect(core.step(.override(.set(release)), at: t0 + 3601)?.generation == g + 1)
        #expect(lab.answer == ["192.0.2.1/30"])
        #expect(lab.log.matching("notice failover switch", "from=standby", "to=primary").count == 1)
        #expect(core.services["www.lab.example."]?.held == false)
    }

    @Test func atLeastTwoOfThreeKeepsThePoolWithTheMembersThatAreUp() throws {
        let lab = try SteeringLab()
        let a = "primary/192.0.2.1"
        let b = "primary/192.0.2.3"
        let c = "primary/192.0.2.4"
        let core = try lab.core(primary: "{ checks: [h], rule: 2, members: [192.0.2.1, 192.0.2.3, 192.0.2.4] }")
        func health(_ down: Set<String>) -> HealthSnapshot {
            var up: [String: Bool] = [SteeringLab.standby: true]
            for t in [a, b, c] { up[t] = !down.contains(t) }
            return snapshot(up)
        }
        core.step(.health(health([])), at: t0)
        #expect(lab.answer.sorted() == ["192.0.2.1/30", "192.0.2.3/30", "192.0.2.4/30"])
        // One of three down: still the primary, with the two that are up, at the degraded TTL.
        core.step(.health(health([a])), at: t0 + 1)
        #expect(lab.answer.sorted() == ["192.0.2.3/5", "192.0.2.4/5"])
        #expect(lab.log.matching("notice failover switch").isEmpty)
        // Two of three down: the rule fails, the standby answers.
        core.step(.health(health([a, b])), at: t0 + 2)
        #expect(lab.answer == ["192.0.2.2/5"])
        #expect(lab.log.matching("notice failover switch", "from=primary", "to=standby").count == 1)
        // One comes back: two of three again, failback.
        core.step(.health(health([b])), at: t0 + 3)
        #expect(lab.answer.sorted() == ["192.0.2.1/5", "192.0.2.4/5"])
        #expect(lab.log.matching("notice failover switch", "from=standby", "to=primary").count == 1)
    }

    /// Two regions; clients .2 are region-a's, .3 region-b's. Failing region-b's pool moves only region-b's
    /// clients (to region-a, at the degraded TTL); region-a's clients never move.
    @Test func failingTheNearestRegionMovesOnlyItsClients() throws {
        let lab = try SteeringLab()
        let core = try lab.nearestCore()
        let a = "pa/192.0.2.11"
        let b = "pb/192.0.2.12"
        func near(_ client: String) -> [String] { lab.answer("near.lab.example", from: client) }
        core.step(.health(snapshot([a: true, b: true])), at: t0)
        #expect(near("10.0.0.2") == ["192.0.2.11/30"] && near("10.0.0.3") == ["192.0.2.12/30"])
        core.step(.health(snapshot([a: true, b: false], failingSince: t0 + 1)), at: t0 + 3)
        #expect(near("10.0.0.3") == ["192.0.2.11/5"])
        // Region-a's clients stay on pa; their TTL is the degraded one too, since a pool of their list is down.
        #expect(near("10.0.0.2") == ["192.0.2.11/5"])
        #expect(
            lab.log.matching("notice failover switch", "client region region-b", "from=pb", "to=pa").count == 1,
            "\(lab.log.all)"
        )
        #expect(lab.log.matching("notice failover switch", "client region region-a").isEmpty)
        core.step(.health(snapshot([a: true, b: true])), at: t0 + 10)
        #expect(near("10.0.0.3") == ["192.0.2.12/30"] && near("10.0.0.2") == ["192.0.2.11/30"])
    }
}
