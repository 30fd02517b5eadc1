#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A key's timing metadata as BIND's dnssec-keygen and dnssec-settime write it: `Created:`, `Publish:`,
/// `Activate:`, `Inactive:`, `Delete:`, `SyncPublish:` and `SyncDelete:` lines in the `.private` file
/// (YYYYMMDDHHMMSS, UTC), mirrored as `; Publish: …` comments in the `.key` file. All times are seconds since
/// 1970; nil means "no such event": a key with no timing is published and active from always, forever; a key
/// with a Publish time and no Activate time is published and never signs (until it is given one).
public struct KeyTiming: Sendable, Hashable {
    public var created: Int64? = nil
    /// Its DNSKEY is in the zone's DNSKEY set from then on.
    public var publish: Int64? = nil
    /// It signs from then on.
    public var activate: Int64? = nil
    /// It stops signing then (its DNSKEY stays until `delete`).
    public var inactive: Int64? = nil
    /// Its DNSKEY leaves the zone then.
    public var delete: Int64? = nil
    /// A key-signing key's CDS/CDNSKEY (its DS belongs at the parent) from `syncPublish` until `syncDelete`.
    /// Without them: from always until `delete`, so both keys of a double-DS roll are listed during it.
    public var syncPublish: Int64? = nil
    public var syncDelete: Int64? = nil

    public init(
        created: Int64? = nil,
        publish: Int64? = nil,
        activate: Int64? = nil,
        inactive: Int64? = nil,
        delete: Int64? = nil,
        syncPublish: Int64? = nil,
        syncDelete: Int64? = nil
    ) {
        self.created = created
        self.publish = publish
        self.activate = activate
        self.inactive = inactive
        self.delete = delete
        self.syncPublish = syncPublish
        self.syncDelete = syncDelete
    }

    /// No event at all (the key is published and active forever).
    public var isEmpty: Bool { self == KeyTiming(created: created) }

    /// The fields in file order with their BIND names (events only, `created` first).
    public var fields: [(name: String, time: Int64)] {
        [
            ("Created", created), ("Publish", publish), ("Activate", activate), ("Inactive", inactive),
            ("Delete", delete), ("SyncPublish", syncPublish), ("SyncDelete", syncDelete),
        ].compactMap { f in f.1.map { (f.0, $0) } }
    }

    /// The key's state at `t` (RFC 6781 §4.1 terms; `removed` wins over everything, then `unpublished`).
    public func state(at t: Int64) -> KeyState {
        if let d = delete, d <= t { return .removed }
        if let p = publish, t < p { return .unpublished }
        if let i = inactive, i <= t { return .inactive }
        if let a = activate, t < a { return .published }
        // Published with no Activate (BIND: `dnssec-settime -A none`): in the DNSKEY set, not signing. This is a
        // `keys: auto` successor waiting for its DS at the parent (`AutoRoll`).
        if activate == nil, publish != nil { return .published }
        return .active
    }

    /// Whether a key-signing key's DS belongs at the parent at `t` (its CDS/CDNSKEY are published).
    public func inSync(at t: Int64) -> Bool {
        if let s = syncPublish, t < s { return false }
        if let e = syncDelete ?? delete, e <= t { return false }
        return true
    }

    /// The first event strictly after `t` (nil: nothing more happens to this key).
    public func nextEvent(after t: Int64) -> Int64? {
        [publish, activate, inactive, delete, syncPublish, syncDelete].compactMap { $0 }.filter { $0 > t }.min()
    }

    /// Events in the wrong order: a key that signs while its DNSKEY is not published, or that is never active.
    public var orderProblems: [String] {
        var out: [String] = []
        func text(_ t: Int64) -> String { KeyTiming.format(t) }
        if let a = activate, let p = publish, a < p {
            out.append("Activate (\(text(a))) is before Publish (\(text(p))): it would sign before its DNSKEY is out")
        }
        if let i = inactive, let a = activate, i <= a {
            out.append("Inactive (\(text(i))) is not after Activate (\(text(a))): it would never sign")
        }
        if let d = delete, let i = inactive, d < i {
            out.append("Delete (\(text(d))) is before Inactive (\(text(i))): it would sign after its DNSKEY is gone")
        }
        if let d = delete, let p = publish, d <= p {
            out.append("Delete (\(text(d))) is not after Publish (\(text(p)))")
        }
        if let e = syncDelete, let s = syncPublish, e <= s {
            out.append("SyncDelete (\(text(e))) is not after SyncPublish (\(text(s)))")
        }
        return out
    }

    // MARK: - Text

    /// Reads the timing lines of a `.private` file (`Publish: 20261129194923`), or when it has none, the
    /// `; Publish: 20261129194923 (…)` comments of the `.key` file (BIND writes both; the `.private` file is
    /// the one BIND reads). `Revoke:` (RFC 5011) is refused: gtmd does not set the REVOKE bit.
    public static func read(privateText: String, publicText: String) throws(DnssecError) -> KeyTiming {
        var fromPrivate = try parse(privateText, file: ".private", comments: false)
        if fromPrivate.isEmpty && fromPrivate.created == nil {
            fromPrivate = try parse(publicText, file: ".key", comments: true)
        }
        return fromPrivate
    }

