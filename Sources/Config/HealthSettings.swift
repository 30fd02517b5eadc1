import FoundationEssentials

/// Health-checking options that apply to every target.
public struct HealthSettings: Sendable, Hashable {
    /// Counted as up (default) or down while a target has no verdict yet.
    public var initialStateUp = true
    public var maxInFlight = 256
    /// Health changes this close together give one table swap (the steering loop's coalescing window).
    public var coalesceWindow: Duration = .milliseconds(100)
    public init() {}
}
