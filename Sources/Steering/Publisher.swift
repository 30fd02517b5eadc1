import Answers
import Config
import DNSWire
import FoundationEssentials
import Policy
import Zones

/// One publish: every service's decision, the switches it made (with their timing), the table built from it.
/// Invariant: `table.generation` is the generation the caller asked for; nothing here is installed yet.
public struct Publication {
    public var table: AnswerTable
    public var decisions: [String: Decision]
    public var services: [String: ServiceState]
    /// Services (and nearest regions, by name) whose answering pool changed, in config order.
    public var switched: [(service: String, region: String?, decision: Decision)]
    /// Failback ramps that started, moved a step or were aborted (service, nearest region), in config order.
    public var ramps: [(service: String, region: String?, step: RampStep, decision: Decision)] = []
    /// The failover switches of this publish, by service (only switches away from a pool).
    public var failovers: [String: FailoverTiming]
    /// When the policy must run again even if no input changes (hold-down end, override expiry).
    public var nextEvaluation: Date?
    /// How long the table took to build.
    public var buildTime: Duration
}

/// Turns (config, compiled zones, health verdicts, overrides, remembered service state, now) into a new answer
/// table. Pure apart from the table build: no clock, no I/O, no logger, no lock. `SteeringCore` owns one.
/// Invariant: `compiled` was compiled from `prepared`.
public struct Publisher {
    public let prepared: Prepared
    let compiled: CompiledZones

    public init(prepared: Prepared) {
        self.compiled = prepared.compile()
        // The compiled zones hold what serving needs; the loaded records are only read again to re-sign (a signed
        // zone is compiled again when a signature is due). Without a signed zone they go: a big zone would
        // otherwise be held twice.
        var kept = prepared
        if prepared.signers.isEmpty {
            for i in kept.zones.indices { kept.zones[i].records = [] }
        }
        self.prepared = kept
    }

    /// Compacts what the compiled zones keep for publishes (`CompiledZones.freeze`): a big zone's names and
    /// records then cost a fraction of the memory. Publishes give the same tables before and after. Returns
    /// the objects let go, to be dropped by the caller.
    public func compact() -> ReleasedGraph? { compiled.freeze() }

    /// A signature of the static answers is due to be made again: compile anew (`SteeringCore` does, with the
    /// same signers, whose caches keep every signature not yet due).
    public func resignDue(now: Date) -> Bool {
        guard let at = compiled.baseResignAt else { return false }
        return now.timeIntervalSince1970 >= Double(at)
    }

    /// A key event (timing metadata: publish, activate, inactive, delete, CDS) is due: compile anew, so the
    /// DNSKEY set, the CDS set and the signatures follow the keys' new states.
    public func keyEventDue(now: Date) -> Bool {
        guard let at = compiled.nextKeyEvent else { return false }
        return now.timeIntervalSince1970 >= Double(at)
    }

    /// When the next key event is due (the steering loop wakes then).
    public var nextKeyEvent: Date? { compiled.nextKeyEvent.map { Date(timeIntervalSince1970: Double($0)) } }

