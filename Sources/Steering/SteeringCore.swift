import Answers
import CMalloc
import Config
import ConfigText
import Dispatch
import FoundationEssentials
import HealthModel
import Logging
import Policy

/// One reason to wake the writer, with its payload.
public enum SteeringInput: Sendable {
    /// The prober's newest snapshot, used exactly as handed over (never pulled again).
    case health(HealthSnapshot)
    /// An operator's change: applied at once in memory, published, then persisted to the state file.
    case override(OverrideChange)
    /// A config and zones prepared and validated off to the side (SIGHUP); installed whole.
    case reload(Prepared)
    /// A reload that failed validation (nothing changed): recorded in the event history only.
    case reloadFailed([String])
    /// The fleet's shared decision and overrides (a `fleet:` section): its verdicts replace the node's own where
    /// it has one; its overrides replace the ones in force (validated like the API's) and are saved to the state
    /// file, which stays their cache.
    case fleet(FleetInput)
    /// Time passed: a policy timer (hold-down end, minimum switch interval, override expiry) may be due, and the
    /// state file may have been changed by `gtmd override --offline`.
    case tick
}

/// An override change as the control API asks for it (validated against the config by `OverrideStore.make`).
public enum OverrideChange: Sendable, Hashable {
    case set(Override)
    case clear(scope: Override.Scope, target: String)
}

/// What the writer did with one input: the generation in force after it, whether it installed a table, and a
/// problem (the state file could not be written: the change is in force but not saved).
public struct SteeringOutcome: Sendable, Hashable {
    public var generation: UInt64
    public var installed: Bool
    /// clear: how many overrides it removed.
    public var cleared: Int?
    public var problem: String?
    public init(generation: UInt64, installed: Bool, cleared: Int? = nil, problem: String? = nil) {
        self.generation = generation
        self.installed = installed
        self.cleared = cleared
        self.problem = problem
    }
}

/// What readers (control API, metrics, status, explain) see: swapped whole after every step of the writer.
public struct SteeringView: Sendable {
    public var prepared: Prepared
    public var stateFile: String
    /// Overrides in force in memory (expired ones included until removed), as saved to the state file.
    public var overrides: OverrideSet
    public var decisions: [String: Decision]
    /// Failover switches per service since start.
    public var switches: [String: Int]
    /// The last failover switch of each service.
    public var failovers: [String: FailoverTiming]
    /// The generation of the installed table (0 before the first).
    public var generation: UInt64
    /// The recent event history (the newest `EventLog.capacity`), oldest first.
    public var events: EventLog = EventLog()
    /// The fleet's last input (nil: no fleet, or nothing heard from it yet).
    public var fleet: FleetInput? = nil
    /// Shared overrides left out, as "key: what is wrong".
    public var fleetProblems: [String] = []

    public init(
        prepared: Prepared,
        stateFile: String,
        overrides: OverrideSet,
        decisions: [String: Decision],
        switches: [String: Int],
        failovers: [String: FailoverTiming],
        generation: UInt64,
        events: EventLog = EventLog(),
        fleet: FleetInput? = nil,
        fleetProblems: [String] = []
    ) {
        self.fleet = fleet
        self.fleetProblems = fleetProblems
        self.prepared = prepared
        self.stateFile = stateFile
        self.overrides = overrides
        self.decisions = decisions
        self.switches = switches
        self.failovers = failovers
        self.generation = generation
        self.events = events
    }
}

