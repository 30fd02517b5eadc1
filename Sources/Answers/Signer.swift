import DNSWire
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Signs one zone's RRsets for the answer tables (RFC 4034/4035), with a cache keyed by RRset content: a
/// failover and its failback sign nothing the second time, and a publish signs only RRsets it has not seen.
/// Invariant: every key is for `zone`; `keySigning` sign the DNSKEY/CDS/CDNSKEY RRsets, `zoneSigning` the rest
/// (the same key when it is a CSK). Which keys those are follows their timing metadata (`KeySchedule`): fixed
/// at each compile (`beginCompile`), so a table's DNSKEY set and its signatures always agree; a key event makes
/// the steering loop compile again (`nextKeyEvent`). Thread-safe: the cache, the roles and ldns's key state are
/// used under one lock.
public final class ZoneSigner: Sendable {
    public let zone: DNSName
    /// Every key of the zone, whatever its state.
    public let schedule: KeySchedule
    public var keys: [SigningKey] { schedule.keys }
    /// Keys whose DNSKEY is published at the apex (as of the last compile).
    public var published: [SigningKey] { roles.published }
    public var keySigning: [SigningKey] { roles.keySigning }
    public var zoneSigning: [SigningKey] { roles.zoneSigning }
    /// The keys' roles as of the last compile.
    public var roles: KeySchedule.Roles { state.withLock { $0.roles } }
    public let nsec3: Bool
    public let validity: UInt32
    public let refresh: UInt32
    public let dnskeyTTL: UInt32
    public let cds: Bool
    /// `keys: auto` with a `key_lifetime`: the automatic CSK roll (nil: key files, or `key_lifetime: off`).
    public let autoRoll: AutoRollSettings?
    /// Seconds since 1970 (a parameter so tests can move the clock).
    let clock: @Sendable () -> UInt32

    struct Key: Hashable {
        var owner: [UInt8]
        var type: UInt16
        var ttl: UInt32
        var rdatas: [[UInt8]]
        var keySigning: Bool
        /// Key tags of the keys that signed (a key event that changes them signs again).
        var by: [UInt16]
    }
    struct Entry {
        var signatures: [ResourceRecord]
        var expiration: UInt32
        /// When it is made again (less than `refresh` left, minus jitter).
        var renewAt: UInt32
    }
    struct State {
        var roles: KeySchedule.Roles
        var cache: [Key: Entry] = [:]
        var signed = 0
        var reused = 0
        var rng = SystemRandomNumberGenerator()
    }
    private let state: Mutex<State>

    public init(
        zone: DNSName,
        keys: [SigningKey],
        nsec3: Bool = false,
        validity: UInt32 = 14 * 86_400,
        refresh: UInt32 = 7 * 86_400,
        dnskeyTTL: UInt32 = 3600,
        cds: Bool = true,
        autoRoll: AutoRollSettings? = nil,
        clock: @escaping @Sendable () -> UInt32 = { UInt32(truncatingIfNeeded: time(nil)) }
    ) {
        self.zone = zone
        self.schedule = KeySchedule(keys: keys)
        self.state = Mutex(State(roles: schedule.roles(at: Int64(clock()))))
        self.nsec3 = nsec3
        self.validity = validity
        self.refresh = min(refresh, validity - 1)
        self.dnskeyTTL = dnskeyTTL
        self.cds = cds
        self.autoRoll = autoRoll
        self.clock = clock
    }

    public var now: UInt32 { clock() }

    /// Starts a compile: fixes the keys' roles at the signer's clock and returns the apex records for them.
    public func beginCompile() -> [ResourceRecord] {
        let r = schedule.roles(at: Int64(clock()))
        state.withLock { $0.roles = r }
        return apexRecords(r)
    }

    /// The next key event after the last compile (seconds since 1970): the zone must be compiled again then.
    public var nextKeyEvent: UInt32? {
        let r = roles
        let due = rollStep(at: r.at)?.dueAt
        return [r.nextEvent, due].compactMap { $0 }.min().map { UInt32(clamping: $0) }
    }

    /// The automatic roll's step at `t` (nil: no automatic roll).
    public func rollStep(at t: Int64) -> AutoRoll.Step? {
        guard let a = autoRoll else { return nil }
        return AutoRoll.step(keys: keys, lifetime: a.lifetime, now: t) { a.born[$0.keyTag] }
    }

    /// The automatic roll's successor is due at `t`: the steering loop writes it (`DnssecKeys.rollDue`).
    public func rollDue(at t: Int64) -> Bool {
        guard let d = rollStep(at: t)?.dueAt else { return false }
        return d <= t
    }

    /// The apex records for the roles of the last compile.
    public var apexRecords: [ResourceRecord] { apexRecords(roles) }

