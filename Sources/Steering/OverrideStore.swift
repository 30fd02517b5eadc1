import Config
import ConfigText
import DNSWire
import FoundationEssentials
import Policy

/// What an operator asks for (the control API's POST body, and `gtmd override` offline): validated
/// against the config by `OverrideStore.make`.
public struct OverrideRequest: Encodable, Sendable, Hashable {
    /// `member`, `pool` or `service`.
    public var scope: String
    /// member: `POOL/ADDRESS`; pool: its name; service: its name.
    public var target: String
    /// member/pool: `up` or `down` (drain); service: `pin` or `release`.
    public var action: String
    /// pin: the pool.
    public var pool: String?
    /// Keep it this long (`30m`, `2h`) ...
    public var `for`: String?
    /// ... or until this time (ISO 8601).
    public var until: Date?
    public var note: String?

    public init(
        scope: String,
        target: String,
        action: String,
        pool: String? = nil,
        for: String? = nil,
        until: Date? = nil,
        note: String? = nil
    ) {
        self.scope = scope
        self.target = target
        self.action = action
        self.pool = pool
        self.for = `for`
        self.until = until
        self.note = note
    }
}

extension OverrideRequest {
    /// The fields of a body (`POST/PUT /v1/overrides`), in the order messages list them.
    public static let fields = ["scope", "target", "action", "pool", "for", "until", "note"]
    static let shape = #"a JSON object such as {"scope": "pool", "target": "primary", "action": "down", "for": "30m"}"#

    /// The control API's body (`POST/PUT /v1/overrides`): a JSON object with string fields `scope`, `target`,
    /// `action` and optional `pool`, `for`, `until` (ISO 8601), `note` (null: not given). Anything else (an
    /// unknown or repeated field, another type, an unreadable time) is refused with a message naming the field;
    /// the values are checked against the config by `OverrideStore.make`. The one decoder of override requests:
    /// the control API, the CLI (which sends what `ControlJSON.encoder` makes of a request) and the fuzz target.
    public static func decode(json body: [UInt8]) throws(OverrideError) -> OverrideRequest {
        let f = try RequestFields(body, allowed: fields, shape: shape)
        var until: Date? = nil
        if let u = try f.string("until", example: "\"2026-11-21T18:00:00Z\"") {
            guard let d = parseUntil(u) else {
                throw OverrideError("field 'until': '\(u)' \(untilProblem)")
            }
            until = d
        }
        return OverrideRequest(
            scope: try f.required("scope", example: "\"pool\""),
            target: try f.required("target", example: "\"primary\""),
            action: try f.required("action", example: "\"down\""),
            pool: try f.string("pool", example: "\"standby\""),
            for: try f.string("for", example: "\"30m\""),
            until: until,
            note: try f.string("note", example: "\"maintenance\"")
        )
    }

    /// The body of `DELETE /v1/overrides` (when the query does not give them): `scope` and `target`, strictly.
    public static func decodeClear(json body: [UInt8]) throws(OverrideError) -> (scope: String, target: String) {
        let f = try RequestFields(
            body,
            allowed: ["scope", "target"],
            shape: #"a JSON object such as {"scope": "pool", "target": "primary"}"#
        )
        return (try f.required("scope", example: "\"pool\""), try f.required("target", example: "\"primary\""))
    }

    /// `--until` on the command line and the body's `until`: an ISO 8601 time in the years 1 to 9999, or nil. A
    /// longer year (the fuzz target's `27777777777777027-01-01T00:00:00Z`) parsed to a time that did not come
    /// back the same in ISO 8601, so the CLI would have sent another time than the one given.
    public static func parseUntil(_ text: String) -> Date? {
        guard let d = try? Date(text, strategy: .iso8601), d >= firstUntil, d <= lastUntil else { return nil }
        return d
    }
    /// 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z.
    static let firstUntil = Date(timeIntervalSince1970: -62_135_596_800)
    static let lastUntil = Date(timeIntervalSince1970: 253_402_300_799)
    public static let untilProblem = "is not an ISO 8601 time in the years 1 to 9999 (e.g. 2026-11-21T18:00:00Z)"
}

public struct OverrideError: Error, CustomStringConvertible, Sendable {
    public var description: String
    init(_ d: String) { description = d }
}