/// The state of the one writer and the step from an input to an installed table. Not thread-safe: only
/// `SteeringLoop` (or a test, with its own clock) drives it. `now` is always an argument.
/// Invariant: every installed table has a higher generation than the one before.
public final class SteeringCore {
    public let store: AnswerStore
    public let stateFile: String
    let logger: Logger
    public internal(set) var publisher: Publisher {
        didSet { releaseMemoryAfterInstall = true }
    }
    /// A zone compile happened since the last table was installed: once its first table serves, the compiled
    /// zones are compacted (`Publisher.compact`) and the memory the load and compile freed goes back to the
    /// system (glibc keeps it in its arenas otherwise): `compactIfPending`.
    var releaseMemoryAfterInstall = true
    /// Start-up: the compaction after the first table waits for `compactIfPending` (the steering loop calls it
    /// once the server answers), so the first answers do not wait for it. Later compiles compact at install.
    public var deferCompaction = false
    public private(set) var compactionPending = false
    /// nil until the first health snapshot: nothing is installed before it.
    public private(set) var health: HealthSnapshot?
    public private(set) var overrides = OverrideSet()
    public private(set) var services: [String: ServiceState] = [:]
    public private(set) var decisions: [String: Decision] = [:]
    public private(set) var switches: [String: Int] = [:]
    public private(set) var failovers: [String: FailoverTiming] = [:]
    public private(set) var generation: UInt64 = 0
    /// Services with no available pool (for some region) at the last publish (logged at error on the way in).
    public private(set) var allDown: Set<String> = []
    /// When the policy must run again (hold-down end, override expiry), from the last publish.
    public private(set) var nextEvaluation: Date?
    /// True when an input changed something the table depends on and no table was installed since.
    public private(set) var dirty = false
    /// The fleet's last input; nil without a fleet.
    public private(set) var fleet: FleetInput?
    /// Shared overrides left out at the last fleet input or reload ("key: what is wrong").
    public private(set) var fleetProblems: [String] = []
    /// Override changes that came from the fleet, to save with the step's (the state file is their cache).
    var fleetChanges: [OverrideChange] = []
    /// The last fleet input changed the overrides in force (the writer publishes at once, as for the API's).
    public private(set) var fleetOverridesChanged = false
    /// Per signed zone and role: the end of signing last warned about, and when (KeyEvents.swift).
    var keyWarnings: [String: (end: Int64, at: Date)] = [:]
    /// The verdicts of the last publish.
    var publishedHealth: [String: Bool]?
    /// A publish changed the services' remembered state and it is not saved yet (`save`).
    var servicesUnsaved = false
    /// The state file as last read or written here (its content is reused by the next save while the file is
    /// unchanged), and the version `checkStateFile` last looked at (an offline edit changes it).
    var stateFileSnapshot: StateFile.Snapshot?
    var stateFileVersion: StateFile.Version?
    /// The event history, restored from the state file and saved with it.
    public private(set) var events: EventLog
    /// Events were added since the last save.
    var eventsUnsaved = false
    /// When the history was last written. New events alone are written at most once per `eventSaveInterval`
    /// (a burst of reloads or health changes must not rewrite the whole history each step); anything else saved
    /// takes them along, and shutdown flushes them.
    /// A failed save sets it too, so the loop wakes for the retry (`saveDue`) one interval later, not at once.
    var eventsSavedAt: ContinuousClock.Instant? = nil
    public var eventSaveInterval: Duration = .seconds(1)
    /// When the loop should step for a save that waits: new events one `eventSaveInterval` after the last
    /// write, or a failed save's retry. Nil when nothing waits (an idle server has no timer for it).
    public var saveDue: ContinuousClock.Instant? {
        guard eventsUnsaved || servicesUnsaved else { return nil }
        return eventsSavedAt.map { $0 + eventSaveInterval } ?? .now
    }
    /// How long after a zone compile's first table the pages of code that the start or reload ran once are
    /// released (`gtmd_release_loaded_pages`): after the first save of the start's own event.
    public var codeSettleTime: Duration = .seconds(2)
    /// Overrides whose expiry is already in the history (`key@until`).
    var expiredSeen: Set<String> = []

    /// The saved event history, read but not decoded yet (`restoreHistory`).
    var pendingHistory: Data?
    public var historyPending: Bool { pendingHistory != nil }

