import DNSWire
import FoundationEssentials

/// A pool member with its effective state (health after overrides) and why.
public struct MemberView: Sendable, Hashable {
    public var member: PoolMember
    public var up: Bool
    public var reason: String
}

/// A pool with its members' effective states and whether its availability rule is met.
public struct PoolView: Sendable, Hashable {
    public var pool: PoolConfig
    public var members: [MemberView]
    public var available: Bool
    public var reason: String
    public var upMembers: [PoolMember] { members.filter(\.up).map(\.member) }
    public var allMembers: [PoolMember] { members.map(\.member) }
}

/// What the policy remembers about a service between decisions (persisted in the state file).
public struct ServiceState: Codable, Sendable, Hashable {
    /// The pool answering now (failover), nil before the first decision.
    public var pool: String?
    /// When the service switched to `pool`.
    public var since: Date?
    /// failback manual: held on a standby until an operator releases it.
    public var held: Bool = false
    /// Pool name → since when it has been continuously available (hold-down).
    public var availableSince: [String: Date] = [:]
    /// nearest: the state of each client region's failover, by region name.
    public var regions: [String: ServiceState]? = nil
    /// failback ramp in progress (absent in state files written before ramps existed).
    public var ramp: RampState? = nil
    public init(
        pool: String? = nil,
        since: Date? = nil,
        held: Bool = false,
        availableSince: [String: Date] = [:],
        regions: [String: ServiceState]? = nil
    ) {
        self.pool = pool
        self.since = since
        self.held = held
        self.availableSince = availableSince
        self.regions = regions
    }
}

/// A failback ramp in progress: traffic moves from `from` (the pool answering) back to the better pool `to`,
/// started at `started`; `step` is the index in `FailbackRamp.steps` last answered.
public struct RampState: Codable, Sendable, Hashable {
    public var from: String
    public var to: String
    public var started: Date
    public var step: Int
    public init(from: String, to: String, started: Date, step: Int) {
        self.from = from
        self.to = to
        self.started = started
        self.step = step
    }
}

/// A ramp step as answered: `percent` of the answers come from `to`, the rest from `from`. `percent` 0 with
/// `aborted` = the better pool failed during the ramp and everything went back to `from`.
public struct RampStep: Sendable, Hashable {
    public var from: String
    public var to: String
    /// Index in the configured steps (of `steps` in all).
    public var step: Int
    public var steps: Int
    public var percent: Int
    public var aborted: Bool = false
    public var reason: String
}

/// The policy's answer for one service. Pure data: the table builder turns it into records.
public struct Decision: Sendable, Hashable {
    public enum Outcome: Sendable, Hashable {
        /// Answer these members (A/AAAA by family, or the CNAME).
        case members([PoolMember])
        /// weighted: one answer per variant; the responder picks `query ID % variants.count`.
        case variants([[PoolMember]])
        /// NOERROR with no data (when_all_down: empty).
        case empty
        /// SERVFAIL (when_all_down: servfail).
        case servfail
    }
    public var outcome: Outcome
    /// The pool answering (failover), nil when the answer spans pools or none is available.
    public var pool: String?
    public var ttl: UInt32
    public var ttlReason: String
    public var reason: String
    public var degraded: Bool
    public var state: ServiceState
    /// Set when the answering pool changed in this decision.
    public var switched: Switch?
    /// The policy must run again at this time even if nothing changes (hold-down end, switch interval end).
    public var nextEvaluation: Date?
    /// nearest: one failover decision per client region, indexed like `GtmdConfig.regions` (the top-level
    /// outcome, pool and reason are the first region's; ttl is the lowest, degraded if any is).
    public var perRegion: [Decision]? = nil
    /// failback ramp: the step answered now (nil when no ramp is in progress).
    public var ramp: RampStep? = nil
    /// Set when a ramp started, moved to its next step or was aborted in this decision (its completion is
    /// the `switched` of the same decision).
    public var rampChanged: RampStep? = nil

    public struct Switch: Sendable, Hashable {
        public var from: String?
        public var to: String?
        public var reason: String
    }
}

/// Pure functions: (pools, health, overrides, state, now) → answer and TTL. No clock, I/O or logger.
/// Each policy is one unit (`PolicyUnit`: `FailoverPolicy`, `NearestPolicy`, `AllPolicy`, `WeightedPolicy`);
/// this holds what they share: the effective pool views, the dispatch, the TTL rule and the all-down answer.
public enum Policy {
    /// Effective member and pool states. `health[targetID]` is the prober's verdict; a member with no
    /// checks (or not yet in the snapshot) counts as up. Overrides win over health, pool overrides over members.
    public static func views(pools: [PoolConfig], health: [String: Bool], overrides: OverrideSet) -> [String: PoolView]
    {
        var out: [String: PoolView] = [:]
        for pool in pools {
            let poolForce = overrides.pool(pool.name)
            var members: [MemberView] = []
            for m in pool.members {
                var up: Bool
                var reason: String
                if let h = health[m.targetID] {
                    up = h
                    reason = h ? "healthy" : "failing checks"
                } else {
                    up = true
                    reason = m.checks.isEmpty ? "no checks" : "no verdict yet"
                }
                if let f = overrides.member(m.targetID) {
                    up = f == .up
                    reason = "forced \(f.rawValue) by override"
                }
                if let f = poolForce {
                    up = f == .up
                    reason = "pool forced \(f.rawValue) by override"
                }
                members.append(MemberView(member: m, up: up, reason: reason))
            }
            let upCount = members.filter(\.up).count
            let available = pool.rule.isAvailable(up: upCount, total: members.count)
            let reason =
                "\(upCount)/\(members.count) up, rule \(pool.rule)"
                + (poolForce.map { ", forced \($0.rawValue)" } ?? "")
            out[pool.name] = PoolView(pool: pool, members: members, available: available, reason: reason)
        }
        return out
    }

