import Foundation
import TestSupport
import Testing

/// `failback: {mode: ramp}` on the real binary: after the primary comes back, dig batches (one dig process,
/// many queries, each with its own random query ID) count how many answers each pool gets at each step.
@Suite struct DigRamp {
    static func ramp(_ interval: String) -> String {
        "{ mode: ramp, steps: [10%, 50%, 100%], step_interval: \(interval) }"
    }
    var failoverBound: Double { FailoverLab.fall * FailoverLab.interval + FailoverLab.timeout + 0.5 }
    var failbackBound: Double { FailoverLab.rise * FailoverLab.interval + FailoverLab.timeout + 0.5 }

    /// `count` A queries for www in one dig run: how many answers carried each address.
    func batch(_ lab: FailoverLab, _ count: Int) throws -> [String: Int] {
        let file = lab.dir.appendingPathComponent("batch-\(UUID().uuidString).txt").path
        try String(repeating: "www.lab.example A\n", count: count).write(
            toFile: file,
            atomically: true,
            encoding: .utf8
        )
        let r = try run(
            "/usr/bin/dig",
            // Two tries: on a CI machine running every suite at once, one of 400 UDP queries once went
            // unanswered within 2 s (the counts below are what this test is about).
            ["@127.0.0.1", "-p", "\(lab.server.port)", "+tries=2", "+time=2", "+norecurse", "-f", file],
            timeout: 30
        )
        var out: [String: Int] = [:]
        for a in DigResult(raw: r.stdout).answerData { out[a, default: 0] += 1 }
        // Every reply carries one answer. A query dig got no reply to (UDP on a loaded CI machine: one of 400
        // went missing twice in a full run, with two tries of 2 s) is not what this test is about: up to 1 %
        // may be missing, and they are printed.
        // dig once took a packet without QR for a reply: its own query come back (flags `ad` only, ANSWER 0, its
        // client cookie "echoed", the query's 56 bytes), in two full CI runs of about ten. gtmd sets QR on every
        // reply, so it is not one of gtmd's; where it comes from is not known (issue 17's note, session 11). Such
        // packets are not counted as replies and are recorded as a known issue with the packet itself; every
        // real reply must carry its answer.
        let blocks = r.stdout.components(separatedBy: "; <<>> DiG").filter { $0.contains("->>HEADER<<-") }
        let notReplies = blocks.filter { b in
            !b.split(separator: "\n").contains {
                $0.hasPrefix(";; flags:")
                    && $0.dropFirst(9).prefix(while: { $0 != ";" }).split(separator: " ").contains("qr")
            }
        }
        let replies = blocks.count - notReplies.count
        let answered = out.values.reduce(0, +)
        #expect(answered == replies, "\(replies) replies, \(answered) answers\n\(r.stdout.suffix(2000))")
        withKnownIssue("dig took a packet without QR for a reply (issue 17's note, session 11)", isIntermittent: true) {
            #expect(notReplies.isEmpty, "packets without QR:\n\(notReplies.joined(separator: "\n---\n"))")
        }
        #expect(replies >= count - count / 100, "\(replies) replies to \(count) queries\n\(r.stdout.suffix(2000))")
        if replies < count {
            let lost = r.stdout.split(separator: "\n").filter { $0.contains("timed out") || $0.contains("error") }
            print("dig batch: \(count - replies) of \(count) queries had no reply: \(lost.prefix(4))")
        }
        return out
    }

    /// Log lines of the steering loop's ramp steps at `percent`.
    func stepLogged(_ lab: FailoverLab, _ percent: Int) -> Bool {
        lab.server.log.split(separator: "\n").contains {
            $0.contains("failback ramp step") && $0.contains("percent=\(percent)")
        }
    }

    /// The log line of the switch back to the primary (the ramp's last step).
    func switchedBack(_ lab: FailoverLab) -> Bool {
        lab.server.log.split(separator: "\n").contains { $0.contains("failover switch") && $0.contains("to=primary") }
    }

    @Test func trafficReturnsInSteps() throws {
        let lab = try FailoverLab(failback: Self.ramp("4s"))
        let primary = lab.primaries[0]
        let p = primary.address
        let s = lab.standby.address
        primary.kill()
        try lab.waitForAnswer([s], within: failoverBound)
        try primary.start()
        // Step 1: 10% of query IDs. 400 random IDs: 40 expected, sd 6; accept 15...75 (about ±4 sd either side).
        try waitFor("ramp step 1 logged\n\(lab.server.log)", timeout: failbackBound + 1) { stepLogged(lab, 10) }
        let one = try batch(lab, 400)
        #expect(!stepLogged(lab, 50), "the batch must fall inside step 1 (4 s); it ran past it")
        #expect(Set(one.keys).isSubset(of: [p, s]) && (15...75).contains(one[p] ?? 0), "step 1: \(one)")
        // Step 2: 50%: 200 expected, sd 10; accept 150...250.
        try waitFor("ramp step 2 logged\n\(lab.server.log)", timeout: 6) { stepLogged(lab, 50) }
        let two = try batch(lab, 400)
        #expect(!switchedBack(lab), "the batch must fall inside step 2 (4 s); it ran past it")
        #expect(Set(two.keys).isSubset(of: [p, s]) && (150...250).contains(two[p] ?? 0), "step 2: \(two)")
        // Step 3 (100%): the switch; every answer the primary again, at the full TTL.
        try waitFor("the switch back logged\n\(lab.server.log)", timeout: 6) { switchedBack(lab) }
        let three = try batch(lab, 200)
        // Every reply the primary (`batch` holds the replies to at least 99 % of the queries).
        #expect(three.keys.sorted() == [p] && (three[p] ?? 0) >= 200 - 200 / 100, "step 3: \(three)")
        #expect(try lab.answer().answer.first?.contains("\t30\t") == true)
        print(
            "ramp over dig: step 1 \(one[p] ?? 0)/400 primary, step 2 \(two[p] ?? 0)/400, step 3 \(three[p] ?? 0)/200"
        )
    }

    @Test func primaryFailingMidRampGoesStraightBack() throws {
        // Steps of 10 s: the primary's failure (fall 2 × 1 s) is seen well within step 1.
        let lab = try FailoverLab(failback: Self.ramp("10s"))
        let primary = lab.primaries[0]
        let s = lab.standby.address
        primary.kill()
        try lab.waitForAnswer([s], within: failoverBound)
        try primary.start()
        try waitFor("ramp step 1 logged\n\(lab.server.log)", timeout: failbackBound + 1) { stepLogged(lab, 10) }
        primary.kill()
        try waitFor("ramp aborted\n\(lab.server.log)", timeout: failoverBound + 1) {
            lab.server.log.contains("failback ramp aborted")
        }
        let after = try batch(lab, 200)
        // Every reply the standby, within `batch`'s 1 % bound on replies (as step 3 of `trafficReturnsInSteps`):
        // a packet without QR that dig took for a reply (the known issue in `batch`) is not counted.
        #expect(after.keys.sorted() == [s] && (after[s] ?? 0) >= 200 - 200 / 100, "after the abort: \(after)")
        #expect(!stepLogged(lab, 50))
    }
}