    /// `deferHistory`: the state file's event history is decoded by `restoreHistory` (or the first save), not
    /// here: with a full history that decoding was the largest part of start-up, and nothing needs the history
    /// before the first answer. New events are numbered after it meanwhile (`eventsNextSeq` of the file).
    public init(
        prepared: Prepared,
        store: AnswerStore,
        stateFile: String,
        deferHistory: Bool = false,
        logger: Logger
    ) {
        self.store = store
        self.stateFile = stateFile
        self.logger = logger
        self.publisher = Publisher(prepared: prepared)
        events = EventLog()
        // The history was just read: new events (the start's own) are written with the next save, at the latest
        // one `eventSaveInterval` on, not before the first answer.
        eventsSavedAt = ContinuousClock.now
        do {
            let read = try StateFile.readDeferringHistory(stateFile)
            let content = read.content
            stateFileSnapshot = read.snapshot
            stateFileVersion = read.snapshot?.version
            overrides = OverrideSet(content.overrides)
            services = content.services
            if let history = read.history, let next = content.eventsNextSeq {
                events = EventLog(nextSeq: next)
                pendingHistory = history
                if !deferHistory { restoreHistory() }
            } else {
                events = EventLog(restoring: content.events)
            }
            let now = Date()
            for o in content.overrides where !o.isActive(at: now) { expiredSeen.insert(Self.expiryKey(o)) }
            if !content.overrides.isEmpty {
                logger.notice(
                    "overrides loaded",
                    metadata: ["state.file": "\(stateFile)", "overrides": "\(content.overrides.count)"]
                )
            }
        } catch {
            stateFileVersion = StateFile.version(stateFile)  // not read again until it changes
            logger.error("state file unreadable; starting without overrides", metadata: ["problem": "\(error)"])
        }
        record(
            GtmdEvent(
                at: Date(),
                kind: .server,
                action: "start",
                reason: "gtmd started with \(prepared.config.file) (\(prepared.config.services.count) services)"
            )
        )
        recordKeysMade(prepared, now: Date())
    }

    /// A `keys` event for each DNSSEC key preparing made (`keys: auto`), with the notice that holds its DS.
    func recordKeysMade(_ prepared: Prepared, now: Date) {
        for zone in prepared.keysMade.keys.sorted() {
            record(
                GtmdEvent(
                    at: now,
                    kind: .keys,
                    action: "generated",
                    service: zone,
                    reason: prepared.keysMade[zone] ?? ""
                )
            )
        }
    }

    /// A `fleet` event when a fleet input changes the store mode (fleet, local, frozen).
    func recordFleetMode(_ input: FleetInput, now: Date) {
        let before = fleet?.mode
        guard before != input.mode else { return }
        let why: String
        switch before == nil ? "start" : input.mode {
        case "start": why = "fleet mode at start: \(input.mode)"
        case "fleet": why = "fleet store reachable again: fleet decisions in force"
        case "local": why = "fleet store lost: this node answers from its own probes"
        case "frozen": why = "fleet store lost: the fleet's last decision is kept"
        default: why = "fleet mode \(input.mode)"
        }
        record(GtmdEvent(at: now, kind: .fleet, action: "mode", from: before, to: input.mode, reason: why))
    }

    /// `fleet` events when the shared records left out change: one `left-out` per new problem, `records-ok`
    /// when none is left any more (nothing while they stay the same: no flood).
    func recordFleetProblems(_ problems: [String], previous: [String], now: Date) {
        guard problems != previous else { return }
        if problems.isEmpty {
            record(
                GtmdEvent(at: now, kind: .fleet, action: "records-ok", reason: "no shared record is left out any more")
            )
            return
        }
        for p in problems where !previous.contains(p) {
            record(GtmdEvent(at: now, kind: .fleet, action: "left-out", reason: p))
        }
    }

    /// Adds an event to the history (saved with the next state file write).
    func record(_ e: GtmdEvent) {
        events.append(e)
        eventsUnsaved = true
    }

    static func expiryKey(_ o: Override) -> String {
        "\(o.key)@\(o.until.map { String($0.timeIntervalSince1970) } ?? "-")"
    }

    /// The pool and service fields of an override's event.
    func overrideEvent(_ o: Override, action: String, at now: Date, reason: String) -> GtmdEvent {
        overrideEvent(scope: o.scope, target: o.target, action: action, at: now, reason: reason)
    }

