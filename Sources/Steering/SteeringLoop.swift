import Answers
import Config
import ConfigText
import Dispatch
import FoundationEssentials
import Glibc
import Logging
import ServiceLifecycle
import Synchronization

/// Settings of the writer.
public struct SteeringOptions: Sendable {
    /// Health changes that arrive within this window after the first one give one table swap (gdnsd's monitor
    /// does the same). Overrides and reloads are never delayed: they publish at once, taking in whatever health
    /// change is waiting. Zero: every health change publishes at once (tests).
    public var coalesceWindow: Duration = .milliseconds(100)
    /// How often the state file is looked at for a change made by another process when it cannot be watched
    /// (`StateFileWatch`: no inotify instance or watch left, its folder gone), and until the watch starts.
    public var stateFileCheck: Duration = .milliseconds(250)
    /// The first table's save and the saved history's decoding wait for `SteeringLoop.serving()` (the runtime
    /// calls it once its listeners are bound). Without it they run right after the first table's replies, which
    /// on a server held to one core competes with binding the listeners and the first answers.
    public var startWorkWaitsForServing = false
    public init(
        coalesceWindow: Duration = .milliseconds(100),
        stateFileCheck: Duration = .milliseconds(250),
        startWorkWaitsForServing: Bool = false
    ) {
        self.coalesceWindow = coalesceWindow
        self.stateFileCheck = stateFileCheck
        self.startWorkWaitsForServing = startWorkWaitsForServing
    }
}

/// The one writer of answer tables. Inputs (health snapshots, override changes, prepared reloads, ticks) are
/// queued by any task or thread with `submit` and applied in order by `run()`, which alone installs tables:
/// two publishes can never overlap or install out of order, and generations only increase.
public final class SteeringLoop: Service, Sendable {
    struct Envelope: Sendable {
        var input: SteeringInput
        var reply: (@Sendable (SteeringOutcome) -> Void)?
    }

    let options: SteeringOptions
    let logger: Logger
    private let core: Mutex<SteeringCore>
    private let queue = Mutex<[Envelope]>([])
    private let bell = Doorbell()
    private let published: Mutex<SteeringView>
    /// Entered while the saved history is not in the published view yet (`viewWithHistory`).
    private let historyIn = DispatchGroup()
    private let historyWaiting = Mutex(false)
    /// Start-up's own work left for later (`afterStart`): whether some is due, and whether it may run.
    private let startWork: Mutex<(pending: Bool, mayRun: Bool)>
    /// The writer's own thread for its steps (table builds, zone compiles, state file writes).
    private let work = DispatchQueue(label: "gtmd.steering")
    /// What the state file's watch reported since the loop last looked (a `.lost` is kept over a `.changed`).
    private let fileEvent = Mutex<StateFileWatch.Event?>(nil)
    /// Who hears of new events (the control API's event streams), and the last seq handed to them.
    private let listeners = Mutex<(next: UInt64, seen: UInt64, all: [UInt64: @Sendable ([GtmdEvent]) -> Void])>(
        (0, 0, [:])
    )

    public init(
        prepared: Prepared,
        store: AnswerStore,
        stateFile: String,
        options: SteeringOptions = SteeringOptions(),
        logger: Logger
    ) {
        let core = SteeringCore(
            prepared: prepared,
            store: store,
            stateFile: stateFile,
            deferHistory: true,
            logger: logger
        )
        core.deferCompaction = true
        self.published = Mutex(core.view)
        self.startWork = Mutex((false, !options.startWorkWaitsForServing))
        if core.historyPending {
            historyIn.enter()
            historyWaiting.withLock { $0 = true }
        }
        self.listeners.withLock { $0.seen = core.events.nextSeq - 1 }
        self.core = Mutex(core)
        self.options = options
        self.logger = logger
    }

    /// What the writer holds now (after its last step).
    public var view: SteeringView { published.withLock { $0 } }

    /// The view once the saved event history is in it: right after start the writer decodes the history only
    /// after the first answers (`SteeringCore.restoreHistory`); readers of the history wait for that (at most
    /// `timeout`) instead of seeing a history that starts with this run. Not for the writer's own thread.
    public func viewWithHistory(timeout: Duration = .seconds(2)) -> SteeringView {
        if historyWaiting.withLock({ $0 }) {
            _ = historyIn.wait(timeout: .now() + .milliseconds(Int(DurationText.milliseconds(timeout))))
        }
        return view
    }

