import FoundationEssentials
import HealthModel
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// Scheduler knobs that are not per check.
public struct HealthMonitorOptions: Sendable {
    /// Most probes in flight at once, over all targets (a probe past the limit waits for a free slot).
    public var maxInFlight: Int
    /// Each wait between probes is scaled by a random factor in `1 ± jitter` (0 disables).
    public var jitter: Double
    /// Spread the second probe of every check over the second half of its interval, so checks
    /// started together do not fire in lockstep afterwards.
    public var spreadStart: Bool
    /// Added to the largest check timeout to bound `waitForFirstRound()`.
    public var firstRoundGrace: Duration
    /// Event loops for the NIO probes (HTTP, HTTPS, TCP of a host name); nil: one shared thread. TCP checks of an
    /// address run on the monitor's own probe thread.
    public var eventLoopGroup: (any EventLoopGroup)?

    public init(
        maxInFlight: Int = 256,
        jitter: Double = 0.1,
        spreadStart: Bool = true,
        firstRoundGrace: Duration = .milliseconds(250),
        eventLoopGroup: (any EventLoopGroup)? = nil
    ) {
        self.maxInFlight = maxInFlight
        self.jitter = jitter
        self.spreadStart = spreadStart
        self.firstRoundGrace = firstRoundGrace
        self.eventLoopGroup = eventLoopGroup
    }
}

/// Runs every check of every target on its own schedule and keeps their rise/fall state.
///
/// A swift-service-lifecycle `Service`: `run()` probes until graceful shutdown or cancellation.
/// Read results with `snapshot()`, follow them with `changes()` / `snapshotUpdates()`, and gate
/// answering on `waitForFirstRound()`.
public final class HealthMonitor: Service, Sendable {
    public let options: HealthMonitorOptions
    private let logger: Logger
    private let scheduler: ProbeScheduler
    private let state: Mutex<MonitorState>

    /// The monitored targets (after `update(targets:)`, the new list).
    public var targets: [ProbeTarget] { state.withLock { $0.targets.map(\.spec) } }

    /// Targets with duplicate ids are dropped (the first wins; logged). Invalid checks fail every probe
    /// with the problem as reason; run `ProbeTarget.validate(_:)` first to reject them instead.
    public init(targets: [ProbeTarget], options: HealthMonitorOptions = .init(), logger: Logger) {
        var seen = Set<String>()
        var kept: [ProbeTarget] = []
        for t in targets {
            if seen.insert(t.id).inserted {
                kept.append(t)
            } else {
                logger.error("health: duplicate target id ignored", metadata: ["target": "\(t.id)"])
            }
        }
        self.options = options
        self.logger = logger
        self.scheduler = ProbeScheduler(prober: Prober(group: options.eventLoopGroup), maxInFlight: options.maxInFlight)
        self.state = Mutex(MonitorState(targets: kept))
    }

    /// Replaces the monitored targets (reload). A target equal to one monitored now (same id, address,
    /// checks and initial state) keeps its state, counts and schedule; a new or changed one starts fresh
    /// (unknown, probed at once); a removed one stops being probed. Returns (kept, started, removed).
    @discardableResult
    public func update(targets new: [ProbeTarget]) -> (kept: Int, started: Int, removed: Int) {
        var seen = Set<String>()
        let list = new.filter { seen.insert($0.id).inserted }
        let (out, keys, running) = state.withLock { s in
            let (out, keys) = s.replace(list)
            return (out, keys, s.started && !s.finished)
        }
        // Before run() starts, it schedules every check itself; after it ends, nothing is probed.
        if running, !keys.isEmpty { scheduler.post(.start(keys)) }
        if let snap = out.snapshot { for c in out.snapshotSubscribers { c.yield(snap) } }
        logger.notice(
            "health: targets updated",
            metadata: [
                "kept": "\(out.kept)", "started": "\(keys.count)", "removed": "\(out.removed)",
            ]
        )
        return (out.kept, out.started, out.removed)
    }

    public convenience init(targets: [ProbeTarget], logger: Logger, maxInFlight: Int) {
        self.init(targets: targets, options: HealthMonitorOptions(maxInFlight: maxInFlight), logger: logger)
    }

    /// The longest `waitForFirstRound()` can take once probing has started.
    public var firstRoundBound: Duration {
        let longest = targets.flatMap(\.checks).map(\.timeout).max() ?? .zero
        return longest + options.firstRoundGrace
    }

