import Glibc

/// An address as two 64-bit halves, most significant bit first (IPv4 in the top 32 bits of `hi`).
/// The form the hot path uses: built without allocation from socket addresses and ECS options.
public struct AddressBits: Sendable, Hashable {
    public var family: UInt8  // 4 or 6
    public var hi: UInt64
    public var lo: UInt64
    public init(family: UInt8, hi: UInt64, lo: UInt64) {
        self.family = family
        self.hi = hi
        self.lo = lo
    }

    public init(_ a: IPAddress) {
        let b = a.bytes
        var hi: UInt64 = 0
        var lo: UInt64 = 0
        for (i, byte) in b.enumerated() {
            if i < 8 {
                hi |= UInt64(byte) << (56 - 8 * UInt64(i))
            } else {
                lo |= UInt64(byte) << (56 - 8 * UInt64(i - 8))
            }
        }
        self.init(family: b.count == 4 ? 4 : 6, hi: hi, lo: lo)
    }

    /// Bits of the family (32 or 128).
    @inline(__always) public var width: Int { family == 4 ? 32 : 128 }

    @inline(__always) public func bit(_ i: Int) -> Int {
        i < 64
            ? Int(truncatingIfNeeded: (hi >> UInt64(63 - i)) & 1) : Int(truncatingIfNeeded: (lo >> UInt64(127 - i)) & 1)
    }

    /// The address with every bit from `length` on cleared.
    @inline(__always) public func masked(_ length: Int) -> AddressBits {
        var r = self
        if length <= 0 {
            r.hi = 0
            r.lo = 0
        } else if length < 64 {
            r.hi &= ~(UInt64.max >> UInt64(length))
            r.lo = 0
        } else if length == 64 {
            r.lo = 0
        } else if length < 128 {
            r.lo &= ~(UInt64.max >> UInt64(length - 64))
        }
        return r
    }

    /// An IPv4-mapped IPv6 address (::ffff:a.b.c.d) as IPv4; anything else unchanged.
    @inline(__always) public var unmapped: AddressBits {
        guard family == 6, hi == 0, lo >> 32 == 0xFFFF else { return self }
        return AddressBits(family: 4, hi: (lo & 0xFFFF_FFFF) << 32, lo: 0)
    }

    public var address: IPAddress {
        var bytes: [UInt8] = []
        for i in 0..<(family == 4 ? 4 : 16) {
            bytes.append(
                i < 8
                    ? UInt8(truncatingIfNeeded: hi >> (56 - 8 * UInt64(i)))
                    : UInt8(truncatingIfNeeded: lo >> (56 - 8 * UInt64(i - 8)))
            )
        }
        return family == 4 ? .v4(bytes) : .v6(bytes)
    }
}

/// A CIDR network, e.g. `10.1.0.0/16` or `2001:db8::/32`; a bare address is a host route.
public struct IPNetwork: Sendable, Hashable, CustomStringConvertible {
    public var base: AddressBits
    public var length: Int

    public init(base: AddressBits, length: Int) {
        self.base = base.masked(length)
        self.length = length
    }

    /// Parses strictly: the address must have no bits set beyond the prefix length.
    public static func parse(_ text: String) -> Result<IPNetwork, GeoError> {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2, let a = IPAddress.parse(String(parts[0])) else {
            return .failure(GeoError("'\(text)' is not a network (examples: 10.1.0.0/16, 2001:db8::/32, 192.0.2.7)"))
        }
        let bits = AddressBits(a)
        var length = bits.width
        if parts.count == 2 {
            guard let l = Int(parts[1]), (0...bits.width).contains(l) else {
                return .failure(GeoError("'\(text)': prefix length must be 0...\(bits.width)"))
            }
            length = l
        }
        guard bits.masked(length) == bits else {
            return .failure(
                GeoError(
                    "'\(text)' has bits set beyond /\(length) (did you mean \(IPNetwork(base: bits, length: length))?)"
                )
            )
        }
        return .success(IPNetwork(base: bits, length: length))
    }

    public init(address: IPAddress, length: Int) { self.init(base: AddressBits(address), length: length) }

    @inline(__always)
    public func contains(_ a: AddressBits) -> Bool { a.family == base.family && a.masked(length) == base }

    /// 127.0.0.0/8 and ::1/128.
    public static let loopback: [IPNetwork] = [
        IPNetwork(address: .v4([127, 0, 0, 0]), length: 8),
        IPNetwork(address: .v6([UInt8](repeating: 0, count: 15) + [1]), length: 128),
    ]

    public var description: String { "\(base.address)/\(length)" }
}

public struct GeoError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ d: String) { description = d }
}

/// Longest-prefix-match table from networks to values: a binary trie in flat arrays, built once and
/// read without locks or allocation. Node 0 is the IPv4 root, node 1 the IPv6 root.
public struct NetworkMap: Sendable {
    var children: [Int32] = [-1, -1, -1, -1]  // 2 per node, -1 = none
    var values: [Int32] = [-1, -1]  // per node, -1 = no rule ends here
    var lengths: [UInt8] = [0, 0]  // per node: its depth
    /// Where the walk stands after an address's first eight bits, per value of those bits (IPv4's 256, then
    /// IPv6's): a lookup of eight bits or more starts there instead of at the root. Made by `seal()`, emptied
    /// by `insert`.
    var starts: [WalkState] = []
    public private(set) var count = 0

