import Foundation
import Synchronization
import TestSupport
import Testing

/// The event history (issue 18) on the real binary: `/v1/events`, its event stream, `gtmd events` (table and
/// `-f`), kept across a restart in the state file.
@Suite struct EventHistory {
    var failoverBound: Double { FailoverLab.fall * FailoverLab.interval + FailoverLab.timeout + 0.5 }

    func events(_ server: GtmdServer, _ query: String = "") throws -> [[String: Any]] {
        let r = try server.control("GET", "/v1/events" + query)
        guard r.status == 200, let json = try JSONSerialization.jsonObject(with: Data(r.body.utf8)) as? [String: Any]
        else { throw TestError.failed("GET /v1/events\(query): \(r.status) \(r.body)") }
        return json["events"] as? [[String: Any]] ?? []
    }

    func isSwitchToStandby(_ e: [String: Any]) -> Bool {
        e["kind"] as? String == "switch" && e["action"] as? String == "switch" && e["from"] as? String == "primary"
            && e["to"] as? String == "standby"
    }

    @Test func aKilledPrimaryGivesHealthAndSwitchEventsLiveAndInTheHistory() throws {
        let lab = try FailoverLab()
        let port = lab.server.controlPort!
        // The stream is open before the failure: the switch must arrive live, not only as history.
        let stream = try HTTPStream("127.0.0.1", port, "/v1/events/stream?service=www.lab.example")
        try stream.waitFor("the stream's history", timeout: 10) { $0.contains("event: server") }
        #expect(stream.text.hasPrefix("HTTP/1.1 200"), "\(stream.text)")
        #expect(stream.text.lowercased().contains("content-type: text/event-stream"), "\(stream.text)")
        lab.primaries[0].kill()
        try lab.waitForAnswer([lab.standby.address], within: failoverBound)
        try stream.waitFor("the switch on the stream", timeout: 5) {
            $0.contains("event: switch") && $0.contains("\"from\":\"primary\",") && $0.contains("\"to\":\"standby\"")
        }
        let list = try events(lab.server, "?service=www.lab.example")
        let health = list.first { $0["kind"] as? String == "health" && $0["action"] as? String == "down" }
        #expect(health?["target"] as? String == "primary/\(lab.primaries[0].address)", "\(list)")
        #expect(health?["pool"] as? String == "primary")
        let sw = try #require(list.first(where: isSwitchToStandby), "\(list)")
        // The TTL caches may still hold is the healthy answer's (30), the new answer's is the degraded one (5).
        #expect(sw["ttl"] as? Int == 30 && sw["ttl_now"] as? Int == 5, "\(sw)")
        let detection = try #require(sw["detection_seconds"] as? Double, "\(sw)")
        #expect(detection > 0 && detection < failoverBound, "\(sw)")
        #expect(sw["service"] as? String == "www.lab.example.")
        // Ordered by seq; the health event comes before the switch it caused.
        let seqs = list.compactMap { $0["seq"] as? Int }
        #expect(seqs == seqs.sorted() && Set(seqs).count == seqs.count)
        #expect((health?["seq"] as? Int ?? .max) < (sw["seq"] as? Int ?? 0))

        // gtmd events: the table names the switch with its detection time and the cache window.
        let r = try lab.gtmd(["events", "--service", "www.lab.example", "--kind", "switch"])
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n")
        #expect(lines.first?.hasPrefix("TIME") == true, "\(r.stdout)")
        let line = lines.first { $0.contains("primary -> standby") }
        #expect(line?.contains("30s->5s") == true, "\(r.stdout)")
        #expect(line?.contains("detected") == true && line?.contains("caches may hold the old answer until") == true)
        #expect(!r.stdout.contains(" health "), "kind filter: \(r.stdout)")
    }

