import ConfigText
import FoundationEssentials

/// One entry of the event history: what the steering loop (the one writer) saw or did. Written only by
/// `SteeringCore`; served by `/v1/events`, its event stream, `gtmd events` and the console.
/// Invariant: `seq` is unique and increases in the order the events happened in the writer.
public struct GtmdEvent: Codable, Sendable, Hashable {
    public enum Kind: String, Codable, Sendable, CaseIterable {
        /// A service's answering pool changed (`action`: `switch`, or `answering` for its first decision), or a
        /// failback ramp moved (`ramp`: a step started, `to` gets the percent in `reason`; `ramp-aborted`).
        case `switch`
        /// A monitored target's verdict changed (`action`: the new state: `up`, `down`, `unknown`).
        case health
        /// A service lost every pool (`all-down`) or got one back (`recovered`).
        case service
        /// An operator override: `set`, `cleared`, `expired` (`set-offline` / `cleared-offline` when taken in from
        /// the state file).
        case override
        /// A config reload: `ok` or `failed`.
        case reload
        /// The server started (`start`): separates the history of two runs.
        case server
        /// The fleet's store: `mode` (from → to: fleet, local, frozen), `left-out` (shared records in the store
        /// that were not taken, reason "key: what is wrong"), `records-ok` (none left out any more).
        case fleet
        /// DNSSEC keys of a zone (`service`: the zone origin): `generated` (`keys: auto` made a key; the reason
        /// holds the DS), `renewed` (signatures signed again on the timer).
        case keys
    }
    public var seq: UInt64
    public var at: Date
    public var kind: Kind
    public var action: String
    /// The service (`www.lab.example.`) a switch, all-down or service override is about.
    public var service: String?
    /// nearest: the client region whose answer changed.
    public var region: String?
    /// health: the target id (`primary/127.0.0.11`); override: its target.
    public var target: String?
    /// health: the target's pool.
    public var pool: String?
    public var from: String?
    public var to: String?
    public var reason: String
    /// switch: the TTL of the answer served before it, which caches may still hold that long.
    public var ttl: UInt32?
    /// switch, service: the TTL of the answer now served.
    public var ttlNow: UInt32?
    /// switch: seconds from the first failed probe of the failure that caused it (nil when no probe failure did).
    public var detectionSeconds: Double?
    /// The table generation in force after the event (switches).
    public var generation: UInt64?

    public init(
        seq: UInt64 = 0,
        at: Date,
        kind: Kind,
        action: String,
        service: String? = nil,
        region: String? = nil,
        target: String? = nil,
        pool: String? = nil,
        from: String? = nil,
        to: String? = nil,
        reason: String,
        ttl: UInt32? = nil,
        ttlNow: UInt32? = nil,
        detectionSeconds: Double? = nil,
        generation: UInt64? = nil
    ) {
        self.seq = seq
        self.at = at
        self.kind = kind
        self.action = action
        self.service = service
        self.region = region
        self.target = target
        self.pool = pool
        self.from = from
        self.to = to
        self.reason = reason
        self.ttl = ttl
        self.ttlNow = ttlNow
        self.detectionSeconds = detectionSeconds
        self.generation = generation
    }

    /// The latest time caches may still answer with the old pool: the switch plus the old answer's TTL.
    public var cacheWindowEnd: Date? { ttl.map { at.addingTimeInterval(Double($0)) } }
}

/// The bounded event history: the newest `capacity` events, oldest first.
/// Invariant: `events.count <= capacity`; seqs increase; `nextSeq` is above every seq held.
public struct EventLog: Sendable, Hashable {
    public static let defaultCapacity = 1000
    public let capacity: Int
    public private(set) var events: [GtmdEvent] = []
    public private(set) var nextSeq: UInt64 = 1

    public init(capacity: Int = EventLog.defaultCapacity, restoring saved: [GtmdEvent] = []) {
        self.capacity = max(1, capacity)
        var kept = Array(saved.sorted { $0.seq < $1.seq }.suffix(self.capacity))
        // A history whose seqs could run out (a state file edited by hand) is numbered again from 1.
        if let last = kept.last?.seq, last >= UInt64.max / 2 {
            for i in kept.indices { kept[i].seq = UInt64(i + 1) }
        }
        events = kept
        nextSeq = (kept.last?.seq ?? 0) + 1
    }

