import Answers
import Config
import DNSWire
import Foundation
import Health
import Logging
import Policy
import Synchronization

/// Turns (config, zones, health verdicts, overrides, remembered service state) into an answer table and
/// installs it whole. Every switch is logged at notice and counted. Runs on the control loop, never on
/// the query path: queries keep being served from the previous table while a new one is built.
public final class Publisher: Sendable {
    struct State {
        var prepared: Prepared
        var compiled: CompiledZones
        var services: [String: ServiceState] = [:]
        var overrides = OverrideSet()
        var decisions: [String: Decision] = [:]
        var switches: [String: Int] = [:]
        var failovers: [String: FailoverTiming] = [:]
        var nextEvaluation: Date? = nil
        /// Services with no available pool at the last publish (logged at error on the way in).
        var allDown: Set<String> = []
    }

    let logger: Logger
    let store: AnswerStore
    let stateFile: String
    let generation: GenerationCounter
    private let state: Mutex<State>

    init(prepared: Prepared, store: AnswerStore, stateFile: String, generation: GenerationCounter, logger: Logger) {
        self.logger = logger
        self.store = store
        self.stateFile = stateFile
        self.generation = generation
        var s = State(prepared: prepared, compiled: prepared.compile())
        do {
            let content = try StateFile.read(stateFile)
            s.overrides = OverrideSet(content.overrides)
            s.services = content.services
            if !content.overrides.isEmpty {
                logger.notice("overrides loaded", metadata: ["state.file": "\(stateFile)", "overrides": "\(content.overrides.count)"])
            }
        } catch {
            logger.error("state file unreadable; starting without overrides", metadata: ["problem": "\(error)"])
        }
        self.state = Mutex(s)
    }

    /// Replaces config and zones (reload); the remembered service state and overrides are kept.
    func replace(_ prepared: Prepared) {
        // Compiled under the lock: the compiled zones are not Sendable and stay inside it.
        state.withLock { $0.prepared = prepared; $0.compiled = prepared.compile() }
    }

    var prepared: Prepared { state.withLock { $0.prepared } }
    var nextEvaluation: Date? { state.withLock { $0.nextEvaluation } }
    public var decisions: [String: Decision] { state.withLock { $0.decisions } }
    public var switchCounts: [String: Int] { state.withLock { $0.switches } }
    /// The last failover switch of each service (for metrics and status).
    public var failovers: [String: FailoverTiming] { state.withLock { $0.failovers } }
    /// Overrides as last read from the state file (expired ones included until removed).
    public var overrides: OverrideSet { state.withLock { $0.overrides } }

    /// Re-reads the overrides from the state file (after `gtmd override` changed it).
    func reloadOverrides() {
        do {
            let content = try StateFile.read(stateFile)
            let changed = state.withLock { s -> Bool in
                let o = OverrideSet(content.overrides)
                defer { s.overrides = o }
                return o != s.overrides
            }
            if changed {
                for o in content.overrides { logger.notice("override in force", metadata: ["override": "\(o.summary)"]) }
                if content.overrides.isEmpty { logger.notice("no overrides in force") }
            }
        } catch {
            logger.error("state file unreadable; keeping the overrides in force", metadata: ["problem": "\(error)"])
        }
    }