    @Test func strictParametersNameWhatIsWrong() throws {
        let lab = try FailoverLab()
        let cases: [(String, String)] = [
            ("?servce=www.lab.example", "unknown parameter 'servce' (allowed: since, after, service, kind, limit)"),
            (
                "?service=nope.example",
                "service: 'nope.example' is not a configured service (configured: www.lab.example.)"
            ),
            ("?since=yesterday", "since: 'yesterday' is neither an RFC 3339 time"),
            ("?since=-5m", "since: '-5m'"),
            ("?kind=switch,bogus", "kind: 'bogus' is not an event kind"),
            ("?limit=0", "limit: '0' is not a whole number from 1 to 1000"),
            ("?after=x", "after: 'x' is not an event seq"),
        ]
        for (q, message) in cases {
            for path in ["/v1/events", "/v1/events/stream"] {
                let r = try lab.server.control("GET", path + q)
                #expect(r.status == 400 && r.body.contains(message), "\(path)\(q): \(r.status) \(r.body)")
            }
        }
        #expect(try lab.server.control("POST", "/v1/events").status == 405)
        // Good ones.
        #expect(try events(lab.server, "?since=1h&kind=server&limit=5").count == 1)
        #expect(try events(lab.server, "?since=2999-01-01T00:00:00Z").isEmpty)
        let r = try lab.gtmd(["events", "--since", "soon"])
        #expect(r.status == 1 && r.stderr.contains("400: since: 'soon'"), "\(r.stderr)")
    }

    /// A restart keeps the history (state file); a state file written before there was a history still loads.
    @Test func historySurvivesARestartAndOldStateFilesLoad() throws {
        let lab = try FailoverLab()
        lab.primaries[0].kill()
        try lab.waitForAnswer([lab.standby.address], within: failoverBound)
        let state = lab.dir.appendingPathComponent("state.json").path
        try waitFor("the switch saved in the state file", timeout: 5) {
            ((try? String(contentsOfFile: state, encoding: .utf8)) ?? "").contains("\"to\" : \"standby\"")
        }
        #expect(lab.server.stop() == 0)
        let again = try GtmdServer(["--config", lab.config, "--state-file", state])
        defer { again.stop() }
        let list = try events(again)
        #expect(list.contains(where: isSwitchToStandby), "\(list)")
        #expect(list.filter { $0["kind"] as? String == "server" }.count == 2, "\(list)")
        #expect(again.stop() == 0)

        // The state file of an older gtmd: overrides and services, no events.
        let old = """
            {"overrides": [{"scope": "pool", "target": "standby", "action": "down", "setAt": "2026-01-01T00:00:00Z"}],
             "services": {}}
            """
        try old.write(toFile: state, atomically: true, encoding: .utf8)
        let third = try GtmdServer(["--config", lab.config, "--state-file", state])
        defer { third.stop() }
        let fresh = try events(third)
        #expect(fresh.first?["kind"] as? String == "server" && fresh.first?["seq"] as? Int == 1, "\(fresh)")
        #expect(try third.control("GET", "/v1/overrides").body.contains("\"target\" : \"standby\""))
        #expect(!third.log.contains("state file unreadable"), "\(third.log)")
    }

    /// `gtmd events -f` prints the history, then follows: a switch shows up as it happens.
    @Test func eventsFollowPrintsNewEvents() throws {
        let lab = try FailoverLab()
        let p = Process()
        p.executableURL = URL(fileURLWithPath: GtmdServer.binary)
        p.arguments = ["events", "-f", "--control", "127.0.0.1:\(lab.server.controlPort!)", "--kind", "switch,server"]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        let text = Mutex("")
        out.fileHandleForReading.readabilityHandler = { h in
            let d = h.availableData
            text.withLock { $0 += String(decoding: d, as: UTF8.self) }
        }
        try p.run()
        defer {
            if p.isRunning { p.terminate() }
            p.waitUntilExit()
            out.fileHandleForReading.readabilityHandler = nil
        }
        try waitFor("gtmd events -f prints the history", timeout: 10) {
            text.withLock { $0.contains("server   start") }
        }
        lab.primaries[0].kill()
        try waitFor("gtmd events -f prints the switch", timeout: failoverBound + 3) {
            text.withLock { $0.contains("primary -> standby") }
        }
        #expect(p.isRunning, "still following")
        let all = text.withLock { $0 }
        #expect(!all.contains(" health "), "\(all)")
    }
}