    /// An empty history whose first event gets `nextSeq`: the saved history follows later (`restore(older:)`).
    public init(capacity: Int = EventLog.defaultCapacity, nextSeq: UInt64) {
        self.capacity = max(1, capacity)
        self.nextSeq = max(1, nextSeq)
    }

    /// Puts the saved history before the events added since `init(capacity:nextSeq:)`. Those keep their seqs
    /// when they come after the saved ones (the saved `nextSeq` was right); otherwise (a file edited by hand)
    /// they are numbered again after the saved history.
    public mutating func restore(older saved: [GtmdEvent]) {
        var log = EventLog(capacity: capacity, restoring: saved)
        for e in events {
            if e.seq >= log.nextSeq {
                log.events.append(e)
                log.nextSeq = e.seq + 1
            } else {
                log.append(e)
            }
        }
        if log.events.count > capacity { log.events.removeFirst(log.events.count - capacity) }
        self = log
    }

    /// Adds an event with the next seq; drops the oldest beyond the capacity. Returns the event as stored.
    @discardableResult
    public mutating func append(_ e: GtmdEvent) -> GtmdEvent {
        var e = e
        e.seq = nextSeq
        nextSeq += 1
        events.append(e)
        if events.count > capacity { events.removeFirst(events.count - capacity) }
        return e
    }

    /// Events after `seq` (all when nil).
    public func after(_ seq: UInt64?) -> ArraySlice<GtmdEvent> {
        guard let seq else { return events[...] }
        let i = events.firstIndex { $0.seq > seq } ?? events.endIndex
        return events[i...]
    }
}

/// `GET /v1/events` and its stream: the parameters, checked strictly, and the filter.
public struct EventQuery: Sendable, Hashable {
    public var since: Date?
    /// Only events with a higher seq (the stream's `Last-Event-ID`).
    public var after: UInt64?
    public var service: String?
    public var kinds: Set<GtmdEvent.Kind>?
    public var limit: Int?

    public static let parameters = ["since", "after", "service", "kind", "limit"]
    public static let maxLimit = EventLog.defaultCapacity

    public init(
        since: Date? = nil,
        after: UInt64? = nil,
        service: String? = nil,
        kinds: Set<GtmdEvent.Kind>? = nil,
        limit: Int? = nil
    ) {
        self.since = since
        self.after = after
        self.service = service
        self.kinds = kinds
        self.limit = limit
    }

    /// Reads the query parameters; an unknown one or a bad value is an error naming it and what is allowed.
    /// `since`: an RFC 3339 time (`2026-11-29T16:00:00Z`) or a duration ago (`90s`, `15m`, `1h`, `2d`).
    /// `service`: a configured service, with or without its final dot. `kind`: comma-separated kinds.
    public static func parse(_ q: [String: String], services: [String], now: Date) throws(EventQueryError) -> EventQuery
    {
        var out = EventQuery()
        for key in q.keys.sorted() where !parameters.contains(key) {
            throw EventQueryError("unknown parameter '\(key)' (allowed: \(parameters.joined(separator: ", ")))")
        }
        if let s = q["since"] {
            guard let d = parseSince(s, now: now) else {
                throw EventQueryError(
                    "since: '\(s)' is neither an RFC 3339 time (2026-11-29T16:00:00Z) nor a duration ago (90s, 15m, 1h, 2d)"
                )
            }
            out.since = d
        }
        if let a = q["after"] {
            guard let n = UInt64(a) else { throw EventQueryError("after: '\(a)' is not an event seq (a whole number)") }
            out.after = n
        }
        if let s = q["service"] {
            let name = s.hasSuffix(".") ? s : s + "."
            guard services.contains(name) else {
                let known = services.isEmpty ? "none are configured" : "configured: \(services.joined(separator: ", "))"
                throw EventQueryError("service: '\(s)' is not a configured service (\(known))")
            }
            out.service = name
        }
        if let k = q["kind"] {
            var kinds = Set<GtmdEvent.Kind>()
            for part in k.split(separator: ",", omittingEmptySubsequences: false) {
                guard let kind = GtmdEvent.Kind(rawValue: String(part)) else {
                    let all = GtmdEvent.Kind.allCases.map(\.rawValue).joined(separator: ", ")
                    throw EventQueryError("kind: '\(part)' is not an event kind (kinds: \(all))")
                }
                kinds.insert(kind)
            }
            out.kinds = kinds
        }
        if let l = q["limit"] {
            guard let n = Int(l), (1...maxLimit).contains(n) else {
                throw EventQueryError("limit: '\(l)' is not a whole number from 1 to \(maxLimit)")
            }
            out.limit = n
        }
        return out
    }

