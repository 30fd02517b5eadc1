import Answers
import Config
import DNSWire
import Foundation
import Steering
import TestSupport
import Testing

/// The `keys: auto` roll in the writer, on a controllable clock: the due time wakes the loop, the successor is
/// written into the auto folder, nothing moves while it waits for its DS, `ds-seen` retimes the files, and a
/// fresh load (a restart) resumes where the roll was.
@Suite struct AutoRollCoreTests {
    @Test func rollWritesTheSuccessorWaitsAndResumesFromTheFiles() throws {
        let lab = try SteeringLab()
        let dnssec = "{ keys: auto, key_lifetime: 100d, parent_ds_ttl: 1h, zone_max_ttl: 1h }"
        let prepared = try lab.prepared(dnssec: dnssec, createKeys: true)
        let config = prepared.config
        let stateFile = config.stateFile ?? StateFile.defaultPath(configFile: config.file)
        let folder = DnssecKeys.autoFolder(stateFile: stateFile)
        let core = lab.core(prepared)
        let first = try #require(core.view.prepared.signers.values.first)
        let now0 = Int64(SteeringLab.t0.timeIntervalSince1970)
        guard case .due(let old, let due) = try #require(first.rollStep(at: now0)) else {
            Issue.record("not due: \(String(describing: first.rollStep(at: now0)))")
            return
        }
        core.step(.health(bothUp), at: SteeringLab.t0)
        // The due time is a wake-up.
        #expect(
            core.nextEvaluation.map { $0.timeIntervalSince1970 <= Double(due) } == true,
            "\(String(describing: core.nextEvaluation))"
        )
        let at = Date(timeIntervalSince1970: Double(due))
        core.step(.tick, at: at)
        let signer = try #require(core.view.prepared.signers.values.first)
        guard case .waitingForDS(old, let new, due) = try #require(signer.rollStep(at: due)) else {
            Issue.record("not waiting: \(String(describing: signer.rollStep(at: due)))")
            return
        }
        let files = try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasSuffix(".private") }
        #expect(files.count == 2, "\(files)")
        let successorFile = try #require(files.first { $0.hasSuffix("\(new).private") })
        let mode = try FileManager.default.attributesOfItem(atPath: folder + "/" + successorFile)[.posixPermissions]
        #expect(mode as? Int == 0o600)
        #expect(
            core.events.events.contains {
                $0.kind == .keys && $0.action == "successor" && $0.reason.contains("ds-seen")
            }
        )
        // The old key signs; both are published (the signer's own clock is the real one: ask the schedule); the key-expiry warning has nothing to say.
        #expect(
            signer.schedule.roles(at: due).keySigning.map(\.keyTag) == [old]
                && signer.schedule.roles(at: due).published.count == 2
        )
        #expect(signer.schedule.signingEnds(from: due).isEmpty)
        // Fifty days on, still waiting: no timer moves it, no third key.
        core.step(.tick, at: at + 50 * 86_400)
        #expect(
            try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasSuffix(".private") }.count == 2
        )
        let later = due + 50 * 86_400
        // A restart reads the same step from the files.
        let restarted = DnssecKeys.load(config: config, stateFile: stateFile, createKeys: true, now: later)
        #expect(restarted.problems.isEmpty && restarted.notices.isEmpty, "\(restarted.problems) \(restarted.notices)")
        #expect(
            restarted.signers.values.first?.rollStep(at: later) == .waitingForDS(old: old, successor: new, since: due)
        )
        // ds-seen: refusals first, then the confirmation.
        func refusal(_ zone: String, _ tag: UInt16?) -> String {
            do {
                return try DnssecKeys.dsSeen(
                    config: config,
                    stateFile: stateFile,
                    zone: zone,
                    keyTag: tag,
                    maxTTL: 300,
                    now: later
                )
            } catch { return "\(error)" }
        }
        #expect(refusal("nothere.example", nil).contains("no zone nothere.example"))
        #expect(refusal("lab.example", old).contains("is not the successor waiting for its DS"))
        let done = refusal("lab.example.", new)
        #expect(done.contains("DS of CSK \(new) seen"), "\(done)")
        #expect(refusal("lab.example", nil).contains("no successor waits for its DS"))
        // The decision is in the files: a fresh load switches an hour (parent_ds_ttl) later, then retires.
        let after = DnssecKeys.load(config: config, stateFile: stateFile, createKeys: true, now: later)
        #expect(after.problems.isEmpty, "\(after.problems)")
        let s = try #require(after.signers.values.first)
        #expect(s.rollStep(at: later) == .switching(old: old, successor: new, at: later + 3600))
        #expect(s.rollStep(at: later + 3600) == .retiring(old: old, successor: new, at: later + 7200))
        #expect(s.rollStep(at: later + 7200) == .due(key: new, at: later + 3600 + 100 * 86_400))
        #expect(s.schedule.roles(at: later + 3600).keySigning.map(\.keyTag) == [new])
    }

    /// `POST /v1/dnssec/ds-seen` bodies are read strictly: each refusal names the field and what is wrong.
    @Test(arguments: [
        (#"{"zone": "lab.example"}"#, "ok lab.example -"),
        (#"{"zone": "lab.example", "key_tag": 12345}"#, "ok lab.example 12345"),
        (#"{"zone": "lab.example", "key_tag": null}"#, "ok lab.example -"),
        (#"{"key_tag": 1}"#, "missing field 'zone'"),
        (#"{"zone": "lab.example", "tag": 1}"#, "unknown field 'tag' (allowed: zone, key_tag)"),
        (#"{"zone": "lab.example", "key_tag": "1"}"#, "field 'key_tag' must be a number"),
        (#"{"zone": "lab.example", "key_tag": 70000}"#, "field 'key_tag': 70000 is not a key tag"),
        (#"{"zone": "lab.example", "zone": "x"}"#, "field 'zone' is given twice"),
        ("", "body is empty"),
    ])
    func dsSeenBodies(_ body: String, _ want: String) {
        do {
            let r = try DnssecKeys.decodeDsSeen(json: Array(body.utf8))
            #expect("ok \(r.zone) \(r.keyTag.map(String.init) ?? "-")" == want)
        } catch {
            #expect("\(error)".contains(want), "\(error)")
        }
    }
}
