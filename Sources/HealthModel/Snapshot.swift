import FoundationEssentials

/// An immutable picture of every monitored target, for status pages, metrics and the failover policy.
public struct HealthSnapshot: Sendable, Hashable {
    /// Keyed by `ProbeTarget.id`.
    public var targets: [String: TargetHealth]
    /// Increases with every target or check state change; equal generations mean equal verdicts.
    public var generation: UInt64
    /// True once the first probe round finished or its time bound passed.
    public var firstRoundDone: Bool

    public init(targets: [String: TargetHealth] = [:], generation: UInt64 = 0, firstRoundDone: Bool = false) {
        self.targets = targets
        self.generation = generation
        self.firstRoundDone = firstRoundDone
    }

    public subscript(id: String) -> TargetHealth? { targets[id] }

    /// Whether answers should include the target: its verdict, or its `initialState` while unknown.
    /// Nil for an id that is not monitored.
    public func isUp(_ id: String) -> Bool? { targets[id]?.isUp }
}

/// One target in a snapshot.
public struct TargetHealth: Sendable, Hashable {
    public var id: String
    public var address: String
    /// Down if any check is down, up if all are up, unknown while some check has no verdict (and none is down).
    public var state: HealthState
    /// What answers should use: `state == .up`, or the target's `initialState` while `state == .unknown`.
    public var isUp: Bool
    /// Wall-clock time `state` last changed (nil: never, i.e. still unknown).
    public var lastChange: Date?
    /// Checks in configuration order.
    public var checks: [CheckHealth]

    public init(id: String, address: String, state: HealthState, isUp: Bool, lastChange: Date?, checks: [CheckHealth]) {
        self.id = id
        self.address = address
        self.state = state
        self.isUp = isUp
        self.lastChange = lastChange
        self.checks = checks
    }

    /// `check: reason` of every check that is down (empty when none is).
    public var downReasons: [String] {
        checks.filter { $0.state == .down }.map { "\($0.name): \($0.lastResult?.reason ?? "down")" }
    }

    /// Certificate warnings of the checks' last results.
    public var certWarnings: [String] {
        checks.compactMap { c in c.lastResult?.certWarning.map { "\(c.name): \($0)" } }
    }
}

/// One check of a target in a snapshot.
public struct CheckHealth: Sendable, Hashable {
    public var name: String
    public var kind: CheckKind
    /// What is probed, e.g. `127.0.0.1:5432` or `https://10.0.0.5:443/health`.
    public var endpoint: String
    public var state: HealthState
    /// The last probe's result (latency, reason, status, certificate warning); nil before the first.
    public var lastResult: ProbeResult?
    /// Wall-clock time the last probe finished.
    public var lastProbe: Date?
    public var consecutivePasses: Int
    public var consecutiveFailures: Int
    public var rise: Int
    public var fall: Int
    /// Wall-clock time `state` last changed.
    public var lastChange: Date?
    /// Probes finished so far.
    public var probes: Int
    /// True while probed at the fast interval (a run toward the other state has begun).
    public var inDoubt: Bool
    /// Wall-clock time of the first failed probe of the current run of failures (nil while passing).
    public var failingSince: Date?
    /// Failed probes so far by reason class (`ProbeResult.reasonClass`).
    public var failures: [String: Int]
    /// The last `recentLimit` probes, oldest first (the console's latency sparkline).
    public var recent: [RecentProbe]
    public static let recentLimit = 30

    public init(
        name: String,
        kind: CheckKind,
        endpoint: String,
        state: HealthState,
        lastResult: ProbeResult?,
        lastProbe: Date?,
        consecutivePasses: Int,
        consecutiveFailures: Int,
        rise: Int,
        fall: Int,
        lastChange: Date?,
        probes: Int,
        inDoubt: Bool,
        failingSince: Date? = nil,
        failures: [String: Int] = [:],
        recent: [RecentProbe] = []
    ) {
        self.failingSince = failingSince
        self.failures = failures
        self.recent = recent
        self.name = name
        self.kind = kind
        self.endpoint = endpoint
        self.state = state
        self.lastResult = lastResult
        self.lastProbe = lastProbe
        self.consecutivePasses = consecutivePasses
        self.consecutiveFailures = consecutiveFailures
        self.rise = rise
        self.fall = fall
        self.lastChange = lastChange
        self.probes = probes
        self.inDoubt = inDoubt
    }
}

/// One probe in a check's recent history: passed or not, and how long it took.
public struct RecentProbe: Sendable, Hashable {
    public var ok: Bool
    public var latency: Duration
    public init(ok: Bool, latency: Duration) {
        self.ok = ok
        self.latency = latency
    }
}

/// A check state change, as delivered by `HealthMonitor.changes()` (and logged at notice).
public struct HealthChange: Sendable, Hashable {
    public var target: String
    public var check: String
    public var from: HealthState
    public var to: HealthState
    /// The reason of the probe that caused it (`status 503`, `timeout (connect)`, `status 200`...).
    public var reason: String
    public var passes: Int
    public var failures: Int
    public var rise: Int
    public var fall: Int
    /// The target's verdict before and after (they differ when this change moved the target).
    public var targetFrom: HealthState
    public var targetTo: HealthState
    /// The target's effective state after the change (see `TargetHealth.isUp`).
    public var targetIsUp: Bool
    public var at: Date

    public init(
        target: String,
        check: String,
        from: HealthState,
        to: HealthState,
        reason: String,
        passes: Int,
        failures: Int,
        rise: Int,
        fall: Int,
        targetFrom: HealthState,
        targetTo: HealthState,
        targetIsUp: Bool,
        at: Date
    ) {
        self.target = target
        self.check = check
        self.from = from
        self.to = to
        self.reason = reason
        self.passes = passes
        self.failures = failures
        self.rise = rise
        self.fall = fall
        self.targetFrom = targetFrom
        self.targetTo = targetTo
        self.targetIsUp = targetIsUp
        self.at = at
    }
}
