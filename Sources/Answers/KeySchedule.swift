import DNSWire

/// A signed zone's keys over time, from their timing metadata (`KeyTiming`): at any time, which keys are in
/// the DNSKEY set, which sign, whose DS belongs at the parent (CDS/CDNSKEY); and what is wrong with the
/// timeline. This is what makes a ZSK pre-publish roll and a KSK double-DS roll (RFC 6781 §4.1) happen.
/// Invariant: `split` is true exactly when some key has flags 256 (a KSK + ZSK set); otherwise every key is
/// a CSK and signs both the DNSKEY set and the zone's data.
public struct KeySchedule: Sendable {
    public let keys: [SigningKey]
    public let split: Bool

    public init(keys: [SigningKey]) {
        self.keys = keys
        split = keys.contains { !$0.isKeySigningKey }
    }

    /// What a key does in its zone.
    public enum Role: String, Sendable, Codable {
        case ksk, zsk, csk
    }

    public func role(_ k: SigningKey) -> Role { split ? (k.isKeySigningKey ? .ksk : .zsk) : .csk }

    /// The keys of the key-signing role (flags 257) and of the zone-signing role (flags 256; the CSKs when
    /// there are none).
    var keySigningRole: [SigningKey] { keys.filter(\.isKeySigningKey) }
    var zoneSigningRole: [SigningKey] { split ? keys.filter { !$0.isKeySigningKey } : keySigningRole }

    /// The keys at one time.
    public struct Roles: Sendable {
        public var at: Int64
        /// In the DNSKEY set.
        public var published: [SigningKey]
        /// Sign the DNSKEY, CDS and CDNSKEY sets.
        public var keySigning: [SigningKey]
        /// Sign everything else.
        public var zoneSigning: [SigningKey]
        /// Key-signing keys whose DS belongs at the parent (their CDS and CDNSKEY are published).
        public var sync: [SigningKey]
        /// Keys that sign past their Inactive (or stay past their Delete) time because no other key of their
        /// role is active then: the zone is never left unsigned, and the operator is warned.
        public var overstaying: [SigningKey]
        /// The next time a key changes state (nil: never).
        public var nextEvent: Int64?
    }

    /// The active keys of `role` at `t`; when none is, the ones that were active last (overstaying).
    func active(_ role: [SigningKey], at t: Int64) -> (keys: [SigningKey], overstaying: [SigningKey]) {
        let now = role.filter { $0.timing.state(at: t) == .active }
        if !now.isEmpty { return (now, []) }
        let ended = role.filter { k in
            (k.timing.activate ?? .min) <= t && (k.timing.publish ?? .min) <= t
        }
        func end(_ k: SigningKey) -> Int64 { k.timing.inactive ?? k.timing.delete ?? .max }
        guard let last = ended.map(end).max() else { return ([], []) }
        let kept = ended.filter { end($0) == last }
        return (kept, kept)
    }

    public func roles(at t: Int64) -> Roles {
        let k = active(keySigningRole, at: t)
        let z = split ? active(zoneSigningRole, at: t) : k
        var overstaying = k.overstaying
        for o in z.overstaying where !overstaying.contains(where: { $0 === o }) { overstaying.append(o) }
        func kept(_ key: SigningKey) -> Bool { overstaying.contains { $0 === key } }
        return Roles(
            at: t,
            published: keys.filter { $0.timing.state(at: t).isPublished || kept($0) },
            keySigning: k.keys,
            zoneSigning: z.keys,
            sync: keySigningRole.filter { $0.timing.inSync(at: t) || kept($0) },
            overstaying: overstaying,
            nextEvent: keys.compactMap { $0.timing.nextEvent(after: t) }.min()
        )
    }

    /// Each key's state at `t`, as `/status` shows it (an overstaying key shows as active).
    public func states(at t: Int64) -> [(key: SigningKey, state: KeyState, overstaying: Bool)] {
        let r = roles(at: t)
        return keys.map { k in
            let o = r.overstaying.contains { $0 === k }
            return (k, o ? .active : k.timing.state(at: t), o)
        }
    }

    /// When signing by `role`'s keys stops with no successor from `now` on: the first time no key of it is
    /// active and none activates later (nil: some key stays active forever, or a successor follows).
    func signingEnds(_ role: [SigningKey], from now: Int64) -> (at: Int64, keys: [SigningKey])? {
        var times = Set<Int64>([now])
        for k in role {
            for f in k.timing.fields where f.time > now { times.insert(f.time) }
        }
        for t in times.sorted() where role.allSatisfy({ $0.timing.state(at: t) != .active }) {
            if role.contains(where: { ($0.timing.activate ?? .min) > t }) { continue }
            let kept = active(role, at: t).overstaying
            let end = kept.compactMap { $0.timing.inactive ?? $0.timing.delete }.max() ?? t
            return (min(t, end), kept)
        }
        return nil
    }

