import Answers
import Geo

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Response rate limiting (RRL) settings, in the spirit of BIND's and Knot's: per client network
/// (`ipv4Prefix` / `ipv6Prefix`) and response identity (question name, type, rcode), at most
/// `responsesPerSecond` identical UDP responses per second, with a burst of `responsesPerSecond × window`.
/// Excess responses are dropped, except every `slip`-th, which is answered empty with TC=1 so a real
/// client retries over TCP (0 = drop all). TCP is never limited.
public struct RateLimitOptions: Sendable, Hashable {
    /// 0 = rate limiting off.
    public var responsesPerSecond: Int
    /// Seconds of credit a client network may accumulate (the burst is `responsesPerSecond × window`).
    public var window: Int
    public var slip: Int
    public var ipv4Prefix: Int
    public var ipv6Prefix: Int
    /// Client networks never limited.
    public var exempt: [IPNetwork]
    /// Buckets per UDP worker (rounded up to a power of two); memory is 32 bytes each.
    public var tableSize: Int

    public init(
        responsesPerSecond: Int = 0,
        window: Int = 5,
        slip: Int = 2,
        ipv4Prefix: Int = 24,
        ipv6Prefix: Int = 56,
        exempt: [IPNetwork] = IPNetwork.loopback,
        tableSize: Int = 16384
    ) {
        self.responsesPerSecond = responsesPerSecond
        self.window = window
        self.slip = slip
        self.ipv4Prefix = ipv4Prefix
        self.ipv6Prefix = ipv6Prefix
        self.exempt = exempt
        self.tableSize = tableSize
    }

    public var enabled: Bool { responsesPerSecond > 0 }
}

/// One UDP worker's rate limiter: a fixed-size table of token buckets (2-way set associative, keyed by
/// a seeded SipHash of client network + response identity), allocated once. `check` neither allocates
/// nor locks. Owned by one worker thread (not Sendable). Invariant: `0 ≤ tokens ≤ capacity` in every slot.
/// Being per worker, a flood spread by the kernel over N workers (different source ports) can get up to
/// N × the configured rate through.
final class ResponseRateLimiter {
    enum Verdict { case send, drop, slip }

    /// Invariant: the empty bucket is all zero bytes (the table is made with calloc).
    struct Bucket {
        var key: UInt64 = 0  // 0 = empty
        var tokens: Int64 = 0  // milli-responses
        var lastMs: Int64 = 0
        var excess: UInt32 = 0
    }

    private let buckets: UnsafeMutablePointer<Bucket>
    private let mask: Int
    private let rate: Int64  // milli-responses per millisecond = responses per second
    private let capacity: Int64
    private let slip: UInt32
    private let v4Prefix: Int, v6Prefix: Int
    /// The exempt networks as masks over the address words, so the check (once per reply) is a few ANDs and
    /// compares inline rather than calls into Geo.
    private struct Exempt {
        var family: UInt8
        var maskHi: UInt64, maskLo: UInt64
        var hi: UInt64, lo: UInt64
    }
    private let exempt: ContiguousArray<Exempt>

    init(_ o: RateLimitOptions) {
        var size = 1024
        while size < o.tableSize && size < (1 << 24) { size <<= 1 }
        // An empty bucket is all zero bytes: calloc gives pages the kernel fills on first touch, so the table
        // (512 KiB per worker by default) costs memory only where clients hash to, and nothing at start.
        guard let zeroed = calloc(size, MemoryLayout<Bucket>.stride) else { fatalError("rate limiter: out of memory") }
        buckets = zeroed.bindMemory(to: Bucket.self, capacity: size)
        mask = size - 1
        rate = Int64(max(1, o.responsesPerSecond))
        capacity = Int64(max(1, o.responsesPerSecond)) * Int64(max(1, o.window)) * 1000
        slip = UInt32(max(0, o.slip))
        v4Prefix = o.ipv4Prefix
        v6Prefix = o.ipv6Prefix
        exempt = ContiguousArray(
            o.exempt.map { net in
                let ones = AddressBits(family: net.base.family, hi: .max, lo: .max).masked(net.length)
                return Exempt(
                    family: net.base.family,
                    maskHi: ones.hi,
                    maskLo: ones.lo,
                    hi: net.base.hi,
                    lo: net.base.lo
                )
            }
        )
    }

    deinit { free(buckets) }

    /// Monotonic milliseconds (read once per batch).
    static func nowMs() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }

    /// Decides whether the reply `respond` just wrote for `client` may go out.
    func check(client: ClientInfo, reply: UnsafeRawBufferPointer, scratch: QueryScratch, nowMs: Int64) -> Verdict {
        // The address words as `AddressBits` has them (host order; IPv4 in the top 32 bits of `hi`).
        let v4 = client.family == 4
        let family: UInt8 = v4 ? 4 : 6
        let hi = UInt64(bigEndian: client.address.0) & (v4 ? 0xFFFF_FFFF_0000_0000 : .max)
        let lo = v4 ? 0 : UInt64(bigEndian: client.address.1)
        let isExempt = exempt.withUnsafeBufferPointer { list -> Bool in
            var e = 0
            while e < list.count {
                let x = list[e]
                if x.family == family && hi & x.maskHi == x.hi && lo & x.maskLo == x.lo { return true }
                e += 1
            }
            return false
        }
        if isExempt { return .send }
        let a = AddressBits(family: family, hi: hi, lo: lo)
        let n = a.masked(client.family == 4 ? v4Prefix : v6Prefix)
        let (nh, nl) = (n.hi, n.lo)
        var hasher = Hasher()
        hasher.combine(client.family)
        hasher.combine(nh)
        hasher.combine(nl)
        scratch.combineResponseIdentity(into: &hasher, reply: reply)
        let key = UInt64(bitPattern: Int64(hasher.finalize())) | 1
        let i = Int(truncatingIfNeeded: key) & mask
        let j = i ^ 1
        let slot: Int
        if buckets[i].key == key {
            slot = i
        } else if buckets[j].key == key {
            slot = j
        } else {
            // A new identity takes the least recently used of the two ways, with a full bucket.
            slot = buckets[i].lastMs <= buckets[j].lastMs ? i : j
            buckets[slot] = Bucket(key: key, tokens: capacity, lastMs: nowMs, excess: 0)
        }
        let elapsed = max(0, nowMs - buckets[slot].lastMs)
        buckets[slot].lastMs = nowMs
        // elapsed ≤ 2^63 / rate is guaranteed in practice (monotonic ms × ≤ 10^6 responses/s).
        buckets[slot].tokens = min(capacity, buckets[slot].tokens + min(elapsed, capacity) * rate)
        if buckets[slot].tokens >= 1000 {
            buckets[slot].tokens -= 1000
            return .send
        }
        buckets[slot].excess &+= 1
        if slip > 0 && buckets[slot].excess % slip == 0 { return .slip }
        return .drop
    }
}