    // MARK: Service

    /// Starts probing now, the first round at once, before `run()`: the server calls it as soon as the monitor
    /// is built, so the first round's wait for the backends overlaps the rest of its start (the control
    /// listener's set-up). Idempotent; `run()` starts probing itself when this was not called. Probing ends
    /// with `run()`.
    public func start() {
        // update() posts the checks it starts once probing is marked started; the keys are read in the same
        // lock, and the scheduler runs a check whose loop token it already has only once.
        let keys = state.withLock { s -> [CheckKey]? in
            guard !s.started else { return nil }
            s.startedAt = .now
            return s.targets.enumerated().flatMap { ti, t in
                t.checks.map { CheckKey(target: t.spec.id, check: $0.index, token: $0.token, hint: ti) }
            }
        }
        guard let keys else { return }
        logger.info(
            "health: monitoring started",
            metadata: [
                "targets": "\(targets.count)", "checks": "\(keys.count)", "max_in_flight": "\(options.maxInFlight)",
            ]
        )
        scheduler.launch(monitor: self, keys: keys)
    }

    /// Probes until graceful shutdown or cancellation (starting, unless `start()` did). Call once.
    public func run() async throws {
        let firstRun = state.withLock { s -> Bool in
            guard !s.runCalled else { return false }
            s.runCalled = true
            return true
        }
        guard firstRun else {
            logger.error("health: HealthMonitor.run() called twice; ignoring the second call")
            return
        }
        start()
        let firstRoundEnd = state.withLock { $0.startedAt ?? .now } + firstRoundBound
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                group.addTask {
                    try? await Task.sleep(until: firstRoundEnd, clock: .continuous)
                    if !Task.isCancelled { self.endFirstRound(complete: false) }
                }
                // Ends when the run is cancelled.
                group.addTask { await self.scheduler.waitForEnd() }
            }
        }
        endFirstRound(complete: false, log: false)
        let (changeSubs, snapSubs) = state.withLock { s in
            s.finished = true
            defer {
                s.changeSubscribers = [:]
                s.snapshotSubscribers = [:]
            }
            return (Array(s.changeSubscribers.values), Array(s.snapshotSubscribers.values))
        }
        for c in changeSubs { c.finish() }
        for c in snapSubs { c.finish() }
        logger.info("health: monitoring stopped")
    }

    // MARK: Reading

    /// The current state of every target.
    public func snapshot() -> HealthSnapshot {
        state.withLock { $0.snapshot() }
    }

    /// Waits until every check has finished its first probe, or `firstRoundBound` has passed since probing
    /// started (also returns if `run()` ends or the caller is cancelled). Returns true when every check got
    /// a verdict. Targets still unknown then count as their `initialState`.
    @discardableResult
    public func waitForFirstRound() async -> Bool {
        let id: UInt64? = state.withLock { s in
            if case .done = s.firstRound { return nil }
            s.nextID += 1
            s.firstRoundPending.insert(s.nextID)
            return s.nextID
        }
        guard let id else { return state.withLock { $0.firstRoundComplete } }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Bool, Never>) in
                let now: Bool? = state.withLock { s in
                    if case .done(let complete) = s.firstRound {
                        s.firstRoundPending.remove(id)
                        return complete
                    }
                    if !s.firstRoundPending.contains(id) { return false }  // cancelled before registering
                    s.firstRoundWaiters[id] = c
                    return nil
                }
                if let now { c.resume(returning: now) }
            }
        } onCancel: {
            let c = state.withLock { s -> CheckedContinuation<Bool, Never>? in
                s.firstRoundPending.remove(id)
                return s.firstRoundWaiters.removeValue(forKey: id)
            }
            c?.resume(returning: false)
        }
    }

    /// Every check state change from now on (buffering the newest `limit` if the reader is slow).
    /// Ends when `run()` ends.
    public func changes(bufferingNewest limit: Int = 4096) -> AsyncStream<HealthChange> {
        subscribe(
            buffering: max(1, limit),
            first: nil,
            add: { $0.changeSubscribers[$1] = $2 },
            remove: { $0.changeSubscribers[$1] = nil }
        )
    }

    /// The coalesced "snapshot changed" signal: yields the current snapshot at once, then a new one after
    /// each state change; a slow reader only ever sees the newest. Ends when `run()` ends.
    public func snapshotUpdates() -> AsyncStream<HealthSnapshot> {
        subscribe(
            buffering: 1,
            first: { $0.snapshot() },
            add: { $0.snapshotSubscribers[$1] = $2 },
            remove: { $0.snapshotSubscribers[$1] = nil }
        )
    }

    /// Registers a stream in one of the subscriber tables with `add` (taken out with `remove` when the reader
    /// goes away); `first` is yielded under the same lock, so no update between it and the registration is
    /// lost. (Closures, not a key path to the table: a generic key path is built at run time, ~0.2 ms of a start.)
    private func subscribe<T: Sendable>(
        buffering: Int,
        first: (@Sendable (MonitorState) -> T)?,
        add: (inout MonitorState, UInt64, AsyncStream<T>.Continuation) -> Void,
        remove: @escaping @Sendable (inout MonitorState, UInt64) -> Void
    ) -> AsyncStream<T> {
        let (stream, continuation) = AsyncStream.makeStream(of: T.self, bufferingPolicy: .bufferingNewest(buffering))
        let id = state.withLock { s -> UInt64? in
            if let first { continuation.yield(first(s)) }
            guard !s.finished else { return nil }
            s.nextID += 1
            add(&s, s.nextID, continuation)
            return s.nextID
        }
        guard let id else {
            continuation.finish()
            return stream
        }
        continuation.onTermination = { [weak self] _ in
            self?.state.withLock { remove(&$0, id) }
        }
        return stream
    }

    /// Whether `run()` has started and not ended.
    public var isRunning: Bool { state.withLock { $0.started && !$0.finished } }

    /// Probes in flight right now (for tests and metrics).
    public var probesInFlight: Int { scheduler.inFlight.load(ordering: .relaxed) }

    // MARK: Scheduling

    /// The probe plan of check `key`; nil when its loop was replaced or removed (it stops).
    func probePlan(_ key: CheckKey) -> ProbePlan? {
        state.withLock { $0.plan(key) }
    }

    /// How long after a probe's start the check's next probe starts: `interval`, or `fastInterval` while in
    /// doubt; a settled check's second probe after a random 50–100 % of it (`spreadStart`), every other wait
    /// scaled by a random `1 ± jitter`, so checks started together do not fire in lockstep. In nanoseconds;
    /// `random` is the caller's (the probe thread's own generator: no system call per probe).
    func nextWait(
        _ plan: ProbePlan,
        inDoubt: Bool,
        first: Bool,
        using random: inout some RandomNumberGenerator
    ) -> Int64 {
        var wait = inDoubt ? plan.fastInterval : plan.interval
        if wait <= 0 { wait = CheckDefaults.interval.nanoseconds }
        if first, options.spreadStart, !inDoubt {
            return Int64(Double(wait) * Double.random(in: 0.5...1.0, using: &random))
        } else if options.jitter > 0 {
            let j = min(options.jitter, 0.5)
            return Int64(Double(wait) * Double.random(in: (1 - j)...(1 + j), using: &random))
        }
        return wait
    }

    /// The probe thread could not start or wait (no epoll set or eventfd, or a broken one): nothing is probed
    /// from then on; said loudly, since every target keeps its last state.
    func probeThreadFailed(_ problem: String) {
        logger.critical(
            "health: the probe thread cannot run; no target is probed",
            metadata: ["problem": "\(problem)"]
        )
    }

    private func endFirstRound(complete: Bool, log: Bool = true) {
        let waiters = state.withLock { s -> [CheckedContinuation<Bool, Never>]? in
            if case .done = s.firstRound { return nil }
            s.firstRound = .done(complete: complete)
            s.generation += 1
            let w = Array(s.firstRoundWaiters.values)
            s.firstRoundWaiters = [:]
            s.firstRoundPending = []
            return w
        }
        guard let waiters else { return }
        if !complete, log { logFirstRoundTimeout() }
        for w in waiters { w.resume(returning: complete) }
    }

    private func logFirstRoundTimeout() {
        let unknown = state.withLock { s in s.targets.filter { $0.state == .unknown }.map(\.spec.id) }
        guard !unknown.isEmpty else { return }
        logger.notice(
            "health: first probe round not finished in time; targets without verdict count as their initial state",
            metadata: ["targets": "\(unknown.sorted().joined(separator: ","))"]
        )
    }

    /// Stores one result; returns whether the check is in doubt (probe again at the fast interval), or nil when
    /// the check's loop was replaced or removed.
    func record(_ key: CheckKey, result: ProbeResult) -> Bool? {
        let now = Date()
        guard let out = state.withLock({ s in s.record(key, result: result, at: now) }) else { return nil }
        for change in out.changes {
            logChange(change, result: result)
            for c in out.changeSubscribers { c.yield(change) }
        }
        if let snap = out.snapshot {
            for c in out.snapshotSubscribers { c.yield(snap) }
        }
        if let warning = out.newCertWarning {
            logger.warning(
                "health: certificate expiring",
                metadata: ["target": "\(key.target)", "check": "\(out.checkName)", "warning": "\(warning)"]
            )
        }
        if out.firstRoundJustCompleted {
            let waiters = state.withLock { s -> [CheckedContinuation<Bool, Never>] in
                let w = Array(s.firstRoundWaiters.values)
                s.firstRoundWaiters = [:]
                s.firstRoundPending = []
                return w
            }
            for w in waiters { w.resume(returning: true) }
        }
        return out.inDoubt
    }

    private func logChange(_ c: HealthChange, result: ProbeResult) {
        let counts =
            c.from == .unknown
            ? "first probe" : c.to == .down ? "failures \(c.failures)/\(c.fall)" : "passes \(c.passes)/\(c.rise)"
        var message =
            "health: \(c.target) check \(c.check) \(c.from.rawValue) -> \(c.to.rawValue): \(c.reason) (\(counts))"
        if c.targetFrom != c.targetTo { message += "; target \(c.targetFrom.rawValue) -> \(c.targetTo.rawValue)" }
        logger.notice(
            Logger.Message(stringLiteral: message),
            metadata: [
                "target": "\(c.target)", "check": "\(c.check)", "from": "\(c.from.rawValue)", "to": "\(c.to.rawValue)",
                "reason": "\(c.reason)", "passes": "\(c.passes)", "failures": "\(c.failures)", "rise": "\(c.rise)",
                "fall": "\(c.fall)", "target_state": "\(c.targetTo.rawValue)",
                "latency_ms": "\(Int((result.latency.seconds * 1000).rounded()))",
            ]
        )
    }
}

