import FoundationEssentials

/// An operator's override: force a member or a pool up or down (drain), pin a service to a pool, or
/// release a service held on a standby by `failback: manual`. Optionally until a time.
/// Invariant: `scope`/`action` pairs are one of: member|pool + up|down, service + pin(pool)|release.
public struct Override: Codable, Sendable, Hashable {
    public enum Scope: String, Codable, Sendable, CaseIterable { case member, pool, service }
    public enum Action: String, Codable, Sendable { case up, down, pin, release }
    public var scope: Scope
    /// member: `pool/address`; pool: its name; service: its name (`www.lab.example.`).
    public var target: String
    public var action: Action
    /// pin: the pool to pin to.
    public var pool: String?
    public var until: Date?
    public var setAt: Date
    public var note: String?

    public init(
        scope: Scope,
        target: String,
        action: Action,
        pool: String? = nil,
        until: Date? = nil,
        setAt: Date,
        note: String? = nil
    ) {
        self.scope = scope
        self.target = target
        self.action = action
        self.pool = pool
        self.until = until
        self.setAt = setAt
        self.note = note
    }

    public func isActive(at now: Date) -> Bool { until.map { now < $0 } ?? true }

    /// The key two overrides replace each other by (one per scope and target, release aside).
    public var key: String { "\(scope.rawValue):\(target)" + (action == .release ? ":release" : "") }

    public var summary: String {
        var s = "\(scope.rawValue) \(target) \(action.rawValue)"
        if let pool { s += " \(pool)" }
        if let until { s += " until \(until.formatted(.iso8601))" }
        if let note { s += " (\(note))" }
        return s
    }
}

/// The set of overrides in force, with quick lookups for the policy.
public struct OverrideSet: Sendable, Hashable {
    public var all: [Override]
    public init(_ all: [Override] = []) { self.all = all }

    public func active(at now: Date) -> OverrideSet { OverrideSet(all.filter { $0.isActive(at: now) }) }

    public func member(_ id: String) -> Override.Action? {
        all.last { $0.scope == .member && $0.target == id && ($0.action == .up || $0.action == .down) }?.action
    }
    public func pool(_ name: String) -> Override.Action? {
        all.last { $0.scope == .pool && $0.target == name && ($0.action == .up || $0.action == .down) }?.action
    }
    public func pin(_ service: String) -> String? {
        all.last { $0.scope == .service && $0.target == service && $0.action == .pin }?.pool
    }
    public func release(_ service: String) -> Date? {
        all.filter { $0.scope == .service && $0.target == service && $0.action == .release }.map(\.setAt).max()
    }
    /// The earliest expiry after `now` (the policy must run again then).
    public func nextExpiry(after now: Date) -> Date? { all.compactMap(\.until).filter { $0 > now }.min() }

    /// Adds or replaces (same scope and target) an override.
    public mutating func set(_ o: Override) {
        all.removeAll { $0.key == o.key }
        all.append(o)
    }

    /// Removes overrides for a scope and target; returns how many were removed.
    @discardableResult
    public mutating func clear(scope: Override.Scope, target: String) -> Int {
        let before = all.count
        all.removeAll { $0.scope == scope && $0.target == target }
        return before - all.count
    }
}