    func overrideEvent(
        scope: Override.Scope,
        target: String,
        action: String,
        at now: Date,
        reason: String
    )
        -> GtmdEvent
    {
        var pool: String? = nil
        var service: String? = nil
        switch scope {
        case .pool: pool = target
        case .member:
            pool = publisher.prepared.config.pools.first { p in p.members.contains { $0.targetID == target } }?.name
        case .service: service = target
        }
        return GtmdEvent(
            at: now,
            kind: .override,
            action: action,
            service: service,
            target: target,
            pool: pool,
            reason: reason
        )
    }

    /// The health events of a new snapshot: every target whose verdict changed (on the first snapshot, the
    /// targets found down).
    func recordHealth(_ snapshot: HealthSnapshot, now: Date) {
        let pools = publisher.prepared.config.pools
        for id in snapshot.targets.keys.sorted() {
            guard let t = snapshot.targets[id] else { continue }
            let before = health?.targets[id]?.state
            if let before, before == t.state { continue }
            if before == nil, t.state != .down { continue }
            let reason =
                t.state == .down
                ? t.downReasons.joined(separator: "; ")
                : t.checks.compactMap { c in c.lastResult.map { "\(c.name): \($0.reason)" } }.joined(separator: "; ")
            record(
                GtmdEvent(
                    at: t.lastChange ?? now,
                    kind: .health,
                    action: t.state.rawValue,
                    target: id,
                    pool: pools.first { p in p.members.contains { $0.targetID == id } }?.name,
                    from: (before ?? .unknown).rawValue,
                    to: t.state.rawValue,
                    reason: reason.isEmpty ? t.state.rawValue : reason
                )
            )
        }
    }

    public var view: SteeringView {
        SteeringView(
            prepared: publisher.prepared,
            stateFile: stateFile,
            overrides: overrides,
            decisions: decisions,
            switches: switches,
            failovers: failovers,
            generation: generation,
            events: events,
            fleet: fleet,
            fleetProblems: fleetProblems
        )
    }

    /// The verdicts the answers use: the prober's, replaced by the fleet's where it has one.
    func effectiveHealth(_ snapshot: HealthSnapshot) -> [String: Bool] {
        let local = snapshot.targets.mapValues(\.isUp)
        return fleet?.effective(local) ?? local
    }

    /// Makes the overrides in force those of the fleet (when it knows them), as set/clear changes (saved by the
    /// step like the API's); returns whether anything changed.
    func takeFleetOverrides(config: GtmdConfig, now: Date) -> Bool {
        guard let stored = fleet?.overrides else { return false }
        let (wanted, problems) = FleetInput.overrides(stored, config: config)
        for p in problems where !fleetProblems.contains(p) {
            logger.error("fleet: shared override left out", metadata: ["problem": "\(p)"])
        }
        fleetProblems = problems
        var changes: [OverrideChange] = []
        let wantedKeys = Set(wanted.all.map(\.key))
        for o in overrides.all where !wantedKeys.contains(o.key) {
            changes.append(.clear(scope: o.scope, target: o.target))
        }
        let have = Set(overrides.all)
        for o in wanted.all where !have.contains(o) { changes.append(.set(o)) }
        guard !changes.isEmpty else { return false }
        for c in changes {
            switch c {
            case .set(let o):
                overrides.set(o)
                logger.notice("override in force (fleet)", metadata: ["override": "\(o.summary)"])
                record(overrideEvent(o, action: "set", at: now, reason: "from the fleet: \(o.summary)"))
            case .clear(let scope, let target):
                overrides.clear(scope: scope, target: target)
                record(
                    overrideEvent(
                        scope: scope,
                        target: target,
                        action: "cleared",
                        at: now,
                        reason: "from the fleet: no longer in the shared store"
                    )
                )
                logger.notice(
                    "override cleared (fleet)",
                    metadata: ["scope": "\(scope.rawValue)", "target": "\(target)"]
                )
            }
        }
        // A clear removes a service's pin and release together: put back what the fleet still holds.
        for o in wanted.all where !overrides.all.contains(o) {
            overrides.set(o)
            changes.append(.set(o))
        }
        fleetChanges += changes
        return true
    }