    static func parse(_ text: String, file: String, comments: Bool) throws(DnssecError) -> KeyTiming {
        var t = KeyTiming()
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var line = Substring(raw).drop { $0 == " " || $0 == "\t" }
            if comments {
                guard line.hasPrefix(";") else { continue }
                line = line.dropFirst().drop { $0 == " " || $0 == "\t" }
            }
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = String(line[..<colon])
            let value = line[line.index(after: colon)...].drop { $0 == " " || $0 == "\t" }.prefix { !$0.isWhitespace }
            let known = ["Created", "Publish", "Activate", "Inactive", "Delete", "SyncPublish", "SyncDelete", "Revoke"]
            guard known.contains(name) else { continue }
            guard let when = parseTime(String(value)) else {
                throw DnssecError("\(file):\(i + 1): \(name): '\(value)' is not a time (YYYYMMDDHHMMSS, UTC)")
            }
            switch name {
            case "Created": t.created = when
            case "Publish": t.publish = when
            case "Activate": t.activate = when
            case "Inactive": t.inactive = when
            case "Delete": t.delete = when
            case "SyncPublish": t.syncPublish = when
            case "SyncDelete": t.syncDelete = when
            default:
                throw DnssecError(
                    "\(file):\(i + 1): Revoke (RFC 5011) is not supported: gtmd does not publish revoked keys; remove the line (dnssec-settime -R none)"
                )
            }
        }
        return t
    }

    /// `YYYYMMDDHHMMSS` (UTC) → seconds since 1970; nil when it is not one. A plain number of up to 10
    /// digits is taken as seconds since 1970, as BIND does.
    public static func parseTime(_ s: String) -> Int64? {
        let d = Array(s.utf8)
        guard !d.isEmpty, d.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return nil }
        if d.count <= 10 { return Int64(s) }
        guard d.count == 14 else { return nil }
        func n(_ a: Int, _ b: Int) -> Int64 { d[a..<b].reduce(0) { $0 * 10 + Int64($1 - 48) } }
        let (y, mo, da, h, mi, se) = (n(0, 4), n(4, 6), n(6, 8), n(8, 10), n(10, 12), n(12, 14))
        guard (1970...9999).contains(y), (1...12).contains(mo), (1...31).contains(da), h < 24, mi < 60, se < 61
        else { return nil }
        return daysFromCivil(y, mo, da) * 86_400 + h * 3600 + mi * 60 + se
    }

    /// `YYYYMMDDHHMMSS` (UTC) of seconds since 1970.
    public static func format(_ t: Int64) -> String {
        let days = t >= 0 ? t / 86_400 : (t - 86_399) / 86_400
        let secs = t - days * 86_400
        let (y, m, d) = civilFromDays(days)
        func two(_ v: Int64) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(y)\(two(m))\(two(d))\(two(secs / 3600))\(two(secs % 3600 / 60))\(two(secs % 60))"
    }

    /// `YYYY-MM-DDTHH:MM:SSZ` of seconds since 1970 (for logs and the `.key` comments).
    public static func iso(_ t: Int64) -> String {
        let f = Array(format(t))
        return
            "\(String(f[0..<4]))-\(String(f[4..<6]))-\(String(f[6..<8]))T\(String(f[8..<10])):\(String(f[10..<12])):\(String(f[12..<14]))Z"
    }

    // Howard Hinnant's civil-calendar algorithms (proleptic Gregorian).
    static func daysFromCivil(_ y0: Int64, _ m: Int64, _ d: Int64) -> Int64 {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func civilFromDays(_ z0: Int64) -> (Int64, Int64, Int64) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }

    /// A time as the `keygen` options take it: `YYYYMMDDHHMMSS`, seconds since 1970, `now`, `+N[s|m|h|d|w]`
    /// or `now+N[…]` (relative to `now`), as dnssec-keygen and dnssec-settime accept them; nil when not one.
    public static func parseOption(_ s: String, now: Int64) -> Int64? {
        var rest = Substring(s.lowercased())
        if rest == "now" { return now }
        if rest.hasPrefix("now") { rest = rest.dropFirst(3) }
        guard rest.hasPrefix("+") else { return parseTime(s) }
        rest = rest.dropFirst()
        let units: [Character: Int64] = ["s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800]
        var mult: Int64 = 1
        if let u = rest.last, let m = units[u] {
            mult = m
            rest = rest.dropLast()
        }
        guard !rest.isEmpty, rest.count <= 9, let n = Int64(rest) else { return nil }
        return now + n * mult
    }
}

/// Where a key is in its life at one time.
public enum KeyState: String, Sendable, Codable, CaseIterable {
    /// Before `Publish`: not in the DNSKEY set.
    case unpublished
    /// In the DNSKEY set, not signing yet (pre-published).
    case published
    /// In the DNSKEY set and signing.
    case active
    /// Past `Inactive`: in the DNSKEY set, no longer signing.
    case inactive
    /// Past `Delete`: out of the zone.
    case removed

    public var isPublished: Bool { self == .published || self == .active || self == .inactive }
}
