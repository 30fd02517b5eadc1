import Answers
import Foundation
import Policy
import Steering
import TestSupport
import Testing

/// The fleet as one more input of the writer (`SteeringInput.fleet`): its verdicts replace the node's own, its
/// overrides replace the ones in force (validated like the API's, each bad record left out with "key: what is
/// wrong") and are saved to the state file as their cache.
@Suite struct FleetInputTests {
    let t0 = SteeringLab.t0
    static let prefix = "/gtmd/lab/overrides/"

    func stored(_ o: Override) -> (String, Data) { (Self.prefix + OverrideStore.sharedID(o), FleetInput.encode(o)) }

    @Test func fleetVerdictsReplaceTheNodesOwn() throws {
        let lab = try SteeringLab()
        let core = try lab.core()
        core.step(.health(bothUp), at: t0)
        #expect(lab.answer == ["192.0.2.1/30"])
        // This node's probes see the primary down, the fleet does not: no switch.
        let own = snapshot([SteeringLab.primary: false, SteeringLab.standby: true], failingSince: t0)
        core.step(.fleet(FleetInput(mode: "fleet", verdicts: [SteeringLab.primary: true], overrides: [:])), at: t0 + 1)
        #expect(core.step(.health(own), at: t0 + 2) == nil)
        #expect(lab.answer == ["192.0.2.1/30"])
        // The fleet decides down although this node's probes pass.
        core.step(.health(bothUp), at: t0 + 3)
        core.step(.fleet(FleetInput(mode: "fleet", verdicts: [SteeringLab.primary: false], overrides: [:])), at: t0 + 4)
        #expect(lab.answer == ["192.0.2.2/5"])
        // Store lost, on_store_loss local: no fleet verdicts, own probes again.
        core.step(.fleet(FleetInput(mode: "local", verdicts: [:], overrides: [:])), at: t0 + 5)
        #expect(lab.answer == ["192.0.2.1/30"])
        // A verdict for a target this node does not probe is not used.
        core.step(.fleet(FleetInput(mode: "fleet", verdicts: ["other/10.0.0.1": false], overrides: [:])), at: t0 + 6)
        #expect(core.decisions["www.lab.example."]?.pool == "primary")
    }

    @Test func sharedOverridesAreValidatedAppliedAndCached() throws {
        let lab = try SteeringLab()
        let core = try lab.core()
        core.step(.health(bothUp), at: t0)
        let drain = Override(scope: .pool, target: "primary", action: .down, setAt: t0, note: "drill")
        let noPool = Override(scope: .pool, target: "nosuch", action: .down, setAt: t0)
        let (key, value) = stored(drain)
        let overrides: [String: Data] = [
            key: value,
            stored(noPool).0: stored(noPool).1,
            Self.prefix + "pool/garbage": Data("{\"scope\":".utf8),
            Self.prefix + "pool/standby": value,  // the primary's override under the standby's key
        ]
        core.step(.fleet(FleetInput(mode: "fleet", verdicts: [:], overrides: overrides)), at: t0 + 1)
        #expect(lab.answer == ["192.0.2.2/5"])
        #expect(core.overrides.all == [drain])
        #expect(try StateFile.read(lab.stateFile).overrides == [drain], "the state file is the cache")
        #expect(
            core.fleetProblems.sorted() == [
                "/gtmd/lab/overrides/pool/garbage: not an override (not JSON)",
                "/gtmd/lab/overrides/pool/nosuch: no pool 'nosuch' (pools: primary, standby)",
                "/gtmd/lab/overrides/pool/standby: holds the override for 'pool/primary'; it belongs under overrides/pool/primary",
            ],
            "\(core.fleetProblems)"
        )
        #expect(lab.log.matching("error fleet: shared override left out").count == 3, "\(lab.log.all)")
        #expect(lab.log.matching("notice override in force (fleet)", "pool primary down").count == 1)
        // The same input again: nothing new is logged.
        core.step(.fleet(FleetInput(mode: "fleet", verdicts: [:], overrides: overrides)), at: t0 + 2)
        #expect(lab.log.matching("error fleet: shared override left out").count == 3)
        // Cleared in the store: cleared here, and in the cache.
        core.step(.fleet(FleetInput(mode: "fleet", verdicts: [:], overrides: [:])), at: t0 + 3)
        #expect(lab.answer == ["192.0.2.1/30"])
        #expect(core.overrides.all.isEmpty && core.fleetProblems.isEmpty)
        #expect(try StateFile.read(lab.stateFile).overrides.isEmpty)
    }

    /// Store mode changes, shared overrides and shared records left out are events, each only on change.
    @Test func fleetAndStoreChangesAreEvents() throws {
        let lab = try SteeringLab()
        let core = try lab.core()
        core.step(.health(bothUp), at: t0)
        let drain = Override(scope: .pool, target: "primary", action: .down, setAt: t0, note: "drill")
        let (key, value) = stored(drain)
        let bad = Self.prefix + "pool/garbage"
        let overrides: [String: Data] = [key: value, bad: Data("{\"scope\":".utf8)]
        func fleetEvents() -> [String] {
            core.events.events.filter { $0.kind == .fleet || ($0.kind == .override) }.map {
                "\($0.kind.rawValue) \($0.action) \($0.from ?? "-")>\($0.to ?? "-") \($0.reason)"
            }
        }
        core.step(.fleet(FleetInput(mode: "fleet", verdicts: [:], overrides: overrides)), at: t0 + 1)
        core.step(.fleet(FleetInput(mode: "fleet", verdicts: [:], overrides: overrides)), at: t0 + 2)
        core.step(.fleet(FleetInput(mode: "frozen", verdicts: [:], overrides: overrides)), at: t0 + 3)
        core.step(.fleet(FleetInput(mode: "frozen", verdicts: [:], overrides: overrides)), at: t0 + 4)
        core.step(.fleet(FleetInput(mode: "fleet", verdicts: [:], overrides: [:])), at: t0 + 5)
        #expect(
            fleetEvents() == [
                "fleet mode ->fleet fleet mode at start: fleet",
                "override set ->- from the fleet: pool primary down (drill)",
                "fleet left-out ->- \(bad): not an override (not JSON)",
                "fleet mode fleet>frozen fleet store lost: the fleet's last decision is kept",
                "fleet mode frozen>fleet fleet store reachable again: fleet decisions in force",
                "override cleared ->- from the fleet: no longer in the shared store",
                "fleet records-ok ->- no shared record is left out any more",
            ],
            "\(fleetEvents())"
        )
        // The new kinds pass the strict `?kind=` parsing of /v1/events.
        let q = try EventQuery.parse(["kind": "fleet,keys"], services: [], now: t0)
        #expect(q.kinds == [.fleet, .keys])
    }

    /// A node started with the store unreachable and no cache does not know the fleet's overrides: the state
    /// file's stay in force.
    @Test func unknownSharedOverridesKeepTheStateFiles() throws {
        let lab = try SteeringLab()
        let drain = Override(scope: .pool, target: "primary", action: .down, setAt: t0)
        try StateFile.update(lab.stateFile) { $0.overrides = [drain] }
        let core = try lab.core()
        core.step(.fleet(FleetInput(mode: "local", verdicts: [:], overrides: nil)), at: t0)
        core.step(.health(bothUp), at: t0 + 1)
        #expect(lab.answer == ["192.0.2.2/5"])
        #expect(core.overrides.all == [drain])
    }
}
