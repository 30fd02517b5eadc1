import Answers
import Config
import Foundation
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

    public init(
        prepared: Prepared,
        stateFile: String,
        overrides: OverrideSet,
        decisions: [String: Decision],
        switches: [String: Int],
        failovers: [String: FailoverTiming],
        generation: UInt64
    ) {
        self.prepared = prepared
        self.stateFile = stateFile
        self.overrides = overrides
        self.decisions = decisions
        self.switches = switches
        self.failovers = failovers
        self.generation = generation
    }
}

/// The state of the one writer and the step from an input to an installed table. Not thread-safe: only
/// `SteeringLoop` (or a test, with its own clock) drives it. `now` is always an argument.
/// Invariant: every installed table has a higher generation than the one before.
public final class SteeringCore {
    public let store: AnswerStore
    public let stateFile: String
    let logger: Logger
    public private(set) var publisher: Publisher
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
    /// The verdicts of the last publish.
    var publishedHealth: [String: Bool]?
    /// A publish changed the services' remembered state and it is not saved yet (`save`).
    var servicesUnsaved = false
    var stateFileMTime: Date?

    public init(prepared: Prepared, store: AnswerStore, stateFile: String, logger: Logger) {
        self.store = store
        self.stateFile = stateFile
        self.logger = logger
        self.publisher = Publisher(prepared: prepared)
        stateFileMTime = StateFile.mtime(stateFile)
        do {
            let content = try StateFile.read(stateFile)
            overrides = OverrideSet(content.overrides)
            services = content.services
            if !content.overrides.isEmpty {
                logger.notice(
                    "overrides loaded",
                    metadata: ["state.file": "\(stateFile)", "overrides": "\(content.overrides.count)"]
                )
            }
        } catch {
            logger.error("state file unreadable; starting without overrides", metadata: ["problem": "\(error)"])
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
            generation: generation
        )
    }

    /// Applies one input to the state (no table is built here); returns what the caller should be told.
    /// An override change is saved to the state file here, after it is in force in memory.
    public func apply(_ input: SteeringInput, now: Date) -> SteeringOutcome {
        switch input {
        case .health(let snapshot):
            health = snapshot
            if snapshot.targets.mapValues(\.isUp) != publishedHealth { dirty = true }
            return outcome()
        case .reload(var prepared):
            // A zone signed with the same keys keeps its signer: the reload signs only what changed.
            for (zone, signer) in prepared.signers {
                if let old = publisher.prepared.signers[zone], old.signsLike(signer) { prepared.signers[zone] = old }
            }
            publisher = Publisher(prepared: prepared)
            dirty = true
            return outcome()
        case .override(let change):
            var removed: Int? = nil
            switch change {
            case .set(let o): overrides.set(o)
            case .clear(let scope, let target): removed = overrides.clear(scope: scope, target: target)
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
        guard !changes.isEmpty || servicesUnsaved else { return nil }
        let states = servicesUnsaved ? services : nil
        do {
            let content = try StateFile.update(stateFile) { content in
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
            stateFileMTime = StateFile.mtime(stateFile)
            servicesUnsaved = false
            let merged = OverrideSet(content.overrides)
            if merged != overrides {
                overrides = merged
                dirty = true
            }
            return nil
        } catch {
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
        if publisher.resignDue(now: now) {
            publisher = Publisher(prepared: publisher.prepared)
            logger.notice("dnssec: signatures due for renewal; zones compiled and signed again")
        }
        let health = snapshot.targets.mapValues(\.isUp)
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
        generation = p.table.generation
        dirty = false
        publishedHealth = health
        let took = String(
            format: "%.2fms",
            Double(p.buildTime.components.seconds) * 1000
                + Double(p.buildTime.components.attoseconds) / 1e15
        )
        logger.debug(
            "answer table installed",
            metadata: [
                "table.generation": "\(p.table.generation)", "table.names": "\(p.table.nodeCount)",
                "table.build": "\(took)",
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
        for (k, d) in p.switched where d.switched?.from != nil { switches[k, default: 0] += 1 }
        // The last probe-caused detection outlives later switches (failback, overrides) for /metrics.
        for (k, t) in p.failovers { failovers[k] = t.keepingDetection(of: failovers[k]) }
        let downNow = Set(p.decisions.filter { (_, d) in (d.perRegion ?? [d]).contains(where: \.allPoolsDown) }.keys)
        let entered = downNow.subtracting(allDown)
        let left = allDown.subtracting(downNow)
        allDown = downNow
        for name in entered.sorted() {
            logger.error(
                "all pools down",
                metadata: ["service": "\(name)", "reason": "\(p.decisions[name]?.reason ?? "-")"]
            )
        }
        for name in left.sorted() {
            logger.notice(
                "a pool is available again",
                metadata: ["service": "\(name)", "pool": "\(p.decisions[name]?.pool ?? "-")"]
            )
        }
        for (name, d) in p.switched {
            guard let sw = d.switched else { continue }
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
                        "reason": "\(sw.reason)", "ttl": "\(d.ttl)", "table.build": "\(took)",
                        "table.generation": "\(p.table.generation)",
                        "detection": "\(t?.detectionSeconds.map { String(format: "%.3fs", $0) } ?? "-")",
                        "stale_ttl": "\(t?.staleTTL.map(String.init) ?? "-")",
                    ]
                )
            }
        }
        if changed { servicesUnsaved = true }
        return p.table
    }

    /// Takes in overrides written to the state file by another process (`gtmd override --offline`).
    func checkStateFile() -> Bool {
        let m = StateFile.mtime(stateFile)
        guard m != stateFileMTime else { return false }
        stateFileMTime = m
        do {
            let content = try StateFile.read(stateFile)
            let o = OverrideSet(content.overrides)
            guard o != overrides else { return false }
            overrides = o
            for o in content.overrides { logger.notice("override in force", metadata: ["override": "\(o.summary)"]) }
            if content.overrides.isEmpty { logger.notice("no overrides in force") }
            return true
        } catch {
            logger.error("state file unreadable; keeping the overrides in force", metadata: ["problem": "\(error)"])
            return false
        }
    }
}