    /// Applies one input to the state (no table is built here); returns what the caller should be told.
    /// An override change is saved to the state file here, after it is in force in memory.
    public func apply(_ input: SteeringInput, now: Date) -> SteeringOutcome {
        switch input {
        case .health(let snapshot):
            recordHealth(snapshot, now: now)
            health = snapshot
            if effectiveHealth(snapshot) != publishedHealth { dirty = true }
            return outcome()
        case .reload(var prepared):
            // A zone signed with the same keys keeps its signer: the reload signs only what changed.
            for (zone, signer) in prepared.signers {
                if let old = publisher.prepared.signers[zone], old.signsLike(signer) { prepared.signers[zone] = old }
            }
            publisher = Publisher(prepared: prepared)
            recordKeysMade(prepared, now: now)
            let before = fleetProblems
            _ = takeFleetOverrides(config: prepared.config, now: now)
            if fleet != nil { recordFleetProblems(fleetProblems, previous: before, now: now) }
            dirty = true
            record(
                GtmdEvent(
                    at: now,
                    kind: .reload,
                    action: "ok",
                    reason:
                        "\(prepared.config.file): \(prepared.zones.count) zones, \(prepared.config.services.count) services"
                )
            )
            return outcome()
        case .reloadFailed(let problems):
            let shown = problems.prefix(5).joined(separator: "; ")
            let more = problems.count > 5 ? " (and \(problems.count - 5) more)" : ""
            record(
                GtmdEvent(
                    at: now,
                    kind: .reload,
                    action: "failed",
                    reason: "still serving the previous config: \(shown)\(more)"
                )
            )
            return outcome()
        case .fleet(let input):
            let before = fleetProblems
            recordFleetMode(input, now: now)
            fleet = input
            fleetOverridesChanged = takeFleetOverrides(config: publisher.prepared.config, now: now)
            recordFleetProblems(fleetProblems, previous: before, now: now)
            if fleetOverridesChanged { dirty = true }
            if let health, effectiveHealth(health) != publishedHealth { dirty = true }
            return outcome()
        case .override(let change):
            var removed: Int? = nil
            switch change {
            case .set(let o):
                overrides.set(o)
                record(overrideEvent(o, action: "set", at: now, reason: o.summary))
            case .clear(let scope, let target):
                removed = overrides.clear(scope: scope, target: target)
                record(
                    overrideEvent(
                        scope: scope,
                        target: target,
                        action: "cleared",
                        at: now,
                        reason: "\(removed ?? 0) override(s) removed"
                    )
                )
            }
            dirty = true
            return outcome(cleared: removed)
        case .tick:
            _ = tick(now: now)
            return outcome()
        }
    }

    /// A policy timer fell due, or the state file changed on disk: returns true when the table must be rebuilt.
    public func tick(now: Date) -> Bool {
        var due = false
        if let n = nextEvaluation, now >= n { due = true }
        if checkStateFile() { due = true }
        if due { dirty = true }
        return due
    }

    /// Saves an applied override change to the state file (read-modify-write under its lock, so a change made
    /// meanwhile by `gtmd override --offline` is kept and taken in).
    public func persist(_ change: OverrideChange) -> String? { save([change]) }

    /// Saves, in one write, the override changes of a step and the services' remembered state when a publish
    /// changed it. Returns the problem when the overrides could not be saved (they stay in force).
    public func save(_ changes: [OverrideChange]) -> String? {
        let changes = fleetChanges + changes
        fleetChanges = []
        let eventsDue =
            eventsUnsaved && (eventsSavedAt.map { ContinuousClock.now - $0 >= eventSaveInterval } ?? true)
        guard !changes.isEmpty || servicesUnsaved || eventsDue else { return nil }
        restoreHistory()
        let states = servicesUnsaved ? services : nil
        let history = events.events
        let nextSeq = events.nextSeq
        do {
            // With a fleet that knows its overrides, the file is their cache: it holds exactly what is in force.
            let mirror = fleet?.overrides != nil ? overrides : nil
            let content = try StateFile.update(stateFile, known: &stateFileSnapshot) { content in
                content.events = history
                content.eventsNextSeq = nextSeq
                if let mirror {
                    content.overrides = mirror.all
                    if let states { content.services = states }
                    return
                }
                var set = OverrideSet(content.overrides)
                for change in changes {
                    switch change {
                    case .set(let o): set.set(o)
                    case .clear(let scope, let target): set.clear(scope: scope, target: target)
                    }
                }
                content.overrides = set.all
                if let states { content.services = states }
            }
            stateFileVersion = stateFileSnapshot?.version
            servicesUnsaved = false
            eventsUnsaved = false
            eventsSavedAt = ContinuousClock.now
            let merged = OverrideSet(content.overrides)
            if merged != overrides {
                takeInOffline(merged)
                dirty = true
            }
            return nil
        } catch {
            eventsSavedAt = ContinuousClock.now
            if changes.isEmpty {
                logger.error(
                    "cannot save service state",
                    metadata: ["state.file": "\(stateFile)", "problem": "\(error)"]
                )
                return nil
            }
            logger.error(
                "cannot save the override to the state file; it is in force until restart",
                metadata: ["state.file": "\(stateFile)", "problem": "\(error)"]
            )
            return "in force, but not saved: \(error)"
        }
    }

