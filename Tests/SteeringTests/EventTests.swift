import Foundation
import Policy
import Steering
import TestSupport
import Testing

/// The event history: what the writer records on a controllable clock, the bounded ring, the query's strict
/// parameters, and the state file round trip.
@Suite struct EventTests {
    let t0 = SteeringLab.t0

    func kinds(_ core: SteeringCore) -> [String] {
        core.events.events.map { "\($0.kind.rawValue) \($0.action)" + ($0.target.map { " \($0)" } ?? "") }
    }

    @Test func theWriterRecordsHealthSwitchesOverridesAndReloads() throws {
        let lab = try SteeringLab()
        let core = try lab.core()
        core.step(.health(bothUp), at: t0)
        core.step(
            .health(snapshot([SteeringLab.primary: false, SteeringLab.standby: true], failingSince: t0 + 7)),
            at: t0 + 10
        )
        let pin = Override(
            scope: .service,
            target: "www.lab.example.",
            action: .pin,
            pool: "primary",
            until: t0 + 60,
            setAt: t0 + 20
        )
        core.step(.override(.set(pin)), at: t0 + 20)
        core.step(.tick, at: t0 + 61)
        core.step(.override(.clear(scope: .service, target: "www.lab.example.")), at: t0 + 70)
        core.step(.reload(try lab.prepared()), at: t0 + 80)
        core.step(.reloadFailed(["gtmd.yaml:3: pools.x: unknown key"]), at: t0 + 90)
        #expect(
            kinds(core) == [
                "server start", "switch answering", "health down \(SteeringLab.primary)", "switch switch",
                "override set www.lab.example.", "switch switch", "override expired www.lab.example.", "switch switch",
                "override cleared www.lab.example.", "reload ok", "reload failed",
            ],
            "\(kinds(core))"
        )
        let sw = core.events.events[3]
        #expect(sw.from == "primary" && sw.to == "standby" && sw.ttl == 30 && sw.ttlNow == 5)
        #expect(sw.detectionSeconds == 3 && sw.at == t0 + 10 && sw.cacheWindowEnd == t0 + 40)
        #expect(core.events.events[2].pool == "primary" && core.events.events[2].from == "up")
        #expect(core.events.events.last?.reason.contains("pools.x: unknown key") == true)
        // Seqs increase by one.
        #expect(core.events.events.map(\.seq) == Array(1...UInt64(core.events.events.count)))

