import Answers
import Config
import ConfigText
import DNSWire
import FoundationEssentials
import HealthModel
import Logging
import Policy

/// `gtmd simulate`: a failure rehearsed on the real config with nothing touched. The scripted conditions replace
/// the probes; the real `HealthTracker` (rise, fall), the steering core (policy, hold-down, minimum switch
/// interval, manual failback, TTLs, the event history) and the table build run on a simulated clock, at the
/// configured intervals, fast intervals, timeouts and coalescing window.
/// Invariant: nothing outside a temporary folder is read or written but the config and its zones.
public enum Drill {
    /// What a target does from a time on: `up` (probes pass), `down` (refused at once: a stopped service),
    /// `blackhole` (no reply: each probe fails after its check's timeout).
    public enum Condition: String, Codable, Sendable, CaseIterable { case up, down, blackhole }

    public struct Step: Codable, Sendable, Hashable {
        /// Seconds after the start of the drill.
        public var at: Double
        public var target: String
        public var condition: Condition
        public init(at: Double, target: String, condition: Condition) {
            self.at = at
            self.target = target
            self.condition = condition
        }
    }

    public struct DrillError: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    /// `90s primary/127.0.0.11 down`: a time (a duration from the start), a monitored target (`pool/address`), a
    /// condition. `source`: where the text came from, for the error (`--event`, `drill.txt:3`).
    public static func parseStep(_ text: String, targets: [String], source: String) throws(DrillError) -> Step {
        let parts = text.split(whereSeparator: \.isWhitespace).map(String.init)
        let form = "expected 'TIME POOL/ADDRESS up|down|blackhole', e.g. '90s primary/127.0.0.11 down'"
        guard parts.count == 3 else { throw DrillError(description: "\(source): '\(text)': \(form)") }
        guard let d = parseDuration(parts[0]) else {
            throw DrillError(description: "\(source): '\(parts[0])' is not a time (examples: 0s, 90s, 2m, 1.5h)")
        }
        guard targets.contains(parts[1]) else {
            let list =
                targets.isEmpty ? "the config has no checked members" : "monitored: \(targets.joined(separator: ", "))"
            throw DrillError(description: "\(source): '\(parts[1])' is not a monitored target (\(list))")
        }
        guard let c = Condition(rawValue: parts[2]) else {
            throw DrillError(description: "\(source): '\(parts[2])' is not a condition (up, down, blackhole)")
        }
        return Step(at: seconds(d), target: parts[1], condition: c)
    }