    /// Compacts the compiled zones and hands freed memory back, when an install left that to do; from now on
    /// installs do it themselves (`deferCompaction` ends).
    public func compactIfPending() {
        deferCompaction = false
        guard compactionPending else { return }
        compactionPending = false
        let released = publisher.compact()
        // Freeing the old objects (millions with a big zone) and handing memory back take seconds there: not on
        // the steering thread, where they would hold up the next switch.
        DispatchQueue.global(qos: .utility).async {
            released?.drop()
            _ = gtmd_release_free_memory()
        }
        // The code and constant data that the start or the reload ran once (config reader, zone loader,
        // compiler, the first save) stop counting as resident once that work is over: the start's own event is
        // saved one `eventSaveInterval` after the first answer. The page cache keeps them.
        let settled = DispatchTime.now() + .milliseconds(Int(codeSettleTime / .milliseconds(1)))
        DispatchQueue.global(qos: .utility).asyncAfter(deadline: settled) { _ = gtmd_release_loaded_pages() }
    }

    /// Decodes the saved history `init` left for later and puts it before the events added since. A history that
    /// cannot be decoded is logged, and the state file is then read again (and its error reported) by every save
    /// instead of being overwritten, as when the whole file is unreadable at start.
    public func restoreHistory() {
        guard let data = pendingHistory else { return }
        pendingHistory = nil
        do {
            events.restore(older: try StateFile.decodeHistory(data, path: stateFile))
        } catch {
            stateFileSnapshot = nil
            logger.error("state file's event history unreadable", metadata: ["problem": "\(error)"])
        }
    }

    /// Writes events not saved yet now (shutdown).
    public func flushEvents() {
        guard eventsUnsaved else { return }
        eventsSavedAt = nil
        _ = save([])
    }

    /// Builds and installs a table when an input asked for one (and a health snapshot has arrived).
    /// Returns the installed table.
    @discardableResult
    public func publishIfDirty(now: Date) -> AnswerTable? {
        guard dirty, let health else { return nil }
        return publish(health: health, now: now)
    }

    func outcome(cleared: Int? = nil, problem: String? = nil) -> SteeringOutcome {
        SteeringOutcome(generation: generation, installed: false, cleared: cleared, problem: problem)
    }