    /// The decision of the service's policy unit.
    public static func decide(
        service s: ServiceConfig,
        views: [String: PoolView],
        overrides: OverrideSet,
        state old: ServiceState,
        now: Date
    ) -> Decision {
        PolicyUnits.unit(for: s.policy).decide(service: s, views: views, overrides: overrides, state: old, now: now)
    }

    /// The part every policy shares once it has chosen its answer: the TTL (degraded while not on the first
    /// pool, while a member is down or all are down), the switch record (`tracksPool`: failover remembers
    /// its pool) and when to run again.
    static func finish(
        _ s: ServiceConfig,
        pools: [PoolView],
        outcome: Decision.Outcome,
        pool: String?,
        reason: String,
        tracksPool: Bool,
        state: ServiceState,
        old: ServiceState,
        overrides: OverrideSet,
        now: Date,
        next: Date?
    ) -> Decision {
        var state = state
        var next = next
        let anyMemberDown = pools.contains { $0.members.contains { !$0.up } }
        let onFirst = !tracksPool || (pool != nil && pool == s.pools.first)
        let allDownNow: Bool
        switch outcome {
        case .empty, .servfail: allDownNow = true
        default: allDownNow = pool == nil && tracksPool
        }
        let degraded = !onFirst || anyMemberDown || allDownNow
        let ttl = s.clamp(degraded ? s.degradedTTL : s.ttl)
        let ttlReason: String
        if !degraded {
            ttlReason = "healthy: ttl \(s.ttl)"
        } else if allDownNow {
            ttlReason = "all pools down: degraded_ttl \(s.degradedTTL)"
        } else if !onFirst {
            ttlReason = "not on the first pool: degraded_ttl \(s.degradedTTL)"
        } else {
            ttlReason = "a member is down: degraded_ttl \(s.degradedTTL)"
        }
        var switched: Decision.Switch? = nil
        if tracksPool && pool != old.pool {
            switched = .init(from: old.pool, to: pool, reason: reason)
            state.pool = pool
            state.since = now
        }
        if let e = overrides.nextExpiry(after: now) { next = min(next ?? e, e) }
        return Decision(
            outcome: outcome,
            pool: pool,
            ttl: ttl,
            ttlReason: ttlReason + (ttl != (degraded ? s.degradedTTL : s.ttl) ? " (clamped to \(ttl))" : ""),
            reason: reason,
            degraded: degraded,
            state: state,
            switched: switched,
            nextEvaluation: next
        )
    }

    /// The shape `all` and `weighted` share: an answer made from the up members of every available pool (`answer`
    /// returns nil when there is nothing to answer), no pool of their own to remember, `when_all_down` otherwise.
    static func acrossPools(
        _ s: ServiceConfig,
        views: [String: PoolView],
        overrides: OverrideSet,
        state: ServiceState,
        now: Date,
        answer: ([PoolMember]) -> (Decision.Outcome, String)?
    ) -> Decision {
        let pools = s.pools.compactMap { views[$0] }
        let (outcome, reason) = answer(pools.filter(\.available).flatMap(\.upMembers)) ?? allDown(s, pools)
        return finish(
            s,
            pools: pools,
            outcome: outcome,
            pool: nil,
            reason: reason,
            tracksPool: false,
            state: state,
            old: state,
            overrides: overrides,
            now: now,
            next: nil
        )
    }

    static func allDown(_ s: ServiceConfig, _ pools: [PoolView]) -> (Decision.Outcome, String) {
        switch s.whenAllDown {
        case .failOpen:
            return (
                .members(pools.first?.allMembers ?? []), "all pools down: fail-open to \(pools.first?.pool.name ?? "-")"
            )
        case .all:
            return (
                .members(pools.flatMap(\.allMembers).filter { s.policy != .weighted || $0.weight > 0 }),
                "all pools down: answering every member"
            )
        case .empty: return (.empty, "all pools down: empty answer")
        case .servfail: return (.servfail, "all pools down: SERVFAIL")
        }
    }

    static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }
    static func fmt(_ d: Date) -> String { d.formatted(.iso8601) }
}