    /// The time signing ends with no successor, per role (the key-signing role only when split), for the
    /// warning before it happens; nil when there is none.
    public func signingEnds(from now: Int64) -> [(role: Role, at: Int64, keys: [SigningKey])] {
        var out: [(Role, Int64, [SigningKey])] = []
        if let e = signingEnds(zoneSigningRole, from: now) { out.append((split ? .zsk : .csk, e.at, e.keys)) }
        if split, let e = signingEnds(keySigningRole, from: now) { out.append((.ksk, e.at, e.keys)) }
        return out
    }

    /// What is wrong with the keys' timeline from `now` on. Errors: a key's events out of order; a role with
    /// no key active now that never had one; a gap in the future between one key's end and its successor's
    /// start (the zone would be unsigned then: the operator mistimed a roll). Warnings: a role whose keys all
    /// stop with no successor (now or later: gtmd keeps signing with the last one rather than serve the zone
    /// unsigned); a successor pre-published for less than `dnskeyTTL`; a retired key removed less than
    /// `maxTTL` after it stopped signing.
    public func problems(now: Int64, dnskeyTTL: UInt32, maxTTL: UInt32) -> (errors: [String], warnings: [String]) {
        var errors: [String] = []
        var warnings: [String] = []
        func name(_ k: SigningKey) -> String { k.fileName }
        func when(_ t: Int64) -> String { KeyTiming.iso(t) }
        for k in keys {
            for p in k.timing.orderProblems { errors.append("\(name(k)): \(p)") }
        }
        guard errors.isEmpty else { return (errors, warnings) }
        var roles: [(String, [SigningKey])] = [(split ? "zone-signing (ZSK)" : "CSK", zoneSigningRole)]
        if split { roles.append(("key-signing (KSK)", keySigningRole)) }
        for (label, role) in roles {
            let now0 = role.filter { $0.timing.state(at: now) == .active }
            if now0.isEmpty {
                let a = active(role, at: now)
                if a.keys.isEmpty {
                    let next = role.compactMap { k in k.timing.activate.map { (k, $0) } }.filter { $0.1 > now }
                        .min { $0.1 < $1.1 }
                    errors.append(
                        "no \(label) key is active now"
                            + (next.map { ": the first, \(name($0.0)), activates at \(when($0.1))" } ?? "")
                            + "; the zone cannot be signed"
                    )
                    continue
                }
                let successor = role.compactMap(\.timing.activate).filter { $0 > now }.min()
                warnings.append(
                    "no \(label) key is active now: \(a.keys.map(name).joined(separator: ", ")) keeps signing past its end (\(when(a.keys[0].timing.inactive ?? a.keys[0].timing.delete ?? now)))"
                        + (successor.map { " until the next key activates at \(when($0))" }
                            ?? "; make a successor (gtmd dnssec keygen with --publish/--activate)")
                )
                continue
            }
            // Walk the role's future events: a moment with no active key.
            var times = Set<Int64>()
            for k in role {
                for f in k.timing.fields where f.time > now && f.name != "Created" { times.insert(f.time) }
            }
            for t in times.sorted() where role.allSatisfy({ $0.timing.state(at: t) != .active }) {
                let ending = role.filter { ($0.timing.inactive ?? $0.timing.delete).map { $0 <= t } == true }
                    .max {
                        ($0.timing.inactive ?? $0.timing.delete ?? 0) < ($1.timing.inactive ?? $1.timing.delete ?? 0)
                    }
                if let next = role.compactMap({ k in k.timing.activate.map { (k, $0) } }).filter({ $0.1 > t })
                    .min(by: { $0.1 < $1.1 })
                {
                    errors.append(
                        "no \(label) key is active from \(when(t)) to \(when(next.1))"
                            + (ending.map { " (\(name($0)) stops at \(when(t)), " } ?? " (")
                            + "\(name(next.0)) activates at \(when(next.1))): the zone would be signed by no key then; activate the successor at or before \(when(t))"
                    )
                } else {
                    warnings.append(
                        "\(ending.map(name) ?? "the last \(label) key") stops signing at \(when(t)) and no successor follows: make one before then (gtmd keeps signing with it after \(when(t)) rather than serve the zone unsigned)"
                    )
                }
                break
            }
            // Pre-publish and retire intervals of the zone-signing keys (their signatures are what caches hold).
            guard label != "key-signing (KSK)" else { continue }
            for k in role {
                if let a = k.timing.activate, let p = k.timing.publish, a > now, a - p < Int64(dnskeyTTL),
                    role.contains(where: { o in o !== k && o.timing.state(at: p) == .active })
                {
                    warnings.append(
                        "\(name(k)): it signs \(a - p) s after it is published; resolvers may hold a DNSKEY set without it for dnskey_ttl (\(dnskeyTTL) s): publish it at least that long before it activates"
                    )
                }
                if let i = k.timing.inactive ?? k.timing.delete, let d = k.timing.delete, d > now, d - i < Int64(maxTTL)
                {
                    warnings.append(
                        "\(name(k)): its DNSKEY goes \(d - i) s after it stops signing; resolvers may hold its signatures for the zone's longest TTL (\(maxTTL) s): delete it at least that long after Inactive"
                    )
                }
            }
        }
        return (errors, warnings)
    }
}