    /// The one place a table is installed.
    func publish(health snapshot: HealthSnapshot, now: Date) -> AnswerTable {
        if publisher.keyEventDue(now: now) {
            rollKeys(now: now)
        } else if publisher.resignDue(now: now) {
            publisher = Publisher(prepared: publisher.prepared)
            logger.notice("dnssec: signatures due for renewal; zones compiled and signed again")
            for zone in publisher.prepared.signers.keys.map({ "\($0)".lowercased() }).sorted() {
                record(
                    GtmdEvent(
                        at: now,
                        kind: .keys,
                        action: "renewed",
                        service: zone,
                        reason: "signatures due for renewal: zone compiled and signed again"
                    )
                )
            }
        }
        let oldDecisions = decisions
        let health = effectiveHealth(snapshot)
        let failingSince = snapshot.targets.compactMapValues { t in t.checks.compactMap(\.failingSince).max() }
        let p = publisher.publish(
            health: health,
            failingSince: failingSince,
            overrides: overrides,
            services: services,
            oldDecisions: decisions,
            generation: generation + 1,
            now: now
        )
        store.install(p.table)
        if releaseMemoryAfterInstall {
            releaseMemoryAfterInstall = false
            compactionPending = true
            if !deferCompaction { compactIfPending() }
        }
        generation = p.table.generation
        dirty = false
        publishedHealth = health
        // Made only for a line that is logged.
        let took = { DurationText.fixed(p.buildTime / .microseconds(1) / 1000, places: 2) + "ms" }
        logger.debug(
            "answer table installed",
            metadata: [
                "table.generation": "\(p.table.generation)", "table.names": "\(p.table.nodeCount)",
                "table.build": "\(took())",
            ]
        )
        let changed = services != p.services
        decisions = p.decisions
        services = p.services
        nextEvaluation = p.nextEvaluation
        if let exp = p.table.signatureExpiry, Double(exp) - now.timeIntervalSince1970 < 3 * 86_400 {
            // Re-signing runs at half the validity: a signature this close to expiry means signing failed.
            logger.warning(
                "dnssec: an RRSIG served expires within 3 days",
                metadata: ["rrsig.expires": "\(Date(timeIntervalSince1970: Double(exp)))"]
            )
        }
        if let at = p.table.resignAt {
            // Signature renewal runs in this loop on a timer, like any policy timer (never past expiry).
            let due = Date(timeIntervalSince1970: Double(at))
            nextEvaluation = min(nextEvaluation ?? due, due)
        }
        if let due = publisher.nextKeyEvent {
            // A key roll happens on time the same way: its next event wakes the loop.
            nextEvaluation = min(nextEvaluation ?? due, due)
        }
        warnKeysEnding(now: now)
        for (k, _, d) in p.switched where d.switched?.from != nil { switches[k, default: 0] += 1 }
        // The last probe-caused detection outlives later switches (failback, overrides) for /metrics.
        for (k, t) in p.failovers { failovers[k] = t.keepingDetection(of: failovers[k]) }
        let downNow = Set(p.decisions.filter { (_, d) in (d.perRegion ?? [d]).contains(where: \.allPoolsDown) }.keys)
        let entered = downNow.subtracting(allDown)
        let left = allDown.subtracting(downNow)
        allDown = downNow
        for o in overrides.all where !o.isActive(at: now) && !expiredSeen.contains(Self.expiryKey(o)) {
            expiredSeen.insert(Self.expiryKey(o))
            record(overrideEvent(o, action: "expired", at: now, reason: o.summary))
        }
        for name in entered.sorted() {
            record(
                GtmdEvent(
                    at: now,
                    kind: .service,
                    action: "all-down",
                    service: name,
                    reason: p.decisions[name]?.reason ?? "-",
                    ttlNow: p.decisions[name]?.ttl,
                    generation: p.table.generation
                )
            )
            logger.error(
                "all pools down",
                metadata: ["service": "\(name)", "reason": "\(p.decisions[name]?.reason ?? "-")"]
            )
        }
        for name in left.sorted() {
            record(
                GtmdEvent(
                    at: now,
                    kind: .service,
                    action: "recovered",
                    service: name,
                    to: p.decisions[name]?.pool,
                    reason: p.decisions[name]?.reason ?? "-",
                    ttlNow: p.decisions[name]?.ttl,
                    generation: p.table.generation
                )
            )
            logger.notice(
                "a pool is available again",
                metadata: ["service": "\(name)", "pool": "\(p.decisions[name]?.pool ?? "-")"]
            )
        }
        for (name, region, d) in p.switched {
            guard let sw = d.switched else { continue }
            // What caches may still hold: the TTL of the answer this service (or region) gave before.
            let old = oldDecisions[name]
            let oldTTL: UInt32? =
                region == nil
                ? old?.ttl
                : old?.perRegion?.first { $0.reason.hasPrefix("client region \(region ?? "") ") }?.ttl ?? old?.ttl
            let timing = p.failovers[name]
            record(
                GtmdEvent(
                    at: now,
                    kind: .switch,
                    action: sw.from == nil ? "answering" : "switch",
                    service: name,
                    region: region,
                    from: sw.from,
                    to: sw.to,
                    reason: sw.reason,
                    ttl: sw.from == nil ? nil : oldTTL,
                    ttlNow: d.ttl,
                    detectionSeconds: sw.from == nil ? nil : timing?.detectionSeconds,
                    generation: p.table.generation
                )
            )
            if sw.from == nil {
                logger.notice(
                    "service answering",
                    metadata: [
                        "service": "\(name)", "pool": "\(sw.to ?? "-")", "reason": "\(sw.reason)", "ttl": "\(d.ttl)",
                    ]
                )
            } else {
                let t = failovers[name]
                logger.notice(
                    "failover switch",
                    metadata: [
                        "service": "\(name)", "from": "\(sw.from ?? "-")", "to": "\(sw.to ?? "-")",
                        "reason": "\(sw.reason)", "ttl": "\(d.ttl)", "table.build": "\(took())",
                        "table.generation": "\(p.table.generation)",
                        "detection": "\(t?.detectionSeconds.map { DurationText.fixed($0, places: 3) + "s" } ?? "-")",
                        "stale_ttl": "\(t?.staleTTL.map(String.init) ?? "-")",
                    ]
                )
            }
        }
        for (name, region, step, d) in p.ramps {
            record(
                GtmdEvent(
                    at: now,
                    kind: .switch,
                    action: step.aborted ? "ramp-aborted" : "ramp",
                    service: name,
                    region: region,
                    from: step.from,
                    to: step.to,
                    reason: step.aborted
                        ? "failback ramp to \(step.to) aborted: \(d.reason)"
                        : "failback ramp step \(step.step + 1) of \(step.steps): \(step.percent)% to \(step.to)",
                    ttlNow: d.ttl,
                    generation: p.table.generation
                )
            )
            logger.notice(
                step.aborted ? "failback ramp aborted" : "failback ramp step",
                metadata: [
                    "service": "\(name)", "region": "\(region ?? "-")", "from": "\(step.from)", "to": "\(step.to)",
                    "step": "\(step.step + 1)/\(step.steps)", "percent": "\(step.percent)", "reason": "\(d.reason)",
                    "ttl": "\(d.ttl)",
                ]
            )
        }
        if changed { servicesUnsaved = true }
        return p.table
    }

