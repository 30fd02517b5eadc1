/// The verdict of a check or a target.
public enum HealthState: String, Sendable, Hashable, CaseIterable {
    /// No verdict yet (no probe has finished); the target counts as its `initialState`.
    case unknown
    case up
    case down
}

/// A state change of one `HealthTracker`.
public struct Transition: Sendable, Hashable {
    public var from: HealthState
    public var to: HealthState
    /// Consecutive passes / failures at the moment of the change (one of them is zero).
    public var passes: Int
    public var failures: Int

    public init(from: HealthState, to: HealthState, passes: Int, failures: Int) {
        self.from = from
        self.to = to
        self.passes = passes
        self.failures = failures
    }
}

/// Rise/fall hysteresis for one check: a pure state machine (no clock, no I/O).
///
/// - The first result gives the verdict directly (`unknown` -> `up` on a pass, `down` on a failure), so a
///   target that is dead when gtmd starts is down after the first round.
/// - While `up`, `fall` consecutive failures take it `down`; while `down`, `rise` consecutive passes bring it `up`.
///   A result of the other kind resets the run.
/// - It is *in doubt* while a run toward the other state has started but not finished; the scheduler then
///   probes at the fast interval.
public struct HealthTracker: Sendable, Hashable {
    public let rise: Int
    public let fall: Int
    public private(set) var state: HealthState
    public private(set) var consecutivePasses: Int = 0
    public private(set) var consecutiveFailures: Int = 0

    /// `rise` and `fall` below 1 are treated as 1.
    public init(rise: Int, fall: Int, state: HealthState = .unknown) {
        self.rise = max(1, rise)
        self.fall = max(1, fall)
        self.state = state
    }

    /// True after a failure while up, or a pass while down: the state may be about to change.
    public var inDoubt: Bool {
        switch state {
        case .unknown: false
        case .up: consecutiveFailures > 0
        case .down: consecutivePasses > 0
        }
    }

    /// Feeds one probe result; returns a transition only when the state changes.
    public mutating func record(pass: Bool) -> Transition? {
        if pass {
            consecutivePasses += 1
            consecutiveFailures = 0
        } else {
            consecutiveFailures += 1
            consecutivePasses = 0
        }
        let old = state
        switch state {
        case .unknown:
            state = pass ? .up : .down
        case .up:
            if !pass, consecutiveFailures >= fall { state = .down }
        case .down:
            if pass, consecutivePasses >= rise { state = .up }
        }
        guard state != old else { return nil }
        return Transition(from: old, to: state, passes: consecutivePasses, failures: consecutiveFailures)
    }
}

/// A target's verdict from its checks' states: down if any check is down, up if all are up, else unknown.
/// (An array, not any sequence: the generic function ran unspecialized from other modules, and its first call
/// looked the sequence's associated types up at run time, ~0.3 ms of the start's first probe result.)
public func combinedState(_ checks: [HealthState]) -> HealthState {
    var sawUnknown = false
    var any = false
    for s in checks {
        any = true
        switch s {
        case .down: return .down
        case .unknown: sawUnknown = true
        case .up: break
        }
    }
    return sawUnknown || !any ? .unknown : .up
}