    /// Runs the policy for every service and builds a table of `generation`.
    public func publish(
        health: [String: Bool],
        failingSince: [String: Date],
        overrides all: OverrideSet,
        services oldStates: [String: ServiceState],
        oldDecisions: [String: Decision],
        generation: UInt64,
        now: Date
    ) -> Publication {
        let config = prepared.config
        let overrides = all.active(at: now)
        let views = Policy.views(pools: config.pools, health: health, overrides: overrides)
        var decisions: [String: Decision] = [:]
        var states: [String: ServiceState] = [:]
        var dynamic: [DNSName: AnswerTableBuilder.Dynamic] = [:]
        var next: Date? = overrides.nextExpiry(after: now)
        var switched: [(String, String?, Decision)] = []
        var ramps: [(String, String?, RampStep, Decision)] = []
        for service in config.services {
            let key = service.name.description
            let d = Policy.decide(
                service: service,
                views: views,
                overrides: overrides,
                state: oldStates[key] ?? ServiceState(),
                now: now
            )
            decisions[key] = d
            states[key] = d.state
            if let n = d.nextEvaluation { next = min(next ?? n, n) }
            if d.switched != nil, d.perRegion == nil { switched.append((key, nil, d)) }
            for (i, r) in (d.perRegion ?? []).enumerated() where r.switched != nil {
                switched.append((key, i < service.regionOrder.count ? service.regionOrder[i].region : "region \(i)", r))
            }
            if let c = d.rampChanged, d.perRegion == nil { ramps.append((key, nil, c, d)) }
            for (i, r) in (d.perRegion ?? []).enumerated() {
                guard let c = r.rampChanged else { continue }
                ramps.append((key, i < service.regionOrder.count ? service.regionOrder[i].region : "region \(i)", c, r))
            }
            dynamic[service.name] = Publisher.dynamic(for: d, service: service)
        }
        let started = ContinuousClock.now
        let table = compiled.table(dynamic: dynamic, generation: generation)
        let buildTime = ContinuousClock.now - started
        var failovers: [String: FailoverTiming] = [:]
        for (k, _, d) in switched {
            guard let sw = d.switched, let from = sw.from else { continue }
            let members = config.pools.first { $0.name == from }?.members ?? []
            // The failure that made the pool unavailable: the latest start of a failing run among its down members.
            let began = members.compactMap { m in health[m.targetID] == false ? failingSince[m.targetID] : nil }.max()
            let detection = began.map { now.timeIntervalSince($0) }
            var timing = FailoverTiming(
                at: now,
                from: from,
                to: sw.to,
                reason: sw.reason,
                detectionSeconds: detection,
                staleTTL: oldDecisions[k]?.ttl
            )
            // A probe-caused switch is its own last detection; `SteeringCore` carries the previous one
            // through switches no probe failure caused (failback, overrides).
            timing.lastDetectionSeconds = detection
            timing.lastDetectionAt = detection != nil ? now : nil
            failovers[k] = timing
        }
        return Publication(
            table: table,
            decisions: decisions,
            services: states,
            switched: switched,
            ramps: ramps,
            failovers: failovers,
            nextEvaluation: next,
            buildTime: buildTime
        )
    }

    /// The decision as records for the answer table. nearest: one variant per client region, collapsed to
    /// one when every region gets the same answer (then the answer does not depend on the client: ECS scope 0).
    static func dynamic(for d: Decision, service: ServiceConfig) -> AnswerTableBuilder.Dynamic {
        guard let per = d.perRegion else { return dynamic(for: d, name: service.name) }
        let each = per.map { dynamic(for: $0, name: service.name) }
        if each.allSatisfy({ $0 == each[0] }) { return each[0] }
        // A region whose answer is empty gets NODATA, one whose answer is SERVFAIL gets SERVFAIL. A region in a
        // failback ramp has query-ID variants: every region gets the same number (the least common multiple;
        // ramp variant counts divide 100), a region's own repeated to fill it.
        func gcd(_ a: Int, _ b: Int) -> Int { b == 0 ? a : gcd(b, a % b) }
        let lcm = each.map { max(1, $0.variants.count) }.reduce(1) { $0 / gcd($0, $1) * $1 }
        // Ramp variant counts divide 100, so this holds for up to 655 regions; past that, the first variant.
        let n = lcm * each.count <= Int(UInt16.max) ? lcm : 1
        return .init(
            variants: each.flatMap { r in (0..<n).map { r.variants.isEmpty ? [] : r.variants[$0 % r.variants.count] } },
            byRegion: true,
            useECS: service.useECS,
            servfailVariants: Set(each.indices.filter { each[$0].servfail }),
            variantErrors: Dictionary(
                uniqueKeysWithValues: each.indices.compactMap { i in each[i].extendedError.map { (i, $0) } }
            ),
            perRegion: n
        )
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
        // Every pool down (Policy.allDown: fail-open, all, empty, SERVFAIL): an Extended DNS Error says so.
        let ede = d.allPoolsDown ? "\(name): \(d.reason)" : nil
        switch d.outcome {
        case .members(let m): return .init(variants: [records(m)], extendedError: ede)
        case .variants(let vs): return .init(variants: vs.map(records), extendedError: ede)
        case .empty: return .init(variants: [[]], extendedError: ede)
        case .servfail: return .init(variants: [[]], servfail: true, extendedError: ede)
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

    /// Carries the last probe-caused detection of `previous` (the service's failover before this one) when
    /// this switch has none of its own.
    public func keepingDetection(of previous: FailoverTiming?) -> FailoverTiming {
        guard lastDetectionSeconds == nil, let previous else { return self }
        var t = self
        t.lastDetectionSeconds = previous.lastDetectionSeconds
        t.lastDetectionAt = previous.lastDetectionAt
        return t
    }
}

extension Decision {
    /// No pool of the service was available when it decided (the reason `Policy.allDown` gives).
    public var allPoolsDown: Bool { reason.hasPrefix("all pools down") }
    /// All pools down, answered with the first pool anyway (`when_all_down: fail-open`).
    public var failOpen: Bool { reason.hasPrefix("all pools down: fail-open") }
}
