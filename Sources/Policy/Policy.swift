import Config
import DNSWire
import Foundation

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

    public struct Switch: Sendable, Hashable {
        public var from: String?
        public var to: String?
        public var reason: String
    }
}

/// Pure functions: (pools, health, overrides, state, now) → answer and TTL. No clock, I/O or logger.
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

    public static func decide(
        service s: ServiceConfig,
        views: [String: PoolView],
        overrides: OverrideSet,
        state old: ServiceState,
        now: Date
    ) -> Decision {
        if s.policy == .nearest { return nearest(service: s, views: views, overrides: overrides, state: old, now: now) }
        let pools = s.pools.compactMap { views[$0] }
        var state = old
        // Continuous availability, for hold-down.
        for p in pools {
            if p.available {
                if state.availableSince[p.pool.name] == nil { state.availableSince[p.pool.name] = now }
            } else {
                state.availableSince[p.pool.name] = nil
            }
        }
        let anyMemberDown = pools.contains { $0.members.contains { !$0.up } }
        var next: Date? = nil
        var outcome: Decision.Outcome
        var pool: String? = nil
        var reason: String

        switch s.policy {
        case .all:
            let up = pools.filter(\.available).flatMap(\.upMembers)
            if up.isEmpty {
                (outcome, reason) = allDown(s, pools)
            } else {
                outcome = .members(up)
                reason = "all available members"
            }
        case .weighted:
            let up = pools.filter(\.available).flatMap(\.upMembers).filter { $0.weight > 0 }
            if up.isEmpty {
                (outcome, reason) = allDown(s, pools)
            } else {
                outcome = .variants(weightedVariants(up, answers: s.answers))
                reason = "weighted over available members"
            }
        case .failover, .nearest:
            let chosen = failover(s, pools, overrides: overrides, state: &state, now: now, next: &next)
            pool = chosen.pool
            reason = chosen.reason
            if let name = chosen.pool, let view = views[name] {
                let up = view.upMembers
                // A pinned or held pool with no member up still answers with all its members (fail-open).
                outcome = .members(up.isEmpty ? view.allMembers : up)
            } else {
                (outcome, reason) = allDown(s, pools)
            }
        }

        let onFirst = s.policy != .failover || (pool != nil && pool == s.pools.first)
        let allDownNow: Bool
        switch outcome {
        case .empty, .servfail: allDownNow = true
        default: allDownNow = pool == nil && s.policy == .failover
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
        if s.policy == .failover && pool != old.pool {
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

    /// The failover choice: the first available pool, with pinning, manual failback, hold-down and the
    /// minimum time between switches. Switching away from a pool that is no longer available is never delayed.
    static func failover(
        _ s: ServiceConfig,
        _ pools: [PoolView],
        overrides: OverrideSet,
        state: inout ServiceState,
        now: Date,
        next: inout Date?
    ) -> (pool: String?, reason: String) {
        let name = s.name.description
        if let pin = overrides.pin(name), pools.contains(where: { $0.pool.name == pin }) {
            state.held = false
            return (pin, "pinned to \(pin) by override")
        }
        guard let bestIndex = pools.firstIndex(where: \.available) else { return (nil, "no pool available") }
        let best = pools[bestIndex]
        guard let currentName = state.pool, let currentIndex = pools.firstIndex(where: { $0.pool.name == currentName })
        else {
            state.held = false
            return (
                best.pool.name,
                bestIndex == 0 ? "\(best.pool.name) available" : "\(best.pool.name) is the first available pool"
            )
        }
        let current = pools[currentIndex]
        if !current.available {
            // Failover (or to anything available): immediate.
            state.held = s.failback == .manual && bestIndex > 0
            return (
                best.pool.name,
                "\(current.pool.name) unavailable (\(current.reason)); \(best.pool.name) is the first available pool"
            )
        }
        if bestIndex >= currentIndex {
            if bestIndex > currentIndex { return (current.pool.name, "\(current.pool.name) still available") }
            return (
                current.pool.name,
                currentIndex == 0
                    ? "\(current.pool.name) available" : "\(current.pool.name) is the first available pool"
            )
        }
        // A better pool is available again: failback, subject to manual mode, hold-down and switch interval.
        if s.failback == .manual && state.held {
            if let released = overrides.release(name), let since = state.since, released >= since {
                state.held = false
            } else {
                return (
                    current.pool.name,
                    "failback manual: held on \(current.pool.name) until released (\(best.pool.name) available)"
                )
            }
        }
        if s.holdDown > .zero, let since = state.availableSince[best.pool.name] {
            let until = since.addingTimeInterval(seconds(s.holdDown))
            if now < until {
                next = min(next ?? until, until)
                return (
                    current.pool.name,
                    "hold-down: \(best.pool.name) available since \(fmt(since)), failback at \(fmt(until))"
                )
            }
        }
        if s.minSwitchInterval > .zero, let last = state.since {
            let until = last.addingTimeInterval(seconds(s.minSwitchInterval))
            if now < until {
                next = min(next ?? until, until)
                return (
                    current.pool.name, "min_switch_interval: last switch at \(fmt(last)), failback at \(fmt(until))"
                )
            }
        }
        state.held = false
        return (best.pool.name, "failback: \(best.pool.name) available again")
    }

    /// nearest: for each client region, failover over that region's pool order (its own state, so
    /// hold-down, manual failback and switch intervals apply per region; a pin applies to every region).
    static func nearest(
        service s: ServiceConfig,
        views: [String: PoolView],
        overrides: OverrideSet,
        state old: ServiceState,
        now: Date
    ) -> Decision {
        var per: [Decision] = []
        var regions: [String: ServiceState] = [:]
        for order in s.regionOrder {
            var sub = s
            sub.policy = .failover
            sub.pools = order.pools
            var d = decide(
                service: sub,
                views: views,
                overrides: overrides,
                state: old.regions?[order.region] ?? ServiceState(),
                now: now
            )
            d.reason =
                "client region \(order.region) (\(order.basis): \(order.pools.joined(separator: " > "))): \(d.reason)"
            if let sw = d.switched { d.switched?.reason = "client region \(order.region): \(sw.reason)" }
            regions[order.region] = d.state
            per.append(d)
        }
        guard var top = per.first else {
            return Decision(
                outcome: .empty,
                pool: nil,
                ttl: s.clamp(s.degradedTTL),
                ttlReason: "no regions",
                reason: "no regions",
                degraded: true,
                state: old,
                switched: nil,
                nextEvaluation: nil
            )
        }
        top.ttl = per.map(\.ttl).min() ?? top.ttl
        top.degraded = per.contains(where: \.degraded)
        top.switched = nil
        top.state = ServiceState(regions: regions)
        top.nextEvaluation = per.compactMap(\.nextEvaluation).min()
        top.perRegion = per
        return top
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

    /// Deterministic weighted choice: one variant per unit of weight (scaled to at most 1024 variants);
    /// variant v starts at the member owning slot v and continues with the next members in order.
    public static func weightedVariants(_ members: [PoolMember], answers: Int) -> [[PoolMember]] {
        let total = members.reduce(0) { $0 + $1.weight }
        guard total > 0 else { return [members] }
        let scale = total > 1024 ? Double(1024) / Double(total) : 1
        var slots: [Int] = []
        for (i, m) in members.enumerated() {
            let n = max(1, Int((Double(m.weight) * scale).rounded()))
            slots.append(contentsOf: repeatElement(i, count: n))
        }
        let k = min(answers, members.count)
        return slots.map { first in (0..<k).map { members[(first + $0) % members.count] } }
    }

    static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }
    static func fmt(_ d: Date) -> String { ISO8601DateFormatter().string(from: d) }
}