// MARK: - State (guarded by the monitor's mutex)

struct MonitorState {
    enum FirstRound {
        case pending(remaining: Int)
        case done(complete: Bool)
    }

    struct CheckRuntime {
        var spec: CheckSpec
        var index: Int
        /// Identifies this check's probe loop; a loop whose token is gone stops.
        var token: UInt64
        var plan: ProbePlan
        var endpoint: String
        var tracker: HealthTracker
        var lastResult: ProbeResult?
        var lastProbe: Date?
        var lastChange: Date?
        var probes = 0
        var failingSince: Date?
        /// Failed probes by reason class.
        var failures: [String: Int] = [:]
        /// The last `CheckHealth.recentLimit` probes, oldest first.
        var recent: [RecentProbe] = []

        /// Counts one probe's result: whether it was the check's first, the state change it made, and a
        /// certificate warning that is new.
        mutating func apply(
            _ result: ProbeResult,
            at now: Date
        ) -> (first: Bool, transition: Transition?, newWarning: String?) {
            let first = probes == 0
            let oldWarning = lastResult?.certWarning
            probes += 1
            if result.ok { failingSince = nil } else if failingSince == nil { failingSince = now }
            if !result.ok { failures[result.reasonClass, default: 0] += 1 }
            lastResult = result
            lastProbe = now
            recent.append(RecentProbe(ok: result.ok, latency: result.latency))
            if recent.count > CheckHealth.recentLimit { recent.removeFirst(recent.count - CheckHealth.recentLimit) }
            let transition = tracker.record(pass: result.ok)
            if transition != nil { lastChange = now }
            return (first, transition, oldWarning == nil ? result.certWarning : nil)
        }
    }