    static func parseSince(_ s: String, now: Date) -> Date? {
        if let d = try? Date(s, strategy: .iso8601) { return d }
        if let d = try? Date(s, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true)) { return d }
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86400)]
        for (u, mult) in units where s.hasSuffix(u) {
            let number = s.dropLast(u.count)
            guard !number.isEmpty, number.allSatisfy(\.isNumber), let n = Double(number), n <= 10 * 365 * 86400
            else { return nil }
            return now.addingTimeInterval(-n * mult)
        }
        return nil
    }

    /// Whether `e` passes the filter. `pools` maps a service to its pools (health events of a pool's targets
    /// belong to every service that uses the pool).
    public func matches(_ e: GtmdEvent, pools: [String: [String]]) -> Bool {
        if let since, e.at < since { return false }
        if let after, e.seq <= after { return false }
        if let kinds, !kinds.contains(e.kind) { return false }
        if let service {
            if e.service == service { return true }
            if e.service == nil, let p = e.pool, pools[service]?.contains(p) == true { return true }
            // Events about no service in particular (reloads, start) belong to every service's history.
            return e.service == nil && e.pool == nil && e.target == nil
        }
        return true
    }

    /// The matching events of `log`, oldest first, the newest `limit` of them.
    public func select(_ events: some Collection<GtmdEvent>, pools: [String: [String]]) -> [GtmdEvent] {
        let m = events.filter { matches($0, pools: pools) }
        if let limit, m.count > limit { return Array(m.suffix(limit)) }
        return m
    }
}

public struct EventQueryError: Error, CustomStringConvertible, Sendable {
    public var description: String
    init(_ d: String) { description = d }
}

/// `gtmd events`: one line per event, in columns.
public enum EventTable {
    public static let header = row(
        time: "TIME",
        kind: "KIND",
        action: "ACTION",
        subject: "SERVICE/TARGET",
        change: "CHANGE",
        ttl: "TTL",
        reason: "REASON"
    )

    static func row(
        time: String,
        kind: String,
        action: String,
        subject: String,
        change: String,
        ttl: String,
        reason: String
    ) -> String {
        func pad(_ s: String, _ n: Int) -> String {
            s.count >= n ? s + " " : s + String(repeating: " ", count: n - s.count)
        }
        return pad(time, 24) + pad(kind, 9) + pad(action, 16) + pad(subject, 28) + pad(change, 24) + pad(ttl, 12)
            + reason
    }

    /// `time kind action subject from→to ttl reason`; a switch shows its detection time and the cache window.
    public static func line(_ e: GtmdEvent) -> String {
        let f = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
        var subject = e.service ?? e.target ?? "-"
        if let r = e.region { subject += " @" + r }
        if e.kind == .health || (e.kind == .override && e.service == nil), let t = e.target { subject = t }
        let change = e.from != nil || e.to != nil ? "\(e.from ?? "-") -> \(e.to ?? "-")" : "-"
        var ttl = "-"
        if let held = e.ttl {
            ttl = "\(held)s->" + (e.ttlNow.map { "\($0)s" } ?? "-")
        } else if let a = e.ttlNow {
            ttl = "\(a)s"
        }
        var reason = e.reason
        if let d = e.detectionSeconds {
            reason += " [detected \(DurationText.fixed(d, places: 2))s after the first failed probe]"
        }
        if let end = e.cacheWindowEnd, e.kind == .switch {
            reason += " [caches may hold the old answer until \(f.format(end))]"
        }
        return row(
            time: f.format(e.at),
            kind: e.kind.rawValue,
            action: e.action,
            subject: subject,
            change: change,
            ttl: ttl,
            reason: reason
        )
    }
}
