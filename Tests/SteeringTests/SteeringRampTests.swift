import Answers
import DNSWire
import Foundation
import HealthModel
import Policy
import Steering
import TestSupport
import Testing

/// `failback: {mode: ramp}` through the writer on the controllable clock: the installed table's answers over
/// every query ID at each step, the events and log lines of each step, and the ramp's end when the primary fails.
@Suite struct SteeringRampTests {
    let t0 = SteeringLab.t0
    let ramp = "failback: { mode: ramp, steps: [10%, 50%, 100%], step_interval: 60s }"

    /// How many of the 2000 query IDs 0..<2000 get each (address/TTL) answer from the installed table.
    func mix(_ lab: SteeringLab) -> [String: Int] {
        let table = lab.store.current()
        var out: [String: Int] = [:]
        for id in 0..<2000 {
            let a = (TableQuery.reply(table, "www.lab.example", id: UInt16(id))?.answer ?? []).map {
                "\(LdnsRR.rdataPresentation($0))/\($0.ttl)"
            }
            out[a.joined(separator: " "), default: 0] += 1
        }
        return out
    }

    @Test func answersMoveBackInSteps() throws {
        let lab = try SteeringLab()
        let core = try lab.core(service: ramp)
        core.step(.health(bothUp), at: t0)
        #expect(mix(lab) == ["192.0.2.1/30": 2000])
        core.step(.health(primaryDown), at: t0 + 1)
        #expect(mix(lab) == ["192.0.2.2/5": 2000])
        // The primary is back at t0+10: 10% of query IDs get it, at the degraded TTL; the loop must wake at 70.
        core.step(.health(bothUp), at: t0 + 10)
        #expect(mix(lab) == ["192.0.2.1/5": 200, "192.0.2.2/5": 1800])
        #expect(core.nextEvaluation == t0 + 70)
        core.step(.tick, at: t0 + 69)
        #expect(mix(lab) == ["192.0.2.1/5": 200, "192.0.2.2/5": 1800])
        core.step(.tick, at: t0 + 70)
        #expect(mix(lab) == ["192.0.2.1/5": 1000, "192.0.2.2/5": 1000])
        #expect(core.nextEvaluation == t0 + 130)
        core.step(.tick, at: t0 + 130)
        #expect(mix(lab) == ["192.0.2.1/30": 2000])
        #expect(core.nextEvaluation == nil)
        // One event and one log line per step; the last step is the switch.
        let ramps = core.events.after(0).filter { $0.action == "ramp" }
        #expect(
            ramps.map(\.reason) == [
                "failback ramp step 1 of 3: 10% to primary", "failback ramp step 2 of 3: 50% to primary",
            ]
        )
        #expect(ramps.map(\.at) == [t0 + 10, t0 + 70])
        #expect(lab.log.matching("notice failback ramp step", "step=1/3", "percent=10").count == 1)
        #expect(lab.log.matching("notice failback ramp step", "step=2/3", "percent=50").count == 1)
        let back = core.events.after(0).filter { $0.action == "switch" && $0.to == "primary" }
        #expect(back.count == 1 && back.first?.at == t0 + 130 && back.first?.reason.contains("100%") == true)
        // The ramp is over: nothing of it left in the service state.
        #expect(core.services["www.lab.example."]?.ramp == nil)
    }

    @Test func primaryFailingMidRampGoesStraightBackAndTheStateFileKeepsTheRamp() throws {
        let lab = try SteeringLab()
        let core = try lab.core(service: ramp)
        core.step(.health(bothUp), at: t0)
        core.step(.health(primaryDown), at: t0 + 1)
        core.step(.health(bothUp), at: t0 + 10)
        core.step(.tick, at: t0 + 70)
        #expect(mix(lab) == ["192.0.2.1/5": 1000, "192.0.2.2/5": 1000])
        // The step is saved in the state file: a restart mid-ramp carries on at the same step.
        let saved = try StateFile.read(lab.stateFile)
        #expect(saved.services["www.lab.example."]?.ramp?.step == 1)
        core.step(.health(primaryDown), at: t0 + 80)
        #expect(mix(lab) == ["192.0.2.2/5": 2000])
        #expect(core.events.after(0).filter { $0.action == "ramp-aborted" }.count == 1)
        #expect(lab.log.matching("notice failback ramp aborted").count == 1)
        #expect(core.services["www.lab.example."]?.ramp == nil)
    }
}

/// nearest: a ramp in one client region, the other region's answer untouched, in one answer table (per region,
/// then by query ID within the region).
@Suite struct NearestRampSteeringTests {
    let t0 = SteeringLab.t0