    /// Lets `viewWithHistory` readers go once the published view holds the saved history.
    private func historyPublished() {
        let wasWaiting = historyWaiting.withLock { w in
            defer { w = false }
            return w
        }
        if wasWaiting { historyIn.leave() }
    }

    /// Calls `listener` from the writer's thread with the events of each step that added some, in order, until
    /// `unsubscribeEvents`. Returns its id.
    public func subscribeEvents(_ listener: @escaping @Sendable ([GtmdEvent]) -> Void) -> UInt64 {
        listeners.withLock { l in
            l.next += 1
            l.all[l.next] = listener
            return l.next
        }
    }

    public func unsubscribeEvents(_ id: UInt64) { listeners.withLock { _ = $0.all.removeValue(forKey: id) } }

    /// Hands the events after the last seq handed over to every listener.
    private func notifyListeners(_ log: EventLog) {
        let (fresh, all) = listeners.withLock { l -> ([GtmdEvent], [@Sendable ([GtmdEvent]) -> Void]) in
            let fresh = Array(log.after(l.seen))
            if let last = fresh.last { l.seen = last.seq }
            return (fresh, Array(l.all.values))
        }
        guard !fresh.isEmpty else { return }
        for f in all { f(fresh) }
    }

    /// Queues an input; `reply` (if any) is called once the step that applied it is done (its table installed).
    public func submit(_ input: SteeringInput, reply: (@Sendable (SteeringOutcome) -> Void)? = nil) {
        queue.withLock { $0.append(Envelope(input: input, reply: reply)) }
        bell.ring()
    }

    /// Queues an input and waits until it is applied.
    public func apply(_ input: SteeringInput) async -> SteeringOutcome {
        await withCheckedContinuation { c in submit(input) { c.resume(returning: $0) } }
    }

    /// Queues an input and blocks the calling thread until it is applied (at most `timeout`). For callers on
    /// their own threads (the control API's handler pool), never on the cooperative pool. Nil on timeout.
    public func applyBlocking(_ input: SteeringInput, timeout: Duration = .seconds(5)) -> SteeringOutcome? {
        final class Reply: Sendable {
            let value = Mutex<SteeringOutcome?>(nil)
            let done = DispatchSemaphore(value: 0)
        }
        let reply = Reply()
        submit(input) { o in
            reply.value.withLock { $0 = o }
            reply.done.signal()
        }
        let ms = Int(DurationText.milliseconds(timeout))
        guard reply.done.wait(timeout: .now() + .milliseconds(ms)) == .success else { return nil }
        return reply.value.withLock { $0 }
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown { await self.loop() }
    }

