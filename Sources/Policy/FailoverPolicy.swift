import ConfigText
import DNSWire
import FoundationEssentials

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
        parseFailback(m["failback"], "\(p).failback", r, into: &s)
        if let v = r.duration(m["hold_down"], "\(p).hold_down", range: .zero...(.seconds(7 * 86400))) {
            s.holdDown = v
        }
        if let v = r.duration(m["min_switch_interval"], "\(p).min_switch_interval", range: .zero...(.seconds(86400))) {
            s.minSwitchInterval = v
        }
    }

    /// `failback: auto | manual`, or the mapping `{mode: auto | manual | ramp, steps: [10%, 50%, 100%],
    /// step_interval: 60s}` (steps and step_interval only, and always, with `mode: ramp`).
    static func parseFailback(_ node: Node?, _ p: String, _ r: YAMLReader, into s: inout ServiceConfig) {
        guard let node else { return }
        if case .scalar = node {
            guard let v = r.string(node, p) else { return }
            if let b = FailbackMode(rawValue: v) {
                s.failback = b
            } else if v == "ramp" {
                r.problem(node, p, "ramp needs its steps: {mode: ramp, steps: [10%, 50%, 100%], step_interval: 60s}")
            } else {
                r.problem(node, p, "'\(v)' is not auto, manual or {mode: ramp, steps: [...], step_interval: ...}")
            }
            return
        }
        let before = r.problems.count
        guard let m = r.mapping(node, p, allowed: ["mode", "steps", "step_interval"]) else { return }
        guard let mode = r.string(m["mode"], "\(p).mode") else {
            if m["mode"] == nil { r.problem(node, "\(p).mode", "missing (auto, manual or ramp)") }
            return
        }
        if let b = FailbackMode(rawValue: mode) {
            s.failback = b
            for k in ["steps", "step_interval"] where m[k] != nil {
                r.problem(m[k], "\(p).\(k)", "only with mode: ramp (mode is \(mode))")
            }
            return
        }
        guard mode == "ramp" else {
            r.problem(m["mode"], "\(p).mode", "'\(mode)' is not auto, manual or ramp")
            return
        }
        s.failback = .auto
        var steps: [Int] = []
        var ok = true
        if let list = r.sequence(m["steps"], "\(p).steps") {
            for (i, item) in list.enumerated() {
                let at = "\(p).steps[\(i)]"
                guard let text = r.string(item, at) else {
                    ok = false
                    continue
                }
                let digits = text.hasSuffix("%") ? String(text.dropLast()) : text
                guard let v = Int(digits.trimmedSpace()), (1...100).contains(v) else {
                    r.problem(item, at, "'\(text)' is not a percentage from 1% to 100%")
                    ok = false
                    continue
                }
                if let last = steps.last, v <= last {
                    r.problem(item, at, "\(v)% does not increase on the step before (\(last)%)")
                    ok = false
                }
                steps.append(v)
            }
            if ok && steps.isEmpty {
                r.problem(m["steps"], "\(p).steps", "needs at least one step, ending at 100%")
                ok = false
            } else if ok, let last = steps.last, last != 100 {
                r.problem(m["steps"], "\(p).steps", "the last step must be 100% (it is \(last)%)")
                ok = false
            }
        } else {
            if m["steps"] == nil { r.problem(node, "\(p).steps", "missing: mode ramp needs steps: [10%, 50%, 100%]") }
            ok = false
        }
        let interval = r.duration(m["step_interval"], "\(p).step_interval", range: .seconds(1)...(.seconds(86400)))
        if m["step_interval"] == nil {
            r.problem(node, "\(p).step_interval", "missing: mode ramp needs step_interval (e.g. 60s)")
        }
        if ok, r.problems.count == before, let interval {
            s.failbackRamp = FailbackRamp(steps: steps, stepInterval: interval)
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
        var outcome: Decision.Outcome
        var rampStep: RampStep? = nil
        if let ramp = state.ramp, let cfg = s.failbackRamp, chosen.pool == ramp.from, let from = views[ramp.from],
            let to = views[ramp.to], ramp.step < cfg.steps.count
        {
            let percent = cfg.steps[ramp.step]
            outcome = .variants(Self.rampVariants(from: from, to: to, percent: percent))
            rampStep = RampStep(
                from: ramp.from,
                to: ramp.to,
                step: ramp.step,
                steps: cfg.steps.count,
                percent: percent,
                reason: reason
            )
        } else if let name = chosen.pool, let view = views[name] {
            let up = view.upMembers
            // A pinned or held pool with no member up still answers with all its members (fail-open).
            outcome = .members(up.isEmpty ? view.allMembers : up)
        } else {
            (outcome, reason) = Policy.allDown(s, pools)
        }
        var d = Policy.finish(
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
        d.ramp = rampStep
        if let rampStep {
            d.ttlReason = "failback ramp \(rampStep.percent)% to \(rampStep.to): " + d.ttlReason
            if old.ramp?.step != rampStep.step || old.ramp?.to != rampStep.to || old.ramp?.from != rampStep.from {
                d.rampChanged = rampStep
            }
        } else if let was = old.ramp, d.pool != was.to {
            // The ramp ended without reaching the better pool: it failed (or a pin, or another pool, took over).
            d.rampChanged = RampStep(
                from: was.from,
                to: was.to,
                step: was.step,
                steps: s.failbackRamp?.steps.count ?? 0,
                percent: 0,
                aborted: true,
                reason: reason
            )
        }
        return d
    }

    /// The answers during a ramp step: `percent` of the query-ID variants answer `to`'s up members, the rest
    /// `from`'s (as few variants as the fraction needs: 10% = 1 of 10). The `from` variants come first.
    static func rampVariants(from: PoolView, to: PoolView, percent: Int) -> [[PoolMember]] {
        func gcd(_ a: Int, _ b: Int) -> Int { b == 0 ? a : gcd(b, a % b) }
        let g = gcd(percent, 100)
        let total = 100 / g
        let better = percent / g
        let old = from.upMembers.isEmpty ? from.allMembers : from.upMembers
        let new = to.upMembers.isEmpty ? to.allMembers : to.upMembers
        return Array(repeating: old, count: total - better) + Array(repeating: new, count: better)
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
        let ramp = state.ramp
        state.ramp = nil  // kept below only while the ramp goes on
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
        // A ramp under way goes on while its standby answers and its pool is still the best available one
        // (hold-down and the switch interval were met when it started).
        if let ramp, let cfg = s.failbackRamp, ramp.from == current.pool.name, ramp.to == best.pool.name {
            return rampStep(
                ramp,
                cfg,
                best: best.pool.name,
                current: current.pool.name,
                state: &state,
                now: now,
                next: &next
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
        if let cfg = s.failbackRamp {
            let start = RampState(from: current.pool.name, to: best.pool.name, started: now, step: 0)
            return rampStep(
                start,
                cfg,
                best: best.pool.name,
                current: current.pool.name,
                state: &state,
                now: now,
                next: &next
            )
        }
        return (best.pool.name, "failback: \(best.pool.name) available again")
    }

    /// The step of `ramp` at `now`: step i from `started + i × step_interval`; the last (100%) is the switch.
    static func rampStep(
        _ ramp: RampState,
        _ cfg: FailbackRamp,
        best: String,
        current: String,
        state: inout ServiceState,
        now: Date,
        next: inout Date?
    ) -> (pool: String?, reason: String) {
        let interval = Policy.seconds(cfg.stepInterval)
        let elapsed = max(0, now.timeIntervalSince(ramp.started))
        let index = min(Int((elapsed / interval).rounded(.down)), cfg.steps.count - 1)
        if cfg.steps[index] >= 100 {
            return (best, "failback ramp: \(best) at 100% (step \(index + 1) of \(cfg.steps.count))")
        }
        var r = ramp
        r.step = index
        state.ramp = r
        let until = ramp.started.addingTimeInterval(interval * Double(index + 1))
        next = min(next ?? until, until)
        return (
            current,
            "failback ramp: \(best) at \(cfg.steps[index])%, \(current) at \(100 - cfg.steps[index])% "
                + "(step \(index + 1) of \(cfg.steps.count), next at \(Policy.fmt(until)))"
        )
    }
}
