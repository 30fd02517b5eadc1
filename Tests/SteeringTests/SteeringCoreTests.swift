import Answers
import CMalloc
import Foundation
import Policy
import Steering
import TestSupport
import Testing

/// The writer's step on a controllable clock (every `now` is given): installed answers, TTLs, switch log lines,
/// table generations. No sockets, no binary.
@Suite struct SteeringCoreTests {
    let t0 = SteeringLab.t0

    @Test func failsOverAndBackOnHealthSnapshots() throws {
        let lab = try SteeringLab()
        let core = try lab.core()
        #expect(core.step(.health(bothUp), at: t0)?.generation == 1)
        #expect(lab.answer == ["192.0.2.1/30"])
        #expect(
            lab.log.matching("notice service answering", "pool=primary", "service=www.lab.example.", "ttl=30").count
                == 1
        )
        // The same verdicts again: nothing to publish.
        #expect(core.step(.health(bothUp), at: t0 + 1) == nil)
        #expect(lab.generation == 1)
        // The primary's check has failed since t0 + 7; the snapshot that says so arrives at t0 + 10.
        #expect(
            core.step(
                .health(snapshot([SteeringLab.primary: false, SteeringLab.standby: true], failingSince: t0 + 7)),
                at: t0 + 10
            )?.generation == 2
        )
        #expect(lab.answer == ["192.0.2.2/5"])
        let line = try #require(lab.log.matching("notice failover switch").first)
        #expect(line.contains("from=primary") && line.contains("to=standby") && line.contains("ttl=5"), "\(line)")
        #expect(
            line.contains("table.generation=2") && line.contains("detection=3.000s") && line.contains("stale_ttl=30"),
            "\(line)"
        )
        #expect(core.switches["www.lab.example."] == 1)
        #expect(core.failovers["www.lab.example."]?.detectionSeconds == 3)
        // Back.
        #expect(core.step(.health(bothUp), at: t0 + 20)?.generation == 3)
        #expect(lab.answer == ["192.0.2.1/30"])
        #expect(
            lab.log.matching("notice failover switch", "from=standby", "to=primary", "table.generation=3").count == 1
        )
        #expect(core.switches["www.lab.example."] == 2)
    }

    /// Issue 13: the last probe-caused detection time survives the failback (which no probe failure caused),
    /// and entering / leaving all-down is logged once each (error / notice).
    @Test func detectionIsKeptAfterFailbackAndAllDownIsLogged() throws {
        let lab = try SteeringLab()
        let core = try lab.core()
        core.step(.health(bothUp), at: t0)
        core.step(
            .health(snapshot([SteeringLab.primary: false, SteeringLab.standby: true], failingSince: t0 + 7)),
            at: t0 + 10
        )
        var f = try #require(core.failovers["www.lab.example."])
        #expect(f.detectionSeconds == 3 && f.lastDetectionSeconds == 3 && f.lastDetectionAt == t0 + 10)
        core.step(.health(bothUp), at: t0 + 20)
        f = try #require(core.failovers["www.lab.example."])
        #expect(f.from == "standby" && f.at == t0 + 20 && f.detectionSeconds == nil, "the failback is the last switch")
        #expect(f.lastDetectionSeconds == 3 && f.lastDetectionAt == t0 + 10, "the failover's detection is kept")
        #expect(core.allDown.isEmpty && lab.log.matching("all pools down").isEmpty)
        // Every pool down: logged at error once, not again while it lasts; back at notice.
        let allDown = snapshot([SteeringLab.primary: false, SteeringLab.standby: false], failingSince: t0 + 25)
        core.step(.health(allDown), at: t0 + 30)
        #expect(core.allDown == ["www.lab.example."])
        #expect(core.decisions["www.lab.example."]?.allPoolsDown == true)
        core.step(.tick, at: t0 + 31)
        #expect(lab.log.matching("error all pools down", "service=www.lab.example.").count == 1, "\(lab.log.all)")
        core.step(.health(bothUp), at: t0 + 40)
        #expect(core.allDown.isEmpty)
        #expect(
            lab.log.matching("notice a pool is available again", "service=www.lab.example.", "pool=primary").count == 1,
            "\(lab.log.all)"
        )
    }

    @Test func nothingIsInstalledBeforeTheFirstSnapshot() throws {
        let lab = try SteeringLab()
        let core = try lab.core()
        let o = Override(scope: .pool, target: "primary", action: .down, setAt: t0)
        #expect(core.step(.override(.set(o)), at: t0) == nil)
        #expect(core.step(.reload(try lab.prepared(ttl: 60)), at: t0) == nil)
        #expect(lab.generation == 0 && lab.answer.isEmpty)
        // The first snapshot publishes everything waiting: the override and the reloaded TTLs.
        #expect(core.step(.health(bothUp), at: t0 + 1)?.generation == 1)
        #expect(lab.answer == ["192.0.2.2/5"])
    }

    /// Each compile's graph is compacted once its first table is in force: at start-up when the loop says so
    /// (`deferCompaction`), afterwards at the install; answers and switches are the same after it.
    @Test func compiledZonesAreCompactedAfterTheirFirstTable() throws {
        let lab = try SteeringLab()
        let core = try lab.core()
        core.deferCompaction = true
        core.step(.health(bothUp), at: t0)
        #expect(core.compactionPending && lab.answer == ["192.0.2.1/30"])
        core.compactIfPending()
        #expect(!core.compactionPending && !core.deferCompaction)
        core.step(.health(primaryDown), at: t0 + 10)
        #expect(lab.answer == ["192.0.2.2/5"])
        core.step(.reload(try lab.prepared(ttl: 60)), at: t0 + 20)
        #expect(!core.compactionPending, "a reload's compile is compacted at its install")
        core.step(.health(bothUp), at: t0 + 30)
        #expect(lab.answer == ["192.0.2.1/60"])
    }

    /// The read-only pages of loaded code released (`gtmd_release_loaded_pages`, what the compaction does once
    /// start-up settles) come back when they run again: this process goes on calling into the Swift runtime,
    /// Foundation and the C library through their relocated tables (left alone: they hold private copies),
    /// compiles a zone and answers from it.
    @Test func releasedCodePagesComeBackWhenTheyRun() throws {
        #expect(gtmd_release_loaded_pages() > 0)
        let lab = try SteeringLab()
        let core = try lab.core()
        core.step(.health(bothUp), at: t0)
        #expect(lab.answer == ["192.0.2.1/30"])
        #expect(String(format: "%05.1f", 2.5) == "002.5")
        #expect(gtmd_release_loaded_pages() > 0)
        core.step(.health(primaryDown), at: t0 + 10)
        #expect(lab.answer == ["192.0.2.2/5"])
    }

    /// A reload with the same keys keeps the zone's signer and its cache: nothing is signed again.
    @Test func reloadWithTheSameKeysSignsNothingAgain() throws {
        let lab = try SteeringLab()
        let made = try run("/bin/sh", ["-c", "cd '\(lab.dir.path)' && ldns-keygen -a ECDSAP256SHA256 -k lab.example"])
        #expect(made.status == 0, "\(made.stderr)")
        let key = lab.dir.appendingPathComponent(made.stdout.trimmingCharacters(in: .whitespacesAndNewlines)).path
        let core = SteeringCore(
            prepared: try lab.prepared(dnssec: "{ keys: [\(key)] }"),
            store: lab.store,
            stateFile: lab.stateFile,
            logger: lab.log.logger()
        )
        core.step(.health(bothUp), at: t0)
        let signer = try #require(core.view.prepared.signers.values.first)
        let signed = signer.counts.signed
        #expect(signed > 0)
        core.step(.reload(try lab.prepared(ttl: 30, dnssec: "{ keys: [\(key)] }")), at: t0 + 1)
        #expect(core.view.prepared.signers.values.first === signer)
        #expect(signer.counts.signed == signed, "a reload with the same keys signed again")
        // Other parameters: a new signer.
        core.step(.reload(try lab.prepared(dnssec: "{ keys: [\(key)], signature_validity: 10d }")), at: t0 + 2)
        #expect(core.view.prepared.signers.values.first !== signer)
    }

    /// `keys: auto` making a key at start is a `keys generated` event with the DS; signatures renewed on the
    /// timer are `keys renewed`, with the zone.
    @Test func keyGenerationAndRenewalAreEvents() throws {
        let lab = try SteeringLab()
        let prepared = try lab.prepared(dnssec: "{ keys: auto }", createKeys: true)
        let core = lab.core(prepared)
        let made = core.events.events.filter { $0.kind == .keys }
        #expect(made.map(\.action) == ["generated"] && made.first?.service == "lab.example.", "\(made)")
        #expect(made.first?.reason.contains("give the parent this DS: lab.example.") == true, "\(made)")
        // A second start finds the key: nothing generated.
        let again = lab.core(try lab.prepared(dnssec: "{ keys: auto }", createKeys: true))
        #expect(!again.events.events.contains { $0.kind == .keys && $0.action == "generated" })
        core.step(.health(bothUp), at: t0)
        let later = t0 + 30 * 86_400
        core.step(.tick, at: later)
        let renewed = core.events.events.filter { $0.kind == .keys && $0.action == "renewed" }
        #expect(!renewed.isEmpty && renewed.allSatisfy { $0.service == "lab.example." }, "\(core.events.events)")
    }

    @Test func holdDownEndsOnATickAtTheDueTime() throws {
        let lab = try SteeringLab()
        let core = try lab.core(service: "hold_down: 30s")
        core.step(.health(bothUp), at: t0)
        core.step(.health(primaryDown), at: t0 + 1)
        #expect(lab.answer == ["192.0.2.2/5"])
        // The primary is back at t0 + 10 but must stay available 30 s before the service fails back.
        core.step(.health(bothUp), at: t0 + 10)
        #expect(lab.answer == ["192.0.2.2/5"])
        #expect(core.nextEvaluation == t0 + 40)
        let generation = lab.generation
        #expect(core.tick(now: t0 + 39.9) == false)
        #expect(core.publishIfDirty(now: t0 + 39.9) == nil && lab.generation == generation)
        #expect(core.tick(now: t0 + 40))
        #expect(core.publishIfDirty(now: t0 + 40)?.generation == generation + 1)
        #expect(lab.answer == ["192.0.2.1/30"])
        #expect(lab.log.matching("notice failover switch", "from=standby", "to=primary").count == 1)
    }

    @Test func minSwitchIntervalDelaysTheFailback() throws {
        let lab = try SteeringLab()
        let core = try lab.core(service: "min_switch_interval: 60s")
        core.step(.health(bothUp), at: t0)
        core.step(.health(primaryDown), at: t0 + 1)
        core.step(.health(bothUp), at: t0 + 2)
        #expect(lab.answer == ["192.0.2.2/5"])
        let due = try #require(core.nextEvaluation)
        #expect(due > t0 + 2 && due <= t0 + 61)
        #expect(core.tick(now: due))
        core.publishIfDirty(now: due)
        #expect(lab.answer == ["192.0.2.1/30"])
    }

    @Test func anOverrideAppliesAtOnceIsSavedAndExpiresOnATick() throws {
        let lab = try SteeringLab()
        let core = try lab.core()
        core.step(.health(bothUp), at: t0)
        let o = Override(scope: .pool, target: "primary", action: .down, until: t0 + 60, setAt: t0, note: "drill")
        #expect(core.step(.override(.set(o)), at: t0 + 1)?.generation == 2)
        #expect(lab.answer == ["192.0.2.2/5"])
        #expect(lab.log.matching("notice failover switch", "from=primary", "to=standby", "forced down").count == 1)
        #expect(core.persist(.set(o)) == nil)
        #expect(try StateFile.read(lab.stateFile).overrides == [o])
        #expect(core.nextEvaluation == t0 + 60)
        #expect(core.tick(now: t0 + 59) == false)
        #expect(core.tick(now: t0 + 60))
        core.publishIfDirty(now: t0 + 60)
        #expect(lab.answer == ["192.0.2.1/30"])
        // A new core on the same state file starts with the override (expired ones are kept until cleared).
        let again = try lab.core()
        #expect(again.overrides.all == [o])
    }

    @Test func clearCountsAndPersists() throws {
        let lab = try SteeringLab()
        let core = try lab.core()
        core.step(.health(bothUp), at: t0)
        let pin = Override(scope: .service, target: "www.lab.example.", action: .pin, pool: "standby", setAt: t0)
        core.step(.override(.set(pin)), at: t0)
        _ = core.persist(.set(pin))
        #expect(lab.answer == ["192.0.2.2/5"])
        let out = core.apply(.override(.clear(scope: .service, target: "www.lab.example.")), now: t0 + 1)
        #expect(out.cleared == 1)
        core.publishIfDirty(now: t0 + 1)
        _ = core.persist(.clear(scope: .service, target: "www.lab.example."))
        #expect(lab.answer == ["192.0.2.1/30"])
        #expect(try StateFile.read(lab.stateFile).overrides.isEmpty)
    }

    @Test func anOfflineEditOfTheStateFileIsTakenInOnATick() throws {
        let lab = try SteeringLab()
        let core = try lab.core()
        core.step(.health(bothUp), at: t0)
        #expect(core.tick(now: t0 + 1) == false)
        try OverrideStore.set(
            Override(scope: .pool, target: "primary", action: .down, setAt: t0),
            stateFile: lab.stateFile
        )
        #expect(core.tick(now: t0 + 2))
        core.publishIfDirty(now: t0 + 2)
        #expect(lab.answer == ["192.0.2.2/5"])
        #expect(lab.log.matching("notice override in force", "pool primary down").count == 1)
        // The core's own writes (service state) are not mistaken for offline edits.
        #expect(core.tick(now: t0 + 3) == false)
    }

    /// The core's save reuses what it last wrote while the file is unchanged; an offline edit in between (no
    /// tick yet) is read, kept in the file and taken in.
    @Test func aSaveRightAfterAnOfflineEditKeepsIt() throws {
        let lab = try SteeringLab()
        let core = try lab.core()
        core.step(.health(bothUp), at: t0)
        let pin = Override(scope: .service, target: "www.lab.example.", action: .pin, pool: "standby", setAt: t0)
        core.step(.override(.set(pin)), at: t0)
        #expect(core.persist(.set(pin)) == nil)
        try OverrideStore.set(
            Override(scope: .pool, target: "primary", action: .down, setAt: t0),
            stateFile: lab.stateFile
        )
        core.step(.override(.clear(scope: .service, target: "www.lab.example.")), at: t0 + 1)
        #expect(core.persist(.clear(scope: .service, target: "www.lab.example.")) == nil)
        let saved = try StateFile.read(lab.stateFile).overrides
        #expect(saved.map(\.summary) == ["pool primary down"])
        core.publishIfDirty(now: t0 + 1)
        #expect(lab.answer == ["192.0.2.2/5"])  // the offline pool override is in force
        // Taken in by the save as by a look at the file: logged and recorded, not silently.
        #expect(lab.log.matching("notice override in force", "pool primary down").count == 1, "\(lab.log.all)")
        #expect(core.events.events.filter { $0.action == "set-offline" }.count == 1)
        #expect(core.tick(now: t0 + 2) == false)
    }

    @Test func aReloadIsInstalledWholeAndKeepsOverridesAndServiceState() throws {
        let lab = try SteeringLab()
        let core = try lab.core(service: "failback: manual")
        core.step(.health(bothUp), at: t0)
        core.step(.health(primaryDown), at: t0 + 1)
        core.step(.health(bothUp), at: t0 + 2)
        #expect(lab.answer == ["192.0.2.2/5"])  // held on the standby: failback manual
        let g = lab.generation
        #expect(
            core.step(.reload(try lab.prepared(service: "failback: manual", ttl: 60, degradedTTL: 7)), at: t0 + 3)?
                .generation == g + 1
        )
        #expect(lab.answer == ["192.0.2.2/7"])  // still held, new TTLs
        #expect(core.services["www.lab.example."]?.held == true)
        #expect(try StateFile.read(lab.stateFile).services["www.lab.example."]?.pool == "standby")
    }

    @Test func generationsOnlyIncrease() throws {
        let lab = try SteeringLab()
        let core = try lab.core()
        var last: UInt64 = 0
        for i in 0..<50 {
            let input: SteeringInput =
                i % 3 == 0 ? .reload(try lab.prepared(ttl: 30 + i)) : .health(i % 2 == 0 ? bothUp : primaryDown)
            if let t = core.step(input, at: t0 + Double(i)) {
                #expect(t.generation == last + 1)
                last = t.generation
            }
            #expect(lab.generation == last)
        }
        #expect(last >= 25)
    }
}