        // Saved with the state file (events alone at most once a second; shutdown flushes them); a new core (a
        // restart) continues the history and its seqs.
        core.flushEvents()
        let again = try lab.core()
        #expect(again.events.events.count == core.events.events.count + 1)
        #expect(again.events.events.last?.kind == .server && again.events.events.last?.seq == UInt64(12))
    }

    @Test func theRingKeepsTheNewest() {
        var log = EventLog(capacity: 3)
        for i in 0..<5 { log.append(GtmdEvent(at: t0 + Double(i), kind: .health, action: "up", reason: "\(i)")) }
        #expect(log.events.map(\.seq) == [3, 4, 5] && log.nextSeq == 6)
        #expect(log.after(4).map(\.seq) == [5] && log.after(nil).count == 3 && log.after(9).isEmpty)
        let restored = EventLog(capacity: 2, restoring: log.events)
        #expect(restored.events.map(\.seq) == [4, 5] && restored.nextSeq == 6)
        // Seqs that could run out (a hand-edited state file) are numbered again instead of trapping.
        var huge = log.events
        huge[2].seq = .max
        let renumbered = EventLog(restoring: huge)
        #expect(renumbered.events.map(\.seq) == [1, 2, 3] && renumbered.nextSeq == 4)
    }

    @Test(arguments: [
        (["since": "90s"], nil as String?),
        (["since": "2026-11-29T16:00:00Z", "service": "www.lab.example"], nil),
        (["since": "2026-11-29T16:00:00.250Z"], nil),
        (["kind": "switch,health", "limit": "1000", "after": "7"], nil),
        (["sinse": "1h"], "unknown parameter 'sinse' (allowed: since, after, service, kind, limit)"),
        (["since": "1 hour"], "since: '1 hour' is neither an RFC 3339 time"),
        (["since": "h"], "since: 'h' is neither"),
        (
            ["service": "other.example"],
            "service: 'other.example' is not a configured service (configured: www.lab.example.)"
        ),
        (
            ["kind": ""],
            "kind: '' is not an event kind (kinds: switch, health, service, override, reload, server, fleet, keys)"
        ),
        (["limit": "1001"], "limit: '1001' is not a whole number from 1 to 1000"),
        (["after": "-1"], "after: '-1' is not an event seq"),
    ])
    func parameters(_ q: [String: String], _ problem: String?) {
        do {
            let parsed = try EventQuery.parse(q, services: ["www.lab.example."], now: t0)
            #expect(problem == nil, "\(q) parsed: \(parsed)")
            if q["since"] == "90s" { #expect(parsed.since == t0 - 90) }
            if q["service"] != nil { #expect(parsed.service == "www.lab.example.") }
        } catch {
            #expect(problem.map { error.description.hasPrefix($0) } == true, "\(q): \(error.description)")
        }
    }

    /// The saved history put before events numbered meanwhile (a start that decodes the history after its first
    /// answers); events numbered before a hand-edited history's end are numbered again after it.
    @Test func aRestoredHistoryGoesBeforeTheNewEvents() {
        var saved = EventLog()
        for i in 0..<4 { saved.append(GtmdEvent(at: t0 + Double(i), kind: .health, action: "up", reason: "\(i)")) }
        var log = EventLog(capacity: 5, nextSeq: saved.nextSeq)
        log.append(GtmdEvent(at: t0 + 10, kind: .server, action: "start", reason: "new"))
        log.append(GtmdEvent(at: t0 + 11, kind: .reload, action: "ok", reason: "new"))
        log.restore(older: saved.events)
        #expect(log.events.map(\.seq) == [2, 3, 4, 5, 6] && log.nextSeq == 7, "\(log.events.map(\.seq))")
        #expect(log.events.map(\.reason) == ["1", "2", "3", "new", "new"])

        var early = EventLog(nextSeq: 2)
        early.append(GtmdEvent(at: t0 + 10, kind: .server, action: "start", reason: "new"))
        early.restore(older: saved.events)
        #expect(early.events.map(\.seq) == [1, 2, 3, 4, 5] && early.events.last?.reason == "new")
        #expect(early.nextSeq == 6)
    }

    /// A server start leaves the saved history undecoded (`deferHistory`) and numbers its events after it; the
    /// history comes in with `restoreHistory` or the first save, and the file says where the seqs go on.
    @Test func aStartDecodesTheHistoryAfterItsFirstAnswers() throws {
        let lab = try SteeringLab()
        let first = try lab.core()
        first.step(.health(bothUp), at: t0)
        first.step(.health(snapshot([SteeringLab.primary: false, SteeringLab.standby: true])), at: t0 + 10)
        first.flushEvents()
        let saved = first.events.events
        let nextSeq = try StateFile.read(lab.stateFile).eventsNextSeq
        #expect(saved.count == 4 && nextSeq == 5)

        func deferred() throws -> SteeringCore {
            SteeringCore(
                prepared: try lab.prepared(),
                store: lab.store,
                stateFile: lab.stateFile,
                deferHistory: true,
                logger: lab.log.logger()
            )
        }
        let core = try deferred()
        #expect(core.historyPending)
        #expect(core.events.events.map(\.seq) == [5] && core.events.events.first?.action == "start")
        core.step(.health(bothUp), at: t0 + 20)
        core.restoreHistory()
        #expect(!core.historyPending)
        // (Times left out: the file keeps whole seconds.)
        func key(_ e: GtmdEvent) -> String { "\(e.seq) \(e.kind) \(e.action) \(e.reason)" }
        #expect(core.events.events.prefix(4).map(key) == saved.map(key), "\(core.events.events)")
        #expect(core.events.events.map(\.seq) == Array(1...6) && core.events.nextSeq == 7)

        // Not restored by hand: the first save takes the history in before it writes.
        core.flushEvents()
        let third = try deferred()
        let down = Override(scope: .pool, target: "standby", action: .down, setAt: t0 + 30)
        third.step(.override(.set(down)), at: t0 + 30)
        let file = try StateFile.read(lab.stateFile)
        #expect(file.events.map(\.seq) == Array(1...8) && file.eventsNextSeq == 9, "\(file.events.map(\.seq))")
        #expect(file.events.prefix(4).map(key) == saved.map(key))

        // A file written before `eventsNextSeq` was kept: its history is decoded at once.
        var old = file
        old.eventsNextSeq = nil
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        try encoder.encode(old).write(to: URL(fileURLWithPath: lab.stateFile))
        let fourth = try deferred()
        #expect(!fourth.historyPending && fourth.events.events.map(\.seq) == Array(1...9))
    }

    /// A history that does not decode (valid JSON, an unknown kind) is reported when it is decoded; the overrides
    /// in the file are in force, and the file is not overwritten (every save reports it instead).
    @Test func anUnreadableHistoryIsReportedAndTheFileKept() throws {
        let lab = try SteeringLab()
        let text = """
            {"eventsNextSeq": 3, "services": {},
             "overrides": [{"scope": "pool", "target": "standby", "action": "down", "setAt": "2026-01-01T00:00:00Z"}],
             "events": [{"seq": 1, "at": "2026-01-01T00:00:00Z", "kind": "weather", "action": "rain", "reason": "x"}]}
            """
        try text.write(toFile: lab.stateFile, atomically: true, encoding: .utf8)
        let core = SteeringCore(
            prepared: try lab.prepared(),
            store: lab.store,
            stateFile: lab.stateFile,
            deferHistory: true,
            logger: lab.log.logger()
        )
        #expect(core.view.overrides.all.map(\.target) == ["standby"])
        core.step(.health(bothUp), at: t0)
        core.restoreHistory()
        #expect(!lab.log.matching("event history unreadable", "weather").isEmpty, "\(lab.log.all)")
        core.flushEvents()
        let after = try String(contentsOfFile: lab.stateFile, encoding: .utf8)
        #expect(after == text)
        #expect(!lab.log.matching("cannot save service state").isEmpty, "\(lab.log.all)")
    }

    @Test func theServiceFilterTakesItsPoolsAndGeneralEvents() {
        let pools = ["a.example.": ["p1", "p2"], "b.example.": ["p3"]]
        let q = EventQuery(service: "a.example.")
        let cases: [(GtmdEvent, Bool)] = [
            (GtmdEvent(at: t0, kind: .switch, action: "switch", service: "a.example.", reason: ""), true),
            (GtmdEvent(at: t0, kind: .switch, action: "switch", service: "b.example.", reason: ""), false),
            (GtmdEvent(at: t0, kind: .health, action: "down", target: "p2/x", pool: "p2", reason: ""), true),
            (GtmdEvent(at: t0, kind: .health, action: "down", target: "p3/x", pool: "p3", reason: ""), false),
            (GtmdEvent(at: t0, kind: .reload, action: "ok", reason: ""), true),
        ]
        for (e, want) in cases { #expect(q.matches(e, pools: pools) == want, "\(e)") }
    }
}

/// `gtmd simulate`'s steps and runs on the steering lab's config (no binary).
@Suite struct DrillTests {
    @Test(arguments: [
        ("0s primary/192.0.2.1 down", nil as String?),
        ("90s standby/192.0.2.2 blackhole", nil),
        (
            "0s primary/192.0.2.9 down",
            "--event: 'primary/192.0.2.9' is not a monitored target (monitored: primary/192.0.2.1, standby/192.0.2.2)"
        ),
        ("soon primary/192.0.2.1 down", "--event: 'soon' is not a time"),
        ("0s primary/192.0.2.1 sideways", "--event: 'sideways' is not a condition (up, down, blackhole)"),
        ("0s primary/192.0.2.1", "--event: '0s primary/192.0.2.1': expected 'TIME POOL/ADDRESS up|down|blackhole'"),
    ])
    func steps(_ text: String, _ problem: String?) {
        do {
            _ = try Drill.parseStep(text, targets: [SteeringLab.primary, SteeringLab.standby], source: "--event")
            #expect(problem == nil)
        } catch {
            #expect(problem.map { error.description.hasPrefix($0) } == true, "\(error.description)")
        }
    }

    @Test func scenarioFilesSayWhichLine() {
        #expect(throws: Drill.DrillError.self) {
            try Drill.parseScenario(
                "# drill\n0s primary/192.0.2.1 down\n\n5x primary/192.0.2.1 up\n",
                file: "d.txt",
                targets: [SteeringLab.primary]
            )
        }
        do {
            _ = try Drill.parseScenario(
                "0s primary/192.0.2.1 down\n5x primary/192.0.2.1 up",
                file: "d.txt",
                targets: [SteeringLab.primary]
            )
        } catch { #expect(error.description.hasPrefix("d.txt:2: '5x' is not a time")) }
    }

    /// failback manual: after the primary recovers the service stays on the standby and waits for an operator;
    /// the checks' rise and fall and the TCP check's default interval shape the switch times.
    @Test func manualFailbackWaitsAndTimesFollowTheChecks() throws {
        let lab = try SteeringLab()
        let prepared = try lab.prepared(service: "failback: manual")
        let r = Drill.simulate(
            prepared: prepared,
            steps: [
                .init(at: 0, target: SteeringLab.primary, condition: .down),
                .init(at: 60, target: SteeringLab.primary, condition: .up),
            ],
            duration: 180
        )
        let switches = r.timeline.filter { $0.kind == "switch" }
        #expect(switches.count == 1, "\(r.timeline)")
        let sw = try #require(switches.first)
        #expect(sw.from == "primary" && sw.to == "standby" && sw.staleTTL == 30 && sw.ttl == 5)
        // The default check: interval 5s, fall 3, the next two probes at the fast interval (1s), each wait ±10%:
        // a switch within one interval plus two fast probes and the coalescing window (100 ms).
        let bound: Double = 7 * 1.1 + 0.2
        let earliest = try #require(sw.earliest)
        let latest = try #require(sw.latest)
        #expect(earliest > 0 && latest <= bound, "\(sw)")
        #expect(latest - earliest > 4, "the range spans the probe phase: \(sw)")
        #expect(sw.clientsBy == latest + 30)
        #expect(r.waiting.count == 1 && r.waiting[0].reason.contains("gtmd override release www.lab.example."))
        #expect(Drill.text(r).contains("waiting for an operator"))
    }
}