    public init() {}

    struct WalkState {
        var node: Int32
        var best: Int32
        var depth: UInt8
        var bestLength: UInt8

        /// At family root `root` (0: IPv4, 1: IPv6), no bit walked: the best rule so far is one of length 0.
        @inline(__always)
        static func at(root: Int, _ values: UnsafeBufferPointer<Int32>) -> WalkState {
            WalkState(node: Int32(root), best: values[root], depth: 0, bestLength: 0)
        }
    }

    /// Makes the table of walk states after eight bits (`starts`): call once every rule is in. Lookups give the
    /// same matches without it, only longer.
    public mutating func seal() {
        var s: [WalkState] = []
        s.reserveCapacity(512)
        children.withUnsafeBufferPointer { children in
            values.withUnsafeBufferPointer { values in
                for root in 0..<2 {
                    for top in 0..<256 {
                        let first = UInt64(top) << 56
                        let state = WalkState.at(root: root, values)
                        s.append(NetworkMap.walk(children, values, from: state, hi: first, lo: 0, limit: 8))
                    }
                }
            }
        }
        starts = s
    }

    /// Adds a rule; returns the value already stored for exactly this network (then nothing changes).
    @discardableResult
    public mutating func insert(_ n: IPNetwork, value: Int32) -> Int32? {
        starts = []
        var node = n.base.family == 4 ? 0 : 1
        for i in 0..<n.length {
            let b = n.base.bit(i)
            var c = Int(children[2 * node + b])
            if c < 0 {
                c = values.count
                values.append(-1)
                lengths.append(UInt8(i + 1))
                children.append(-1)
                children.append(-1)
                children[2 * node + b] = Int32(c)
            }
            node = c
        }
        if values[node] >= 0 { return values[node] }
        values[node] = value
        count += 1
        return nil
    }

    public struct Match: Sendable, Equatable {
        /// The value of the longest matching rule, -1 when none matches.
        public var value: Int32
        /// That rule's prefix length (0 when none matches).
        public var ruleLength: Int
        /// The shortest prefix of the address for which every address sharing it gets the same result
        /// (at least `ruleLength`; longer when more specific rules lie inside the matched one). One more
        /// than the bits looked up when a more specific rule lies inside them: those bits are not enough
        /// to decide (RFC 7871 §7.2.1 allows a SCOPE longer than the SOURCE to say so).
        public var scope: Int
        public init(value: Int32, ruleLength: Int, scope: Int) {
            self.value = value
            self.ruleLength = ruleLength
            self.scope = scope
        }
    }

    /// Longest-prefix match of `a` over its first `bits` bits. Per query on nearest answers: the walk reads the
    /// arrays through unsafe buffers (no bounds check or retain per bit) and shifts the address word instead of
    /// extracting bit `depth` each time.
    /// A sealed map starts a lookup of eight bits or more at the state its table holds for the address's first
    /// eight bits: the same state the walk from the root reaches (a walk that stopped earlier stops again at once).
    @inline(__always)
    public func lookup(_ a: AddressBits, bits: Int) -> Match {
        children.withUnsafeBufferPointer { children in
            values.withUnsafeBufferPointer { values in
                let root = a.family == 4 ? 0 : 1
                let start =
                    bits >= 8 && !starts.isEmpty
                    ? starts[(root << 8) | Int(truncatingIfNeeded: a.hi >> 56)]
                    : WalkState.at(root: root, values)
                let end = NetworkMap.walk(children, values, from: start, hi: a.hi, lo: a.lo, limit: min(bits, 128))
                let node = Int(end.node)
                let depth = Int(end.depth)
                // Addresses that share the walked bits plus the next one end on this node too; when every bit
                // was walked and rules lie deeper, the bits given do not decide: one more is needed.
                let hasChildren = children[2 * node] >= 0 || children[2 * node + 1] >= 0
                let scope = hasChildren && bits > 0 ? depth + 1 : depth
                return Match(value: end.best, ruleLength: Int(end.bestLength), scope: min(scope, a.width))
            }
        }
    }

    /// Walks on from `state` one bit of the address (`hi`, then `lo`) at a time until `limit` bits or a missing
    /// child, noting the deepest rule passed.
    @inline(__always)
    static func walk(
        _ children: UnsafeBufferPointer<Int32>,
        _ values: UnsafeBufferPointer<Int32>,
        from state: WalkState,
        hi: UInt64,
        lo: UInt64,
        limit: Int
    ) -> WalkState {
        var node = Int(state.node)
        var depth = Int(state.depth)
        var best = state.best
        var bestLength = Int(state.bestLength)
        var word = depth < 64 ? hi << UInt64(depth) : lo << UInt64(depth - 64)
        while depth < limit {
            if depth == 64 { word = lo }
            let c = Int(children[2 * node + Int(truncatingIfNeeded: word >> 63)])
            if c < 0 { break }
            word <<= 1
            node = c
            depth += 1
            if values[node] >= 0 {
                best = values[node]
                bestLength = depth
            }
        }
        return WalkState(
            node: Int32(truncatingIfNeeded: node),
            best: best,
            depth: UInt8(truncatingIfNeeded: depth),
            bestLength: UInt8(truncatingIfNeeded: bestLength)
        )
    }
}