    struct TargetRuntime {
        var spec: ProbeTarget
        var checks: [CheckRuntime]
        var state: HealthState = .unknown
        var lastChange: Date?

        var isUp: Bool { state == .unknown ? spec.initialState : state == .up }
    }

    struct RecordOutcome {
        var changes: [HealthChange] = []
        var changeSubscribers: [AsyncStream<HealthChange>.Continuation] = []
        var snapshot: HealthSnapshot?
        var snapshotSubscribers: [AsyncStream<HealthSnapshot>.Continuation] = []
        var inDoubt = false
        var newCertWarning: String?
        var firstRoundJustCompleted = false
        var checkName = ""
    }

    struct ReplaceOutcome {
        var kept = 0, started = 0, removed = 0
        var snapshot: HealthSnapshot?
        var snapshotSubscribers: [AsyncStream<HealthSnapshot>.Continuation] = []
    }

    var targets: [TargetRuntime]
    /// Target id → index in `targets`.
    var index: [String: Int] = [:]
    var nextToken: UInt64 = 0
    /// Tokens of the check loops running now.
    var running: Set<UInt64> = []
    var generation: UInt64 = 0
    var firstRound: FirstRound
    var firstRoundWaiters: [UInt64: CheckedContinuation<Bool, Never>] = [:]
    var firstRoundPending: Set<UInt64> = []
    var changeSubscribers: [UInt64: AsyncStream<HealthChange>.Continuation] = [:]
    var snapshotSubscribers: [UInt64: AsyncStream<HealthSnapshot>.Continuation] = [:]
    var nextID: UInt64 = 0
    /// When probing started (`start()`); nil before.
    var startedAt: ContinuousClock.Instant?
    var started: Bool { startedAt != nil }
    var runCalled = false
    var finished = false