    /// Steps until cancelled: waits for an input or the next due time, applies everything queued, publishes at
    /// most once, saves override changes, answers the submitters.
    func loop() async {
        var coalesceUntil: ContinuousClock.Instant? = nil
        // The state file is looked at every `stateFileCheck` until its watch runs, and if it cannot be watched.
        // The watch starts once start-up's own work may run (off the path to the first answer); the timer then
        // fires once more, for a change made before the watch, and stops: an idle server wakes for nothing.
        var watch: StateFileWatch? = nil
        var watchTried = false
        var nextFileCheck: ContinuousClock.Instant? = ContinuousClock.now + options.stateFileCheck
        defer { watch?.stop() }
        while !Task.isCancelled {
            if !watchTried, startWork.withLock({ $0.mayRun }) {
                watchTried = true
                watch = startWatch()
            }
            let (evaluation, saveDue) = core.withLock { ($0.nextEvaluation, $0.saveDue) }
            let policyDue = evaluation.map { due in
                // Clamped before the conversion: a far-future expiry (state file, API) must not trap.
                ContinuousClock.now + .milliseconds(Int64(min(max(0, due.timeIntervalSinceNow), 86_400) * 1000) + 1)
            }
            let wake = [coalesceUntil, policyDue, nextFileCheck, saveDue].compactMap { $0 }.min()
            await bell.wait(until: wake)
            if Task.isCancelled { break }
            let batch = queue.withLock { q in
                defer { q.removeAll() }
                return q
            }
            let now = Date()
            let clock = ContinuousClock.now
            var tick = false
            switch fileEvent.withLock({ e in
                defer { e = nil }
                return e
            }) {
            case .changed?: tick = true
            case .lost(let why)?:
                tick = true
                watch?.stop()
                watch = nil
                nextFileCheck = clock + options.stateFileCheck
                logger.warning(
                    "state file no longer watched; looking at it every \(DurationText.format(options.stateFileCheck))",
                    metadata: ["problem": "\(why)"]
                )
            case nil: break
            }
            if let n = nextFileCheck, clock >= n {
                tick = true
                nextFileCheck = watch == nil ? clock + options.stateFileCheck : nil
            }
            if let p = policyDue, clock >= p { tick = true }
            let (until, due) = (coalesceUntil, tick)
            coalesceUntil = await withCheckedContinuation { (c: CheckedContinuation<ContinuousClock.Instant?, Never>) in
                work.async {
                    let step = self.step(batch, tick: due, now: now, clock: clock, coalesceUntil: until)
                    // Readers and submitters hear of the step from the writer's thread, without another hop.
                    self.published.withLock { $0 = step.view }
                    self.notifyListeners(step.view.events)
                    for (e, o) in zip(batch, step.outcomes) { e.reply?(o) }
                    // The saved history's decoding and the first table's save come after start-up heard of
                    // the table, and once it serves (see `step`).
                    let later = self.startWork.withLock { w in
                        defer { if w.mayRun { w.pending = false } }
                        return w.pending && w.mayRun
                    }
                    if later, let view = self.afterStart() {
                        self.published.withLock { $0 = view }
                    }
                    if !step.historyPending || later { self.historyPublished() }
                    c.resume(returning: step.coalesceUntil)
                }
            }
        }
        // Anyone still waiting is told where things stand.
        let rest = queue.withLock { q in
            defer { q.removeAll() }
            return q
        }
        let g = core.withLock { c in
            c.flushEvents()
            return c.generation
        }
        for e in rest { e.reply?(SteeringOutcome(generation: g, installed: false, problem: "shutting down")) }
        historyPublished()
    }

    /// The watch on the state file, or nil (logged) when none can be made: the loop then looks at the file on
    /// its timer.
    private func startWatch() -> StateFileWatch? {
        let path = core.withLock { $0.stateFile }
        let started = StateFileWatch.start(path, queue: work) { [weak self] event in
            guard let self else { return }
            self.fileEvent.withLock { e in
                if case .lost? = e { return }
                e = event
            }
            self.bell.ring()
        }
        switch started {
        case .success(let w): return w
        case .failure(let problem):
            logger.warning(
                "state file not watched; looking at it every \(DurationText.format(options.stateFileCheck))",
                metadata: ["problem": "\(problem)"]
            )
            return nil
        }
    }

    /// The compiled zones still wait for their compaction (`SteeringCore.compactIfPending`).
    var compactionPending: Bool { core.withLock { $0.compactionPending } }

    /// The runtime serves (its listeners are bound): start-up's own work may run (`startWorkWaitsForServing`).
    public func serving() {
        startWork.withLock { $0.mayRun = true }
        bell.ring()
    }

    /// What the first table's step left for later: the saved history's decoding (`restoreHistory`), the compaction
    /// of the compiled zones (`compactIfPending`) and the save.
    /// A change made meanwhile to the state file by another process is taken in and published at once, as in
    /// `step`. Returns the new view when something changed.
    func afterStart() -> SteeringView? {
        core.withLock { core in
            let (generation, restoring) = (core.generation, core.historyPending)
            core.restoreHistory()
            core.compactIfPending()
            _ = save(core, [], installed: true, now: Date())
            return core.generation == generation && !restoring ? nil : core.view
        }
    }

    /// Saves `changes` (and the services' state and history when due). When the step installed a table and the
    /// save took in a change another process made to the state file meanwhile, that change is in force at once
    /// too. Returns the problem when the overrides could not be saved.
    private func save(_ core: SteeringCore, _ changes: [OverrideChange], installed: Bool, now: Date) -> String? {
        let problem = core.save(changes)
        if installed, core.dirty, core.publishIfDirty(now: now) != nil { _ = core.save([]) }
        return problem
    }