    /// Puts in force the overrides another process wrote to the state file (`checkStateFile`, or a save that
    /// read them first): each change recorded as an event, and what is now in force logged.
    private func takeInOffline(_ o: OverrideSet) {
        let before = Dictionary(overrides.all.map { ($0.key, $0) }) { _, b in b }
        let after = Dictionary(o.all.map { ($0.key, $0) }) { _, b in b }
        for (k, x) in after.sorted(by: { $0.key < $1.key }) where before[k] != x {
            record(overrideEvent(x, action: "set-offline", at: Date(), reason: x.summary))
        }
        for (k, x) in before.sorted(by: { $0.key < $1.key }) where after[k] == nil {
            record(overrideEvent(x, action: "cleared-offline", at: Date(), reason: x.summary))
        }
        overrides = o
        for x in o.all { logger.notice("override in force", metadata: ["override": "\(x.summary)"]) }
        if o.all.isEmpty { logger.notice("no overrides in force") }
    }

    /// Takes in overrides written to the state file by another process (`gtmd override --offline`).
    func checkStateFile() -> Bool {
        let m = StateFile.version(stateFile)
        guard m != stateFileVersion else { return false }
        stateFileVersion = m
        do {
            // The history in the file is this server's own: only the overrides are taken in.
            let read = try StateFile.readDeferringHistory(stateFile)
            let content = read.content
            stateFileSnapshot = read.snapshot
            let o = OverrideSet(content.overrides)
            guard o != overrides else { return false }
            takeInOffline(o)
            return true
        } catch {
            logger.error("state file unreadable; keeping the overrides in force", metadata: ["problem": "\(error)"])
            return false
        }
    }
}
