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
/// (the same key when it is a CSK). Thread-safe: the cache and ldns's key state are used under one lock.
public final class ZoneSigner: Sendable {
    public let zone: DNSName
    /// Keys whose DNSKEY is published at the apex.
    public let published: [SigningKey]
    public let keySigning: [SigningKey]
    public let zoneSigning: [SigningKey]
    public let nsec3: Bool
    public let validity: UInt32
    public let refresh: UInt32
    public let dnskeyTTL: UInt32
    public let cds: Bool
    /// Seconds since 1970 (a parameter so tests can move the clock).
    let clock: @Sendable () -> UInt32

    struct Key: Hashable {
        var owner: [UInt8]
        var type: UInt16
        var ttl: UInt32
        var rdatas: [[UInt8]]
        var keySigning: Bool
    }
    struct Entry {
        var signatures: [ResourceRecord]
        var expiration: UInt32
        /// When it is made again (less than `refresh` left, minus jitter).
        var renewAt: UInt32
    }
    struct State {
        var cache: [Key: Entry] = [:]
        var signed = 0
        var reused = 0
        var rng = SystemRandomNumberGenerator()
    }
    private let state = Mutex(State())

    public init(
        zone: DNSName,
        keys: [SigningKey],
        nsec3: Bool = false,
        validity: UInt32 = 14 * 86_400,
        refresh: UInt32 = 7 * 86_400,
        dnskeyTTL: UInt32 = 3600,
        cds: Bool = true,
        clock: @escaping @Sendable () -> UInt32 = { UInt32(truncatingIfNeeded: time(nil)) }
    ) {
        self.zone = zone
        self.published = keys
        let ksk = keys.filter(\.isKeySigningKey)
        let zsk = keys.filter { !$0.isKeySigningKey }
        self.keySigning = ksk
        self.zoneSigning = zsk.isEmpty ? ksk : zsk
        self.nsec3 = nsec3
        self.validity = validity
        self.refresh = min(refresh, validity - 1)
        self.dnskeyTTL = dnskeyTTL
        self.cds = cds
        self.clock = clock
    }

    public var now: UInt32 { clock() }

    /// The apex records the signer adds: DNSKEY of every published key; CDS (SHA-256) and CDNSKEY of the
    /// key-signing keys (RFC 7344) when `cds` is on.
    public var apexRecords: [ResourceRecord] {
        var out: [ResourceRecord] = []
        for k in published {
            var r = k.dnskey
            r.owner = zone
            r.ttl = dnskeyTTL
            out.append(r)
        }
        guard cds else { return out }
        for k in keySigning {
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
        let key = Key(
            owner: first.owner.lowercased.wire,
            type: first.type,
            ttl: rrset.map(\.ttl).min() ?? first.ttl,
            rdatas: rrset.map(\.rdata).sorted { $0.lexicographicallyPrecedes($1) },
            keySigning: byKSK
        )
        let now = clock()
        return state.withLock { s in
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
            for k in byKSK ? keySigning : zoneSigning {
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
        zone == other.zone && published.map(\.dnskey) == other.published.map(\.dnskey) && nsec3 == other.nsec3
            && validity == other.validity && refresh == other.refresh && dnskeyTTL == other.dnskeyTTL
            && cds == other.cds
    }

    /// Signatures made and served from the cache so far.
    public var counts: (signed: Int, reused: Int) { state.withLock { ($0.signed, $0.reused) } }

    /// Drops cache entries that expired (called after each full compile so the cache does not grow forever).
    public func prune() {
        let now = clock()
        state.withLock { s in s.cache = s.cache.filter { now < $0.value.expiration } }
    }
}