    /// The apex records the signer adds: DNSKEY of every published key; CDS (SHA-256) and CDNSKEY of the
    /// key-signing keys whose DS belongs at the parent (RFC 7344) when `cds` is on.
    func apexRecords(_ roles: KeySchedule.Roles) -> [ResourceRecord] {
        var out: [ResourceRecord] = []
        for k in roles.published {
            var r = k.dnskey
            r.owner = zone
            r.ttl = dnskeyTTL
            out.append(r)
        }
        guard cds else { return out }
        for k in roles.sync {
            if var ds = k.ds(ttl: dnskeyTTL) {
                ds.owner = zone
                ds.type = RRType.CDS
                out.append(ds)
            }
            var c = k.dnskey
            c.owner = zone
            c.type = RRType.CDNSKEY
            c.ttl = dnskeyTTL
            out.append(c)
        }
        return out
    }

    /// The RRSIGs over `rrset` (one per signing key), from the cache while more than `refresh` is left of them.
    /// Returns the signatures and the earliest time they must be made again; empty when ldns fails (logged by
    /// the caller through `failures`).
    public func signatures(
        _ rrset: [ResourceRecord]
    ) -> (records: [ResourceRecord], renewAt: UInt32, expiration: UInt32) {
        guard let first = rrset.first else { return ([], .max, .max) }
        let byKSK = [RRType.DNSKEY, RRType.CDS, RRType.CDNSKEY].contains(first.type)
        let now = clock()
        return state.withLock { s in
            let signing = byKSK ? s.roles.keySigning : s.roles.zoneSigning
            let key = Key(
                owner: first.owner.lowercased.wire,
                type: first.type,
                ttl: rrset.map(\.ttl).min() ?? first.ttl,
                rdatas: rrset.map(\.rdata).sorted { $0.lexicographicallyPrecedes($1) },
                keySigning: byKSK,
                by: signing.map(\.keyTag)
            )
            if let e = s.cache[key], now < e.renewAt {
                s.reused += 1
                return (e.signatures, e.renewAt, e.expiration)
            }
            let inception = now &- 3600
            let expiration = now &+ validity
            var sigs: [ResourceRecord] = []
            let set = rrset.map { r -> ResourceRecord in
                var c = r
                c.ttl = key.ttl
                return c
            }
            for k in signing {
                if let sig = try? k.sign(set, inception: inception, expiration: expiration) { sigs.append(sig) }
            }
            let jitter = UInt32.random(in: 0...(validity / 10), using: &s.rng)
            let renewAt = expiration &- refresh &- jitter
            s.cache[key] = Entry(signatures: sigs, expiration: expiration, renewAt: renewAt)
            s.signed += 1
            return (sigs, renewAt, expiration)
        }
    }

    /// Same keys and parameters: a reload may keep this signer (and its cache) instead of `other`.
    public func signsLike(_ other: ZoneSigner) -> Bool {
        zone == other.zone && keys.map(\.dnskey) == other.keys.map(\.dnskey)
            && keys.map(\.timing) == other.keys.map(\.timing) && nsec3 == other.nsec3
            && validity == other.validity && refresh == other.refresh && dnskeyTTL == other.dnskeyTTL
            && cds == other.cds && autoRoll == other.autoRoll
    }

    /// Signatures made and served from the cache so far.
    public var counts: (signed: Int, reused: Int) { state.withLock { ($0.signed, $0.reused) } }

    /// Drops cache entries that expired or were made by keys that no longer sign (called after each full
    /// compile so the cache does not grow forever).
    public func prune() {
        let now = clock()
        state.withLock { s in
            let ksk = s.roles.keySigning.map(\.keyTag)
            let zsk = s.roles.zoneSigning.map(\.keyTag)
            s.cache = s.cache.filter { now < $0.value.expiration && $0.key.by == ($0.key.keySigning ? ksk : zsk) }
        }
    }
}

/// What the automatic CSK roll of a `keys: auto` zone needs (`AutoRoll`).
public struct AutoRollSettings: Sendable, Equatable {
    /// A CSK gets a successor when it has signed this long (seconds).
    public var lifetime: Int64
    /// TTL of the DS at the parent (seconds): the switch waits that long after the DS is confirmed.
    public var parentDSTTL: Int64
    /// Algorithm of the successor.
    public var algorithm: DnssecAlgorithm
    /// Start of keys whose files carry no time (by key tag: the `.private` file's modification time).
    public var born: [UInt16: Int64]

    public init(lifetime: Int64, parentDSTTL: Int64, algorithm: DnssecAlgorithm, born: [UInt16: Int64] = [:]) {
        self.lifetime = lifetime
        self.parentDSTTL = parentDSTTL
        self.algorithm = algorithm
        self.born = born
    }
}
