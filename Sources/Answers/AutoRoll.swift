import DNSWire

/// The automatic CSK roll of a `keys: auto` zone, read from the keys' timing metadata alone (the key files are
/// the roll's only state, so a restart or reload resumes it where it was):
/// 1. `due`: one CSK signs; when it is `key_lifetime` old, gtmd writes a successor CSK with Publish = now and
///    no Activate: it is in the DNSKEY set and its CDS/CDNSKEY are published, but it does not sign.
/// 2. `waitingForDS`: the old CSK keeps signing everything, so the chain from the old DS at the parent stays
///    valid however long the parent takes. Nothing happens on a timer: the operator confirms that the parent
///    serves the new DS (`gtmd dnssec ds-seen`), as with Knot's `ksk-submitted`.
/// 3. `switching`: `dsSeen` retimed both keys: at `max(now + parent DS TTL, successor's Publish + DNSKEY TTL)`
///    the successor activates and the old key goes inactive (and leaves the CDS set); caches then hold the new
///    DS and a DNSKEY set with the new key.
/// 4. `retiring`: the old key's DNSKEY stays for the zone's longest TTL after it stopped signing, then goes.
///    Then the roll is `due` again, a lifetime after the successor's activation.
public enum AutoRoll {
    public enum Step: Sendable, Equatable {
        /// No automatic roll (`key_lifetime: off`).
        case off
        /// The active CSK `key` gets a successor at `at`.
        case due(key: UInt16, at: Int64)
        /// The successor is published (since `since`); the old key signs until the parent's DS is confirmed.
        case waitingForDS(old: UInt16, successor: UInt16, since: Int64)
        /// The DS was confirmed: the successor takes over signing at `at`.
        case switching(old: UInt16, successor: UInt16, at: Int64)
        /// The successor signs; the old key's DNSKEY leaves the zone at `at`.
        case retiring(old: UInt16, successor: UInt16, at: Int64)
        /// The keys' timeline is not one the automatic roll made (set by hand): gtmd follows it and rolls nothing.
        case manual(String)

        /// One line for `/status`, `gtmd status` and the log.
        public var text: String {
            func iso(_ t: Int64) -> String { KeyTiming.iso(t) }
            switch self {
            case .off: return "automatic roll off (key_lifetime: off)"
            case .due(let k, let at): return "CSK \(k) signs; its successor is made at \(iso(at))"
            case .waitingForDS(let o, let s, let since):
                return
                    "successor CSK \(s) published, waiting for its DS at the parent since \(iso(since)); CSK \(o) keeps signing until then (confirm with: gtmd dnssec ds-seen ZONE \(s))"
            case .switching(let o, let s, let at):
                return "DS of CSK \(s) seen at the parent: it replaces CSK \(o) at \(iso(at))"
            case .retiring(let o, let s, let at):
                return "CSK \(s) signs; the old CSK \(o) leaves the DNSKEY set at \(iso(at))"
            case .manual(let why): return "automatic roll paused: \(why)"
            }
        }

        /// When the roll needs the steering loop to act (write the successor); nil when it waits on nothing.
        public var dueAt: Int64? {
            if case .due(_, let at) = self { return at }
            return nil
        }
    }

    /// When a key started signing, for its age: Activate, else Publish, else Created (nil: unknown).
    public static func birth(_ k: SigningKey) -> Int64? { k.timing.activate ?? k.timing.publish ?? k.timing.created }

    /// The roll's step at `now`. `lifetime` nil or 0: off. `born` gives the start of a key whose files carry no
    /// time at all (the `.private` file's modification time).
    public static func step(
        keys: [SigningKey],
        lifetime: Int64?,
        now: Int64,
        born: (SigningKey) -> Int64? = { _ in nil }
    ) -> Step {
        guard let lifetime, lifetime > 0 else { return .off }
        let live = keys.filter { $0.timing.state(at: now) != .removed }
        if live.contains(where: { !$0.isKeySigningKey }) {
            return .manual("the zone has a ZSK; the automatic roll rolls a single CSK")
        }
        let active = live.filter { $0.timing.state(at: now) == .active }
        let pending = live.filter { $0.timing.publish != nil && $0.timing.activate == nil }
        if let s = pending.first, let p = s.timing.publish {
            guard pending.count == 1, active.count == 1 else {
                return .manual("\(pending.count) successors wait for their DS beside \(active.count) active keys")
            }
            return .waitingForDS(old: active[0].keyTag, successor: s.keyTag, since: p)
        }
        if let s = live.first(where: { ($0.timing.activate ?? .min) > now }), let a = s.timing.activate {
            guard let o = active.first else { return .manual("no key is active before \(s.fileName) activates") }
            return .switching(old: o.keyTag, successor: s.keyTag, at: a)
        }
        guard active.count == 1 else { return .manual("\(active.count) CSKs are active at once") }
        let k = active[0]
        if let o = live.first(where: { $0.timing.state(at: now) == .inactive }) {
            return .retiring(old: o.keyTag, successor: k.keyTag, at: o.timing.delete ?? .max)
        }
        if k.timing.inactive != nil || k.timing.delete != nil {
            return .manual("\(k.fileName) has an Inactive or Delete time set by hand")
        }
        guard let b = birth(k) ?? born(k) else { return .manual("\(k.fileName) carries no time to age it from") }
        return .due(key: k.keyTag, at: b > Int64.max - lifetime ? Int64.max : b + lifetime)
    }

    /// A successor CSK for a `.due` step at `now`: Created = Publish = now, no Activate (it waits for its DS).
    public static func successor(
        zone: DNSName,
        algorithm: DnssecAlgorithm,
        now: Int64
    ) throws(DnssecError)
        -> SigningKey
    {
        try SigningKey.generate(
            zone: zone,
            algorithm: algorithm,
            keySigning: true,
            timing: KeyTiming(created: now, publish: now)
        )
    }

    /// The new timing of both keys when the operator confirms at `now` that the parent serves the successor's
    /// DS: the switch happens at `max(now + parentDSTTL, successor's Publish + dnskeyTTL)` (resolvers may hold
    /// the parent's old DS set, and a DNSKEY set without the successor, that long); the old key leaves the CDS
    /// set then, and the DNSKEY set `maxTTL` later (its signatures may be cached that long). `keyTag` nil: the
    /// one waiting successor. Errors say what the roll is doing instead.
    public static func dsSeen(
        keys: [SigningKey],
        step: Step,
        keyTag: UInt16?,
        now: Int64,
        parentDSTTL: Int64,
        dnskeyTTL: Int64,
        maxTTL: Int64
    ) throws(DnssecError) -> (old: SigningKey, oldTiming: KeyTiming, successor: SigningKey, successorTiming: KeyTiming)
    {
        guard case .waitingForDS(let o, let s, let since) = step else {
            throw DnssecError("no successor waits for its DS: \(step.text)")
        }
        if let keyTag, keyTag != s {
            throw DnssecError("key tag \(keyTag) is not the successor waiting for its DS (that is key tag \(s))")
        }
        guard let old = keys.first(where: { $0.keyTag == o }), let new = keys.first(where: { $0.keyTag == s }) else {
            throw DnssecError("the keys of the roll (\(o), \(s)) are not loaded")
        }
        let at = max(now + parentDSTTL, since + dnskeyTTL, now + 1)
        var ot = old.timing
        ot.inactive = at
        ot.syncDelete = at
        ot.delete = at + max(maxTTL, dnskeyTTL, 1)
        var nt = new.timing
        nt.activate = at
        return (old, ot, new, nt)
    }
}