    /// Runs the policy for every service and installs a new table. Returns the installed table.
    @discardableResult
    func publish(health: [String: Bool], failingSince: [String: Date] = [:], now: Date = Date()) -> AnswerTable {
        let (prepared, overrides, oldStates, oldDecisions) = state.withLock {
            ($0.prepared, $0.overrides.active(at: now), $0.services, $0.decisions)
        }
        let config = prepared.config
        let views = Policy.views(pools: config.pools, health: health, overrides: overrides)
        var decisions: [String: Decision] = [:]
        var states: [String: ServiceState] = [:]
        var dynamic: [DNSName: AnswerTableBuilder.Dynamic] = [:]
        var next: Date? = overrides.nextExpiry(after: now)
        var switched: [(String, Decision)] = []
        for service in config.services {
            let key = service.name.description
            let d = Policy.decide(service: service, views: views, overrides: overrides,
                                  state: oldStates[key] ?? ServiceState(), now: now)
            decisions[key] = d
            states[key] = d.state
            if let n = d.nextEvaluation { next = min(next ?? n, n) }
            if d.switched != nil { switched.append((key, d)) }
            for r in d.perRegion ?? [] where r.switched != nil { switched.append((key, r)) }
            dynamic[service.name] = Publisher.dynamic(for: d, service: service)
        }
        let started = ContinuousClock.now
        let gen = generation.next()
        let table = state.withLock { $0.compiled.table(dynamic: dynamic, generation: gen) }
        store.install(table)
        let elapsed = ContinuousClock.now - started
        let took = String(format: "%.2fms", Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15)
        logger.debug("answer table installed", metadata: [
            "table.generation": "\(table.generation)", "table.names": "\(table.nodeCount)", "table.build": "\(took)",
        ])
        let persist = state.withLock { s -> Bool in
            let changed = s.services != states
            s.decisions = decisions
            s.services = states
            s.nextEvaluation = next
            for (k, d) in switched where d.switched?.from != nil { s.switches[k, default: 0] += 1 }
            for (k, d) in switched {
                guard let sw = d.switched, let from = sw.from else { continue }
                let members = config.pools.first { $0.name == from }?.members ?? []
                // The failure that made the pool unavailable: the latest start of a failing run among its down members.
                let started = members.compactMap { m in health[m.targetID] == false ? failingSince[m.targetID] : nil }.max()
                let detection = started.map { now.timeIntervalSince($0) }
                var timing = FailoverTiming(at: now, from: from, to: sw.to, reason: sw.reason,
                                            detectionSeconds: detection, staleTTL: oldDecisions[k]?.ttl)
                // The last probe-caused detection outlives later switches (failback, overrides) for /metrics.
                let previous = s.failovers[k]
                timing.lastDetectionSeconds = detection ?? previous?.lastDetectionSeconds
                timing.lastDetectionAt = detection != nil ? now : previous?.lastDetectionAt
                s.failovers[k] = timing
            }
            return changed
        }
        let downNow = Set(decisions.filter { (_, d) in (d.perRegion ?? [d]).contains(where: Metrics.allPoolsDown) }.keys)
        let (entered, left) = state.withLock { s -> (Set<String>, Set<String>) in
            defer { s.allDown = downNow }
            return (downNow.subtracting(s.allDown), s.allDown.subtracting(downNow))
        }
        for name in entered.sorted() {
            logger.error("all pools down", metadata: ["service": "\(name)", "reason": "\(decisions[name]?.reason ?? "-")"])
        }
        for name in left.sorted() {
            logger.notice("a pool is available again", metadata: ["service": "\(name)", "pool": "\(decisions[name]?.pool ?? "-")"])
        }
        for (name, d) in switched {
            guard let sw = d.switched else { continue }
            if sw.from == nil {
                logger.notice("service answering", metadata: [
                    "service": "\(name)", "pool": "\(sw.to ?? "-")", "reason": "\(sw.reason)", "ttl": "\(d.ttl)",
                ])
            } else {
                let t = failovers[name]
                logger.notice("failover switch", metadata: [
                    "service": "\(name)", "from": "\(sw.from ?? "-")", "to": "\(sw.to ?? "-")",
                    "reason": "\(sw.reason)", "ttl": "\(d.ttl)", "table.build": "\(took)",
                    "detection": "\(t?.detectionSeconds.map { String(format: "%.3fs", $0) } ?? "-")",
                    "stale_ttl": "\(t?.staleTTL.map(String.init) ?? "-")",
                ])
            }
        }
        if persist {
            do {
                try StateFile.update(stateFile) { $0.services = states }
            } catch {
                logger.error("cannot save service state", metadata: ["problem": "\(error)"])
            }
        }
        return table
    }

    /// The decision as records for the answer table. nearest: one variant per client region, collapsed to
    /// one when every region gets the same answer (then the answer does not depend on the client: ECS scope 0).
    static func dynamic(for d: Decision, service: ServiceConfig) -> AnswerTableBuilder.Dynamic {
        guard let per = d.perRegion else { return dynamic(for: d, name: service.name) }
        let each = per.map { dynamic(for: $0, name: service.name) }
        if each.allSatisfy({ $0 == each[0] }) { return each[0] }
        // A region whose answer is empty gets NODATA, one whose answer is SERVFAIL gets SERVFAIL.
        return .init(variants: each.map { $0.variants.first ?? [] }, byRegion: true, useECS: service.useECS,
                     servfailVariants: Set(each.indices.filter { each[$0].servfail }))
    }

    static func dynamic(for d: Decision, name: DNSName) -> AnswerTableBuilder.Dynamic {
        func records(_ members: [PoolMember]) -> [ResourceRecord] {
            members.compactMap { m in
                if let c = m.cname { return ResourceRecord(owner: name, type: RRType.CNAME, ttl: d.ttl, rdata: c.wire) }
                switch m.address {
                case .v4(let b)?: return ResourceRecord(owner: name, type: RRType.A, ttl: d.ttl, rdata: b)
                case .v6(let b)?: return ResourceRecord(owner: name, type: RRType.AAAA, ttl: d.ttl, rdata: b)
                case nil: return nil
                }
            }
        }
        switch d.outcome {
        case .members(let m): return .init(variants: [records(m)])
        case .variants(let vs): return .init(variants: vs.map(records))
        case .empty: return .init(variants: [[]])
        case .servfail: return .init(variants: [[]], servfail: true)
        }
    }
}

/// One failover switch: when, between which pools, how long after the first failed probe of the failure
/// that caused it (nil when no probe failure caused it, e.g. an override), and the TTL of the answer served
/// before the switch (clients may keep the old pool's answer that long).
public struct FailoverTiming: Sendable, Hashable, Codable {
    public var at: Date
    public var from: String
    public var to: String?
    public var reason: String
    public var detectionSeconds: Double?
    public var staleTTL: UInt32?
    /// The detection time of the latest switch that failed probes caused (this one or an earlier one), and
    /// when that switch happened: kept through failbacks and override switches.
    public var lastDetectionSeconds: Double? = nil
    public var lastDetectionAt: Date? = nil
}