    @Test func oneRegionRampsTheOtherDoesNot() throws {
        let lab = try SteeringLab()
        let core = try lab.nearestCore(service: "failback: { mode: ramp, steps: [25%, 100%], step_interval: 30s }")
        let a = "pa/192.0.2.11"
        let b = "pb/192.0.2.12"
        func mix(_ client: String) -> [String: Int] {
            let table = lab.store.current()
            var out: [String: Int] = [:]
            for id in 0..<400 {
                let r = TableQuery.reply(table, "near.lab.example", id: UInt16(id), from: client)
                let a = (r?.answer ?? []).map { "\(LdnsRR.rdataPresentation($0))/\($0.ttl)" }
                out[a.joined(separator: " "), default: 0] += 1
            }
            return out
        }
        core.step(.health(snapshot([a: true, b: true])), at: t0)
        core.step(.health(snapshot([a: true, b: false])), at: t0 + 1)
        #expect(mix("10.0.0.3") == ["192.0.2.11/5": 400])
        core.step(.health(snapshot([a: true, b: true])), at: t0 + 10)
        // Region-b's clients: 25% back on pb, at the degraded TTL; region-a's: pa only, healthy again.
        #expect(mix("10.0.0.3") == ["192.0.2.12/5": 100, "192.0.2.11/5": 300])
        #expect(mix("10.0.0.2") == ["192.0.2.11/30": 400])
        let ramps = core.events.after(0).filter { $0.action == "ramp" }
        #expect(ramps.count == 1 && ramps.first?.region == "region-b" && ramps.first?.to == "pb")
        #expect(core.nextEvaluation == t0 + 40)
        core.step(.tick, at: t0 + 40)
        #expect(mix("10.0.0.3") == ["192.0.2.12/30": 400])
        #expect(mix("10.0.0.2") == ["192.0.2.11/30": 400])
    }
}

/// `gtmd simulate` shows a failback ramp: each step in the timeline at its interval, then the switch back.
@Suite struct DrillRampTests {
    @Test func theTimelineShowsEachStep() throws {
        let lab = try SteeringLab()
        let prepared = try lab.prepared(
            service: "failback: { mode: ramp, steps: [10%, 50%, 100%], step_interval: 60s }"
        )
        let r = Drill.simulate(
            prepared: prepared,
            steps: [
                .init(at: 0, target: SteeringLab.primary, condition: .down),
                .init(at: 60, target: SteeringLab.primary, condition: .up),
            ],
            duration: 300
        )
        let ramps = r.timeline.filter { $0.kind == "ramp" }
        #expect(ramps.map(\.percent) == [10, 50], "\(r.timeline)")
        #expect(ramps.allSatisfy { $0.from == "standby" && $0.to == "primary" && $0.ttl == 5 })
        let first = try #require(ramps.first?.t)
        // The primary is seen up again after its rise (default check: 2 passes) past 60 s.
        #expect(first > 60 && first < 75, "\(ramps)")
        #expect(ramps.map(\.t) == [first, first + 60])
        let back = r.timeline.filter { $0.kind == "switch" && $0.to == "primary" }
        #expect(back.count == 1 && back.first?.t == first + 120 && back.first?.ttl == 30, "\(r.timeline)")
        let text = Drill.text(r)
        #expect(
            text.contains("ramp    www.lab.example. standby -> primary: failback ramp step 1 of 3: 10% to primary"),
            "\(text)"
        )
        #expect(
            text.contains("ramp    www.lab.example. standby -> primary: failback ramp step 2 of 3: 50% to primary"),
            "\(text)"
        )
    }

    @Test func theTimelineShowsAnAbortedRamp() throws {
        let lab = try SteeringLab()
        let prepared = try lab.prepared(
            service: "failback: { mode: ramp, steps: [10%, 50%, 100%], step_interval: 60s }"
        )
        let r = Drill.simulate(
            prepared: prepared,
            steps: [
                .init(at: 0, target: SteeringLab.primary, condition: .down),
                .init(at: 60, target: SteeringLab.primary, condition: .up),
                .init(at: 100, target: SteeringLab.primary, condition: .down),
            ],
            duration: 300
        )
        let ramps = r.timeline.filter { $0.kind == "ramp" }
        #expect(ramps.map(\.percent) == [10, 0], "\(r.timeline)")
        #expect(r.timeline.filter { $0.kind == "switch" && $0.to == "primary" }.isEmpty)
        #expect(Drill.text(r).contains("standby -> primary: failback ramp to primary aborted"))
    }
}