    /// A scenario file: one step per line; blank lines and `#` comments are skipped.
    public static func parseScenario(_ text: String, file: String, targets: [String]) throws(DrillError) -> [Step] {
        var out: [Step] = []
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            if line.allSatisfy(\.isWhitespace) { continue }
            out.append(try parseStep(String(line), targets: targets, source: "\(file):\(i + 1)"))
        }
        return out
    }

    /// One line of the timeline.
    public struct Entry: Codable, Sendable, Hashable {
        /// Seconds after the start of the drill.
        public var t: Double
        /// `step` (scripted), `health`, `answer` (a service's or region's answer or TTL changed), `switch`, `ramp`
        /// (a failback ramp step: `percent` of the answers from `to`; 0 when the ramp was aborted).
        public var kind: String
        public var service: String?
        public var region: String?
        public var target: String?
        public var pool: String?
        public var from: String?
        public var to: String?
        public var answer: [String]?
        public var ttl: UInt32?
        public var reason: String
        /// switch: the earliest and latest time over the probe phases and jitter swept.
        public var earliest: Double?
        public var latest: Double?
        /// switch: seconds since the scripted step that caused it.
        public var sinceStep: Double?
        /// switch: the old answer's TTL (caches may hold it that long after the switch) and the time by which
        /// every client has the new answer at the latest (`latest + staleTTL`).
        public var staleTTL: UInt32?
        public var clientsBy: Double?
        /// ramp: the share of answers from `to` in this step (0: aborted, everything back on `from`).
        public var percent: Int? = nil
    }

    public struct Report: Codable, Sendable {
        public var config: String
        public var duration: Double
        public var steps: [Step]
        /// What each service answers at the start, per client region.
        public var initial: [Entry]
        public var timeline: [Entry]
        /// Services held on a standby by `failback: manual` at the end: they wait for an operator.
        public var waiting: [Entry]
        public var phases: Int
        public var jitter: Double
    }

    /// Runs the drill once at the middle probe phase (the timeline), and again over probe phases across the
    /// interval and the monitor's jitter (the earliest and latest time of each switch).
    public static func simulate(prepared: Prepared, steps: [Step], duration: Double, jitter: Double = 0.1) -> Report {
        let main = run(prepared: prepared, steps: steps, duration: duration, phase: 0.5, stretch: 1)
        let phases = [0.0, 0.25, 0.5, 0.75, 0.999]
        var sweeps: [[Entry]] = []
        for p in phases {
            for s in [1 - jitter, 1, 1 + jitter] {
                sweeps.append(run(prepared: prepared, steps: steps, duration: duration, phase: p, stretch: s).timeline)
            }
        }
        func key(_ e: Entry) -> String { "\(e.service ?? "")|\(e.region ?? "")|\(e.from ?? "")|\(e.to ?? "")" }
        var timeline = main.timeline
        var seen: [String: Int] = [:]
        for i in timeline.indices where timeline[i].kind == "switch" {
            let k = key(timeline[i])
            let n = seen[k, default: 0]
            seen[k] = n + 1
            let times = sweeps.compactMap { s in s.filter { $0.kind == "switch" && key($0) == k }.dropFirst(n).first?.t
            }
            timeline[i].earliest = times.min()
            timeline[i].latest = times.max()
            if let last = timeline[i].latest, let ttl = timeline[i].staleTTL {
                timeline[i].clientsBy = last + Double(ttl)
            }
        }
        return Report(
            config: prepared.config.file,
            duration: duration,
            steps: steps,
            initial: main.initial,
            timeline: timeline,
            waiting: main.waiting,
            phases: phases.count,
            jitter: jitter
        )
    }

    struct Run {
        var initial: [Entry] = []
        var timeline: [Entry] = []
        var waiting: [Entry] = []
    }

    /// One check's probes: its tracker and schedule.
    struct CheckSim {
        var spec: CheckSpec
        var tracker: HealthTracker
        var nextStart: Double
        var completion: Double? = nil
        var pendingPass = true
        var pendingReason = "passed (simulated)"
        var lastReason: String? = nil
        var failingSince: Double? = nil
        var lastChange: Double? = nil
        var probes = 0
    }

    /// One run: probes start at `phase` × interval into the warm-up, every wait is scaled by `stretch`.
    static func run(prepared: Prepared, steps: [Step], duration: Double, phase: Double, stretch: Double) -> Run {
        let config = prepared.config
        let targets = config.probeTargets()
        let t0 = Date(timeIntervalSince1970: 2_000_000_000)
        // Long enough before 0 for every check to settle: a full rise and fall at the slowest interval.
        let warm =
            (targets.flatMap(\.checks).map {
                seconds($0.interval) * Double($0.rise + $0.fall + 2) + seconds($0.timeout)
            }
            .max() ?? 0) + 1
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gtmd-drill-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var logger = Logger(label: "gtmd.drill")
        logger.logLevel = .critical
        let core = SteeringCore(
            prepared: prepared,
            store: AnswerStore(AnswerTable.empty()),
            stateFile: dir.appendingPathComponent("state.json").path,
            logger: logger
        )
        core.eventSaveInterval = .seconds(86_400)
        var checks: [[CheckSim]] = targets.map { t in
            t.checks.map { c in
                CheckSim(
                    spec: c,
                    tracker: HealthTracker(rise: c.rise, fall: c.fall),
                    nextStart: -warm + phase * seconds(c.interval)
                )
            }
        }
        var lastChange: [Double?] = Array(repeating: nil, count: targets.count)
        var state: [HealthState] = Array(repeating: .unknown, count: targets.count)
        let sorted = steps.sorted { $0.at < $1.at }
        func condition(_ id: String, at t: Double) -> Condition {
            sorted.last { $0.target == id && $0.at <= t }?.condition ?? .up
        }
        func snapshot() -> HealthSnapshot {
            var out: [String: TargetHealth] = [:]
            for (i, t) in targets.enumerated() {
                out[t.id] = TargetHealth(
                    id: t.id,
                    address: t.address,
                    state: state[i],
                    isUp: state[i] == .unknown ? t.initialState : state[i] == .up,
                    lastChange: lastChange[i].map { t0 + $0 },
                    checks: checks[i].map { c in
                        CheckHealth(
                            name: c.spec.name,
                            kind: c.spec.kind,
                            endpoint: t.address,
                            state: c.tracker.state,
                            lastResult: c.lastReason.map { ProbeResult(ok: c.pendingPass, reason: $0, latency: .zero) },
                            lastProbe: nil,
                            consecutivePasses: c.tracker.consecutivePasses,
                            consecutiveFailures: c.tracker.consecutiveFailures,
                            rise: c.spec.rise,
                            fall: c.spec.fall,
                            lastChange: c.lastChange.map { t0 + $0 },
                            probes: c.probes,
                            inDoubt: c.tracker.inDoubt,
                            failingSince: c.failingSince.map { t0 + $0 }
                        )
                    }
                )
            }
            return HealthSnapshot(targets: out, generation: 0, firstRoundDone: true)
        }
        let window = seconds(config.health.coalesceWindow)
        var firstRoundDone = targets.isEmpty
        var pendingPublish: Double? = targets.isEmpty ? -warm : nil
        var out = Run()
        var answers: [String: Entry] = [:]
        var eventsSeen = core.events.nextSeq - 1
        var t = -warm
        var guardSteps = 0
        // Record what changed in a publish: health events and switches from the core's history, answers by diff.
        func publish(at now: Double) {
            guard core.publishIfDirty(now: t0 + now) != nil else { return }
            for e in core.events.after(eventsSeen) where now >= 0 || e.kind == .switch {
                eventsSeen = e.seq
                let et = (e.at.timeIntervalSince(t0) * 1000).rounded() / 1000
                guard et >= 0 else { continue }
                switch e.kind {
                case .health:
                    out.timeline.append(
                        Entry(
                            t: et,
                            kind: "health",
                            target: e.target,
                            pool: e.pool,
                            from: e.from,
                            to: e.to,
                            reason: e.reason
                        )
                    )
                case .switch where e.action == "switch":
                    let cause = sorted.last { $0.at <= et }
                    out.timeline.append(
                        Entry(
                            t: et,
                            kind: "switch",
                            service: e.service,
                            region: e.region,
                            from: e.from,
                            to: e.to,
                            ttl: e.ttlNow,
                            reason: e.reason,
                            sinceStep: cause.map { et - $0.at },
                            staleTTL: e.ttl
                        )
                    )
                case .switch where e.action == "ramp" || e.action == "ramp-aborted":
                    var entry = Entry(
                        t: et,
                        kind: "ramp",
                        service: e.service,
                        region: e.region,
                        from: e.from,
                        to: e.to,
                        ttl: e.ttlNow,
                        reason: e.reason
                    )
                    if e.action == "ramp-aborted" {
                        entry.percent = 0
                    } else {
                        entry.percent =
                            core.decisions[e.service ?? ""].flatMap { d in
                                (d.perRegion ?? [d]).compactMap(\.ramp).first { $0.from == e.from && $0.to == e.to }
                            }?.percent
                    }
                    out.timeline.append(entry)
                default: break
                }
            }
            eventsSeen = core.events.nextSeq - 1
            for s in config.services {
                let key = s.name.description
                guard let d = core.decisions[key] else { continue }
                let per: [(String?, Decision)] =
                    d.perRegion.map { p in
                        p.enumerated().map { i, r in (i < s.regionOrder.count ? s.regionOrder[i].region : nil, r) }
                    } ?? [(nil, d)]
                for (region, r) in per {
                    let (answer, rcode) = Explain.answerText(r)
                    let e = Entry(
                        t: (max(0, now) * 1000).rounded() / 1000,
                        kind: "answer",
                        service: key,
                        region: region,
                        pool: r.pool,
                        answer: rcode == "NOERROR" ? answer : [rcode] + answer,
                        ttl: r.ttl,
                        reason: r.reason
                    )
                    let k = key + "|" + (region ?? "")
                    if let old = answers[k], old.answer == e.answer, old.ttl == e.ttl, old.pool == e.pool { continue }
                    answers[k] = e
                    if now >= 0 { out.timeline.append(e) }
                }
            }
        }
        for s in sorted {
            out.timeline.append(
                Entry(t: s.at, kind: "step", target: s.target, reason: "scripted: \(s.target) \(s.condition.rawValue)")
            )
        }
        var initialTaken = false
        // The policy timer last handled (a due time is handled once).
        var timerHandled = -Double.infinity
        while t <= duration, guardSteps < 10_000_000 {
            guardSteps += 1
            // The next thing to happen: a probe start or completion, a publish, a policy timer.
            var next = Double.infinity
            for row in checks { for c in row { next = min(next, c.completion ?? c.nextStart) } }
            if let p = pendingPublish { next = min(next, p) }
            if let n = core.nextEvaluation?.timeIntervalSince(t0), firstRoundDone, n > timerHandled {
                next = min(next, max(n, t))
            }
            if !initialTaken { next = min(next, 0) }
            guard next.isFinite, next <= duration else { break }
            t = next
            if !initialTaken, t >= 0 {
                initialTaken = true
                out.initial = answers.values.sorted {
                    ($0.service ?? "", $0.region ?? "") < ($1.service ?? "", $1.region ?? "")
                }
                .map { e in
                    var e = e
                    e.t = 0
                    return e
                }
            }
            var changed = false
            for i in checks.indices {
                for j in checks[i].indices {
                    var c = checks[i][j]
                    if let done = c.completion, done <= t {
                        c.completion = nil
                        c.probes += 1
                        c.lastReason = c.pendingReason
                        if c.pendingPass {
                            c.failingSince = nil
                        } else if c.failingSince == nil {
                            c.failingSince = done
                        }
                        if c.tracker.record(pass: c.pendingPass) != nil {
                            c.lastChange = done
                            changed = true
                        }
                        let wait = seconds(c.tracker.inDoubt ? c.spec.effectiveFastInterval : c.spec.interval) * stretch
                        c.nextStart = max(c.nextStart + wait, done)
                    } else if c.completion == nil, c.nextStart <= t {
                        let cond = condition(targets[i].id, at: c.nextStart)
                        c.pendingPass = cond == .up
                        c.pendingReason =
                            cond == .up
                            ? "passed (simulated)"
                            : cond == .down ? "connection refused (simulated)" : "timeout (simulated)"
                        c.completion = c.nextStart + (cond == .blackhole ? seconds(c.spec.timeout) : 0.001)
                    }
                    checks[i][j] = c
                }
            }
            if changed {
                for i in targets.indices {
                    let s = combinedState(checks[i].map(\.tracker.state))
                    if s != state[i] {
                        state[i] = s
                        lastChange[i] = t
                    }
                }
                _ = core.apply(.health(snapshot()), now: t0 + t)
            }
            if !firstRoundDone, checks.allSatisfy({ $0.allSatisfy { $0.probes > 0 } }) {
                firstRoundDone = true
                _ = core.apply(.health(snapshot()), now: t0 + t)
                publish(at: t)
            } else if firstRoundDone, core.dirty, pendingPublish == nil {
                pendingPublish = window > 0 ? t + window : t
            }
            if let p = pendingPublish, p <= t {
                pendingPublish = nil
                publish(at: t)
            }
            if firstRoundDone, let n = core.nextEvaluation?.timeIntervalSince(t0), n > timerHandled, t >= n {
                timerHandled = n
                if core.tick(now: t0 + t) { publish(at: t) }
            }
        }
        for s in config.services {
            let key = s.name.description
            guard let d = core.decisions[key] else { continue }
            let per =
                d.perRegion.map { p in
                    p.enumerated().map { i, r in (i < s.regionOrder.count ? s.regionOrder[i].region : nil, r) }
                } ?? [(nil, d)]
            for (region, r) in per where r.state.held {
                out.waiting.append(
                    Entry(
                        t: duration,
                        kind: "waiting",
                        service: key,
                        region: region,
                        pool: r.pool,
                        reason: "\(r.reason): waiting for an operator (gtmd override release \(key))"
                    )
                )
            }
        }
        out.timeline.sort { ($0.t, order($0.kind)) < ($1.t, order($1.kind)) }
        return out
    }

    static func order(_ kind: String) -> Int {
        ["step": 0, "health": 1, "switch": 2, "ramp": 2, "answer": 3][kind] ?? 4
    }

    static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }

    /// The timeline as text.
    public static func text(_ r: Report) -> String {
        func ts(_ x: Double) -> String {
            let t = DurationText.fixed(x, places: 2)
            return String(repeating: " ", count: max(0, 8 - t.count)) + t + "s"
        }
        func who(_ e: Entry) -> String { (e.service ?? e.target ?? "-") + (e.region.map { " @\($0)" } ?? "") }
        var lines: [String] = []
        let steps = r.steps.map { "\(DurationText.general($0.at))s \($0.target) \($0.condition.rawValue)" }
        lines.append(
            "drill on \(r.config): \(steps.joined(separator: ", ")); \(DurationText.general(r.duration))s simulated"
                + " (switch ranges over \(r.phases) probe phases and ±\(Int(r.jitter * 100))% jitter)"
        )
        lines.append("at the start:")
        for e in r.initial {
            lines.append(
                "  \(who(e)): \((e.answer ?? []).joined(separator: " ")) (pool \(e.pool ?? "-"), TTL \(e.ttl ?? 0))"
            )
        }
        lines.append("timeline:")
        for e in r.timeline {
            switch e.kind {
            case "step": lines.append("\(ts(e.t))  step    \(e.reason)")
            case "health":
                lines.append("\(ts(e.t))  health  \(e.target ?? "-") \(e.from ?? "-") -> \(e.to ?? "-") (\(e.reason))")
            case "switch":
                var s = "\(ts(e.t))  switch  \(who(e)) \(e.from ?? "-") -> \(e.to ?? "-")"
                if let a = e.earliest, let b = e.latest {
                    s += " [\(DurationText.fixed(a, places: 2))s .. \(DurationText.fixed(b, places: 2))s]"
                }
                if let d = e.sinceStep { s += ", \(DurationText.fixed(d, places: 2))s after the step" }
                if let ttl = e.staleTTL, let by = e.clientsBy {
                    s +=
                        "; caches may hold the old answer \(ttl)s more: every client has it by "
                        + DurationText.fixed(by, places: 2) + "s"
                }
                lines.append(s)
            case "ramp": lines.append("\(ts(e.t))  ramp    \(who(e)) \(e.from ?? "-") -> \(e.to ?? "-"): \(e.reason)")
            case "answer":
                lines.append(
                    "\(ts(e.t))  answer  \(who(e)): \((e.answer ?? []).joined(separator: " ")) pool \(e.pool ?? "-") TTL \(e.ttl ?? 0) (\(e.reason))"
                )
            default: lines.append("\(ts(e.t))  \(e.kind) \(e.reason)")
            }
        }
        for w in r.waiting { lines.append("at the end: \(who(w)) on \(w.pool ?? "-"): \(w.reason)") }
        if r.waiting.isEmpty { lines.append("at the end: no service waits for an operator") }
        return lines.joined(separator: "\n")
    }
}
