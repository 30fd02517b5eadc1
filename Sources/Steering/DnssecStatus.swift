import Answers
import DNSWire
import FoundationEssentials

/// The signed zones' keys as `/status`, `gtmd status` and `/metrics` show them: each key's role, state and
/// timing, its next event, whether its DS belongs at the parent now, and when signing ends with no successor.
public struct DnssecZoneStatus: Codable, Sendable, Hashable {
    public struct Key: Codable, Sendable, Hashable {
        public var file: String
        public var keyTag: UInt16
        /// ksk, zsk or csk.
        public var role: String
        public var algorithm: String
        /// unpublished, published, active, inactive or removed (`KeyState`).
        public var state: String
        /// True when it signs only because no other key of its role is active (past its Inactive or Delete).
        public var overstaying: Bool
        /// Its CDS/CDNSKEY are published: its DS belongs at the parent now.
        public var dsAtParent: Bool
        public var publish: Date?
        public var activate: Date?
        public var inactive: Date?
        public var delete: Date?
        public var nextEvent: String?
        public var nextEventAt: Date?
    }
    /// A role whose signing ends with no successor (the warning before keys expire).
    public struct Ending: Codable, Sendable, Hashable {
        public var role: String
        public var at: Date
        public var keys: [String]
    }
    public var zone: String
    public var keys: [Key]
    /// The next key event, or the automatic roll's successor due time when earlier.
    public var nextKeyEvent: Date?
    public var signingEnds: [Ending]
    /// `keys: auto` with a `key_lifetime`: the automatic roll's step (`AutoRoll.Step.text`; nil: no automatic roll).
    public var roll: String? = nil
    /// Since when a successor waits for its DS at the parent (`gtmd dnssec ds-seen` ends the wait).
    public var waitingForDSSince: Date? = nil

    /// The key states at `now` of every signed zone, by zone name.
    public static func build(_ signers: [DNSName: ZoneSigner], now: Date) -> [DnssecZoneStatus] {
        let t = Int64(now.timeIntervalSince1970)
        func date(_ v: Int64?) -> Date? { v.map { Date(timeIntervalSince1970: Double($0)) } }
        return signers.sorted { "\($0.key)" < "\($1.key)" }.map { zone, s in
            let roles = s.schedule.roles(at: t)
            let keys = s.schedule.states(at: t).map { st -> Key in
                let k = st.key
                let tm = k.timing
                let next = tm.nextEvent(after: t)
                let name = next.flatMap { n in
                    tm.fields.first { $0.time == n && $0.name != "Created" }?.name.lowercased()
                }
                return Key(
                    file: k.fileName,
                    keyTag: k.keyTag,
                    role: s.schedule.role(k).rawValue,
                    algorithm: k.algorithm.description,
                    state: st.state.rawValue,
                    overstaying: st.overstaying,
                    dsAtParent: k.isKeySigningKey && roles.sync.contains { $0 === k },
                    publish: date(tm.publish),
                    activate: date(tm.activate),
                    inactive: date(tm.inactive),
                    delete: date(tm.delete),
                    nextEvent: name,
                    nextEventAt: date(next)
                )
            }
            return DnssecZoneStatus(
                zone: "\(zone)",
                keys: keys,
                nextKeyEvent: date([roles.nextEvent, s.rollStep(at: t)?.dueAt].compactMap { $0 }.min()),
                signingEnds: s.schedule.signingEnds(from: t).map {
                    Ending(role: $0.role.rawValue, at: date($0.at)!, keys: $0.keys.map(\.fileName))
                },
                roll: s.rollStep(at: t)?.text.replacing("ZONE", with: "\(zone)"),
                waitingForDSSince: {
                    if case .waitingForDS(_, _, let since) = s.rollStep(at: t) { return date(since) }
                    return nil
                }()
            )
        }
    }

    /// `gtmd status` lines.
    public var lines: [String] {
        func iso(_ d: Date?) -> String { d.map { KeyTiming.iso(Int64($0.timeIntervalSince1970)) } ?? "-" }
        var out = ["dnssec \(zone): \(keys.count) key(s), next key event \(iso(nextKeyEvent))"]
        for k in keys {
            out.append(
                "  \(k.role.uppercased()) \(k.keyTag) \(k.algorithm): \(k.state)\(k.overstaying ? " (OVERSTAYING: no successor)" : "")"
                    + (k.dsAtParent ? ", DS at parent" : "")
                    + (k.nextEvent.map { ", next: \($0) at \(iso(k.nextEventAt))" } ?? "") + " (\(k.file))"
            )
        }
        if let r = roll { out.append("  roll: \(r)") }
        for e in signingEnds {
            out.append("  WARNING: \(e.role.uppercased()) signing ends at \(iso(e.at)) with no successor key")
        }
        return out
    }
}