    init(targets: [ProbeTarget]) {
        self.targets = []
        self.firstRound = .pending(remaining: 0)
        self.targets = targets.map { fresh($0) }
        self.index = Dictionary(uniqueKeysWithValues: self.targets.enumerated().map { ($1.spec.id, $0) })
        let total = targets.reduce(0) { $0 + $1.checks.count }
        self.firstRound = total == 0 ? .done(complete: true) : .pending(remaining: total)
    }

    /// A target with no results yet; each check gets a new loop token.
    mutating func fresh(_ t: ProbeTarget) -> TargetRuntime {
        TargetRuntime(
            spec: t,
            checks: t.checks.enumerated().map { i, c in
                let rc = ResolvedCheck.resolve(c, address: t.address)
                let endpoint: String
                switch rc {
                case .success(let x): endpoint = x.display
                case .failure: endpoint = c.endpoint ?? t.address
                }
                nextToken += 1
                return CheckRuntime(
                    spec: c,
                    index: i,
                    token: nextToken,
                    plan: ProbePlan(spec: c, resolved: rc),
                    endpoint: endpoint,
                    tracker: HealthTracker(rise: c.rise, fall: c.fall)
                )
            }
        )
    }

    /// The probe plan of a running check loop; nil when the loop was replaced or removed.
    func plan(_ key: CheckKey) -> ProbePlan? {
        locate(key).map { targets[$0].checks[key.check].plan }
    }

    /// The position of the target of check `key` while its loop is current; nil when the loop was replaced or
    /// removed. Tokens are never reused, so a token found at the key's hint is the key's check.
    func locate(_ key: CheckKey) -> Int? {
        let h = key.hint
        if h < targets.count, key.check < targets[h].checks.count, targets[h].checks[key.check].token == key.token {
            return h
        }
        guard let ti = index[key.target], key.check < targets[ti].checks.count,
            targets[ti].checks[key.check].token == key.token
        else { return nil }
        return ti
    }

    /// Installs a new target list, keeping the runtime state of targets that did not change; returns the
    /// loops to start.
    mutating func replace(_ list: [ProbeTarget]) -> (ReplaceOutcome, [CheckKey]) {
        var out = ReplaceOutcome()
        var keys: [CheckKey] = []
        var next: [TargetRuntime] = []
        var pendingDelta = 0
        var keptIDs = Set<String>()
        for t in list {
            if let i = index[t.id], targets[i].spec == t {
                next.append(targets[i])
                keptIDs.insert(t.id)
                out.kept += 1
            } else {
                let r = fresh(t)
                let ti = next.count
                keys += r.checks.map { CheckKey(target: t.id, check: $0.index, token: $0.token, hint: ti) }
                pendingDelta += r.checks.count
                next.append(r)
                out.started += 1
            }
        }
        let newIDs = Set(list.map(\.id))
        for old in targets where !keptIDs.contains(old.spec.id) {
            if !newIDs.contains(old.spec.id) { out.removed += 1 }
            pendingDelta -= old.checks.filter { $0.probes == 0 }.count
        }
        targets = next
        index = Dictionary(uniqueKeysWithValues: targets.enumerated().map { ($1.spec.id, $0) })
        if case .pending(let remaining) = firstRound {
            // Never completes here (the waiters are resumed by a probe or the first-round timer).
            firstRound = .pending(remaining: max(0, remaining + pendingDelta))
        }
        generation += 1
        if !snapshotSubscribers.isEmpty {
            out.snapshot = snapshot()
            out.snapshotSubscribers = Array(snapshotSubscribers.values)
        }
        return (out, keys)
    }