/// The one validation of overrides against the config, shared by the control API (which hands the result to
/// the steering loop: in force at once, then saved) and `gtmd override --offline` (which edits the state file
/// under its lock, and only while no gtmd holds the file: see `StateFile.holdForServer`).
public enum OverrideStore {
    /// Checks scope, action, names (against the config) and expiry; returns the override to store.
    public static func make(_ r: OverrideRequest, config: GtmdConfig, now: Date) throws(OverrideError) -> Override {
        guard let scope = Override.Scope(rawValue: r.scope) else {
            throw OverrideError("scope '\(r.scope)' is not member, pool or service")
        }
        guard let action = Override.Action(rawValue: r.action) else {
            throw OverrideError("action '\(r.action)' is not up, down, pin or release")
        }
        var target = r.target
        switch scope {
        case .member, .pool:
            guard action == .up || action == .down else {
                throw OverrideError("a \(scope.rawValue) override is up or down, not \(action.rawValue)")
            }
            let known =
                scope == .member ? config.pools.flatMap { $0.members.map(\.targetID) } : config.pools.map(\.name)
            guard known.contains(target) else {
                throw OverrideError(
                    "no \(scope.rawValue) '\(target)' (\(scope.rawValue)s: \(known.joined(separator: ", ")))"
                )
            }
            if r.pool != nil { throw OverrideError("'pool' is only for a service pin") }
        case .service:
            guard action == .pin || action == .release else {
                throw OverrideError("a service override is pin or release, not \(action.rawValue)")
            }
            target = try serviceName(target, config)
            if action == .pin {
                guard let pool = r.pool else { throw OverrideError("pin needs 'pool' (one of the service's pools)") }
                let pools = config.services.first { $0.name.description == target }!.pools
                guard pools.contains(pool) else {
                    throw OverrideError(
                        "service \(target) has no pool '\(pool)' (pools: \(pools.joined(separator: ", ")))"
                    )
                }
            } else if r.pool != nil {
                throw OverrideError("'pool' is only for a service pin")
            }
        }
        if let note = r.note {
            if note.count > maxNoteLength {
                throw OverrideError("note is \(note.count) characters long; at most \(maxNoteLength)")
            }
            if let c = note.unicodeScalars.first(where: { $0.properties.generalCategory == .control }) {
                throw OverrideError(
                    "note contains the control character U+\(Self.hex4(c.value)) (it is shown in logs and status: plain text only)"
                )
            }
        }
        return Override(
            scope: scope,
            target: target,
            action: action,
            pool: r.pool,
            until: try expiry(for: r.for, until: r.until, now: now),
            setAt: now,
            note: r.note
        )
    }

    /// The longest note an override keeps (characters).
    public static let maxNoteLength = 500

    /// Checks an override that was made elsewhere (a fleet's store) exactly as `make` checks a request: scope,
    /// action, names against this node's config; the target must be spelled as configured. Expiry is not
    /// checked: an expired override is simply not active.
    /// A code point as four or more upper-case hex digits (`U+0007`).
    static func hex4(_ v: UInt32) -> String {
        let h = String(v, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, 4 - h.count)) + h
    }

    public static func check(_ o: Override, config: GtmdConfig) throws(OverrideError) {
        let r = OverrideRequest(
            scope: o.scope.rawValue,
            target: o.target,
            action: o.action.rawValue,
            pool: o.pool,
            note: o.note
        )
        let made = try make(r, config: config, now: o.setAt)
        if made.target != o.target {
            throw OverrideError("target '\(o.target)' is not spelled as configured ('\(made.target)')")
        }
    }

    /// The key of an override in a fleet's store (`<scope>/<target>`, a release apart): one per `Override.key`.
    public static func sharedID(_ o: Override) -> String {
        "\(o.scope.rawValue)/\(o.target)" + (o.action == .release ? "/release" : "")
    }

    /// The store keys a clear of (scope, target) removes (`OverrideSet.clear` removes a release too).
    public static func sharedIDs(clearing scope: Override.Scope, target: String) -> [String] {
        let id = "\(scope.rawValue)/\(target)"
        return scope == .service ? [id, id + "/release"] : [id]
    }

    /// A service name as configured (`www.lab.example.`), or an error listing the services.
    public static func serviceName(_ text: String, _ config: GtmdConfig) throws(OverrideError) -> String {
        let name: DNSName
        do { name = try DNSName(absolute: text) } catch { throw OverrideError("'\(text)': \(error)") }
        guard let s = config.services.first(where: { $0.name == name }) else {
            throw OverrideError(
                "no service \(name) (services: \(config.services.map(\.name.description).joined(separator: ", ")))"
            )
        }
        return s.name.description
    }

    public static func expiry(for duration: String?, until: Date?, now: Date) throws(OverrideError) -> Date? {
        if duration != nil && until != nil { throw OverrideError("give 'for' or 'until', not both") }
        if let f = duration {
            switch DurationText.parse(f) {
            case .failure(let why): throw OverrideError("for '\(f)' \(why)")
            case .success(let d) where d <= .zero: throw OverrideError("for '\(f)' must be longer than 0s")
            case .success(let d): return now.addingTimeInterval(Double(DurationText.milliseconds(d)) / 1000)
            }
        }
        if let u = until {
            let text = u.formatted(.iso8601)
            guard u > now else { throw OverrideError("until \(text) is in the past") }
            let latest = now.addingTimeInterval(Double(DurationText.limitMilliseconds) / 1000)
            guard u <= latest else {
                throw OverrideError("until \(text) is more than 10000 days ahead (the longest an override may last)")
            }
            return u
        }
        return nil
    }

    /// Adds (or replaces: same scope and target) an override in the state file.
    public static func set(_ o: Override, stateFile: String) throws {
        try StateFile.update(stateFile) { content in
            var set = OverrideSet(content.overrides)
            set.set(o)
            content.overrides = set.all
        }
    }

    /// The scope and target a clear applies to (a service name as configured).
    public static func clearKey(
        scope text: String,
        target: String,
        config: GtmdConfig
    )
        throws(OverrideError) -> (Override.Scope, String)
    {
        guard let scope = Override.Scope(rawValue: text) else {
            throw OverrideError("scope '\(text)' is not member, pool or service")
        }
        return (scope, scope == .service ? try serviceName(target, config) : target)
    }

    /// Removes the overrides of a scope and target from the state file; returns how many were removed.
    public static func clear(scope text: String, target: String, config: GtmdConfig, stateFile: String) throws -> Int {
        let (scope, key) = try clearKey(scope: text, target: target, config: config)
        var removed = 0
        try StateFile.update(stateFile) { content in
            var set = OverrideSet(content.overrides)
            removed = set.clear(scope: scope, target: key)
            content.overrides = set.all
        }
        return removed
    }
}
