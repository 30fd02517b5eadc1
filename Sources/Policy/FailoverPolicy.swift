import ConfigText
import DNSWire
import Foundation
import Yams

/// `policy: failover`: the first available pool answers. Failing over away from a pool that is no longer
/// available is never delayed. Failing back to a better pool waits for `failback: manual` (held until an
/// operator releases the service), `hold_down` (the better pool must stay available that long) and
/// `min_switch_interval` (time since the last switch). A pin override answers its pool regardless.
public enum FailoverPolicy: PolicyUnit {
    public static let kind = PolicyKind.failover
    public static let keys: Set<String> = failbackKeys
    public static let answersCNAMEPools = true

    /// The failback keys, read by `nearest` too (it runs a failover per client region).
    static let failbackKeys: Set<String> = ["failback", "hold_down", "min_switch_interval"]

    public static func parse(_ m: [String: Node], _ p: String, _ r: YAMLReader, into s: inout ServiceConfig) {
        if let v = r.string(m["failback"], "\(p).failback") {
            if let b = FailbackMode(rawValue: v) {
                s.failback = b
            } else {
                r.problem(m["failback"], "\(p).failback", "'\(v)' is not auto or manual")
            }
        }
        if let v = r.duration(m["hold_down"], "\(p).hold_down", range: .zero...(.seconds(7 * 86400))) {
            s.holdDown = v
        }
        if let v = r.duration(m["min_switch_interval"], "\(p).min_switch_interval", range: .zero...(.seconds(86400))) {
            s.minSwitchInterval = v
        }
    }

    public static func decide(
        service s: ServiceConfig,
        views: [String: PoolView],
        overrides: OverrideSet,
        state old: ServiceState,
        now: Date
    ) -> Decision {
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
        var next: Date? = nil
        let chosen = choose(s, pools, overrides: overrides, state: &state, now: now, next: &next)
        var reason = chosen.reason
        let outcome: Decision.Outcome
        if let name = chosen.pool, let view = views[name] {
            let up = view.upMembers
            // A pinned or held pool with no member up still answers with all its members (fail-open).
            outcome = .members(up.isEmpty ? view.allMembers : up)
        } else {
            (outcome, reason) = Policy.allDown(s, pools)
        }
        return Policy.finish(
            s,
            pools: pools,
            outcome: outcome,
            pool: chosen.pool,
            reason: reason,
            tracksPool: true,
            state: state,
            old: old,
            overrides: overrides,
            now: now,
            next: next
        )
    }

    /// The failover choice: the first available pool, with pinning, manual failback, hold-down and the
    /// minimum time between switches. Switching away from a pool that is no longer available is never delayed.
    static func choose(
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
            let until = since.addingTimeInterval(Policy.seconds(s.holdDown))
            if now < until {
                next = min(next ?? until, until)
                return (
                    current.pool.name,
                    "hold-down: \(best.pool.name) available since \(Policy.fmt(since)), failback at \(Policy.fmt(until))"
                )
            }
        }
        if s.minSwitchInterval > .zero, let last = state.since {
            let until = last.addingTimeInterval(Policy.seconds(s.minSwitchInterval))
            if now < until {
                next = min(next ?? until, until)
                return (
                    current.pool.name,
                    "min_switch_interval: last switch at \(Policy.fmt(last)), failback at \(Policy.fmt(until))"
                )
            }
        }
        state.held = false
        return (best.pool.name, "failback: \(best.pool.name) available again")
    }
}