    struct Step: Sendable {
        var outcomes: [SteeringOutcome]
        var view: SteeringView
        var coalesceUntil: ContinuousClock.Instant?
        /// The saved history was not decoded yet when the step ended.
        var historyPending = false
    }

    /// One step of the writer: applies the batch, publishes at most once, saves override changes. Runs on
    /// `work` (its own thread): a table build or a reload's zone compile never holds a cooperative thread.
    func step(
        _ batch: [Envelope],
        tick: Bool,
        now: Date,
        clock: ContinuousClock.Instant,
        coalesceUntil: ContinuousClock.Instant?
    ) -> Step {
        var coalesceUntil = coalesceUntil
        return core.withLock { core -> Step in
            // Operator actions and reloads publish at once; so does the very first snapshot (start-up waits for it).
            let first = core.generation == 0
            var urgent = first
            var outcomes: [SteeringOutcome] = []
            for e in batch {
                outcomes.append(core.apply(e.input, now: now))
                switch e.input {
                case .health: break
                // Verdicts from the fleet are coalesced like the prober's; its override changes publish at once.
                case .fleet: if core.fleetOverridesChanged { urgent = true }
                default: urgent = true
                }
            }
            if tick, core.tick(now: now) { urgent = true }
            var installed = false
            if core.dirty {
                let windowOver = coalesceUntil.map { clock >= $0 } ?? false
                if urgent || options.coalesceWindow == .zero || windowOver {
                    installed = core.publishIfDirty(now: now) != nil
                    if installed {
                        coalesceUntil = nil
                        // Readers (metrics, status, explain) see the table's decisions as it goes into force,
                        // not after the save below: a client that got the new answer finds it in the API too.
                        self.published.withLock { $0 = core.view }
                    }
                } else if coalesceUntil == nil {
                    coalesceUntil = clock + options.coalesceWindow
                }
            } else {
                coalesceUntil = nil
            }
            // Saved, in one write, after the table is in force (a slow disk never delays the answer).
            let changes = batch.compactMap { e -> OverrideChange? in
                if case .override(let change) = e.input { return change }
                return nil
            }
            // The first table's save waits until start-up has heard of the table and serves (`afterStart`):
            // nothing to persist for an operator yet; the services' state and history may be large.
            let saveLater = first && installed && changes.isEmpty && core.fleetChanges.isEmpty
            if saveLater || (core.historyPending && core.generation > 0) || core.compactionPending {
                startWork.withLock { $0.pending = true }
            }
            if !saveLater, let problem = save(core, changes, installed: installed, now: now) {
                for (i, e) in batch.enumerated() { if case .override = e.input { outcomes[i].problem = problem } }
            }
            for i in outcomes.indices {
                outcomes[i].generation = core.generation
                outcomes[i].installed = installed
            }
            return Step(
                outcomes: outcomes,
                view: core.view,
                coalesceUntil: coalesceUntil,
                historyPending: core.historyPending
            )
        }
    }
}

/// Wakes one waiting task: `ring()` from anywhere, `wait(until:)` from the loop. A ring while nobody waits
/// is kept for the next wait, so no input is missed.
final class Doorbell: Sendable {
    private struct State {
        var rung = false
        var waiter: CheckedContinuation<Void, Never>?
    }
    private let state = Mutex(State())

    func ring() {
        let w = state.withLock { s -> CheckedContinuation<Void, Never>? in
            if let w = s.waiter {
                s.waiter = nil
                return w
            }
            s.rung = true
            return nil
        }
        w?.resume()
    }

    /// Returns after a ring, at `deadline`, or on cancellation, whichever comes first.
    func wait(until deadline: ContinuousClock.Instant?) async {
        if state.withLock({ s in
            defer { s.rung = false }
            return s.rung
        }) {
            return
        }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.waitForRing() }
            if let deadline {
                group.addTask { try? await Task.sleep(until: deadline, clock: .continuous) }
            }
            await group.next()
            group.cancelAll()
        }
    }

    private func waitForRing() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let now = state.withLock { s -> Bool in
                    if s.rung || Task.isCancelled {
                        s.rung = false
                        return true
                    }
                    s.waiter = c
                    return false
                }
                if now { c.resume() }
            }
        } onCancel: {
            let w = state.withLock { s -> CheckedContinuation<Void, Never>? in
                defer { s.waiter = nil }
                return s.waiter
            }
            w?.resume()
        }
    }
}