    var firstRoundComplete: Bool {
        if case .done(let c) = firstRound { return c }
        return false
    }

    mutating func record(_ key: CheckKey, result: ProbeResult, at now: Date) -> RecordOutcome? {
        guard let ti = locate(key) else { return nil }
        let ci = key.check
        var out = RecordOutcome()
        // In place (no copy of the check's state, so its arrays are not copied on write at every probe).
        let (firstProbe, transition, newWarning) = targets[ti].checks[ci].apply(result, at: now)
        if let w = newWarning {
            out.newCertWarning = w
            out.checkName = targets[ti].checks[ci].spec.name
        }
        out.inDoubt = targets[ti].checks[ci].tracker.inDoubt

        if firstProbe, case .pending(let remaining) = firstRound {
            if remaining <= 1 {
                firstRound = .done(complete: true)
                out.firstRoundJustCompleted = true
                generation += 1
            } else {
                firstRound = .pending(remaining: remaining - 1)
            }
        }

        if let t = transition {
            let before = targets[ti].state
            let after = combinedState(targets[ti].checks.map(\.tracker.state))
            if after != before {
                targets[ti].state = after
                targets[ti].lastChange = now
            }
            generation += 1
            let c = targets[ti].checks[ci]
            out.changes.append(
                HealthChange(
                    target: targets[ti].spec.id,
                    check: c.spec.name,
                    from: t.from,
                    to: t.to,
                    reason: result.reason,
                    passes: t.passes,
                    failures: t.failures,
                    rise: c.tracker.rise,
                    fall: c.tracker.fall,
                    targetFrom: before,
                    targetTo: after,
                    targetIsUp: targets[ti].isUp,
                    at: now
                )
            )
            out.changeSubscribers = Array(changeSubscribers.values)
        }
        if transition != nil || out.firstRoundJustCompleted, !snapshotSubscribers.isEmpty {
            out.snapshot = snapshot()
            out.snapshotSubscribers = Array(snapshotSubscribers.values)
        }
        return out
    }

    func snapshot() -> HealthSnapshot {
        var out: [String: TargetHealth] = [:]
        out.reserveCapacity(targets.count)
        for t in targets {
            out[t.spec.id] = TargetHealth(
                id: t.spec.id,
                address: t.spec.address,
                state: t.state,
                isUp: t.isUp,
                lastChange: t.lastChange,
                checks: t.checks.map { c in
                    CheckHealth(
                        name: c.spec.name,
                        kind: c.spec.kind,
                        endpoint: c.endpoint,
                        state: c.tracker.state,
                        lastResult: c.lastResult,
                        lastProbe: c.lastProbe,
                        consecutivePasses: c.tracker.consecutivePasses,
                        consecutiveFailures: c.tracker.consecutiveFailures,
                        rise: c.tracker.rise,
                        fall: c.tracker.fall,
                        lastChange: c.lastChange,
                        probes: c.probes,
                        inDoubt: c.tracker.inDoubt,
                        failingSince: c.failingSince,
                        failures: c.failures,
                        recent: c.recent
                    )
                }
            )
        }
        let done: Bool
        if case .done = firstRound { done = true } else { done = false }
        return HealthSnapshot(targets: out, generation: generation, firstRoundDone: done)
    }
}

/// One check's probe loop: target id, check index, and the token of the loop (changes when the target is replaced).
struct CheckKey: Sendable, Hashable {
    var target: String
    var check: Int
    var token: UInt64
    /// Where the target was in the monitor's list when the loop started: looked at first (`MonitorState.locate`),
    /// so a probe does not hash the target's name while the list is the same.
    var hint: Int
}
