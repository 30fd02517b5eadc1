import Geo

/// Where a query came from. A plain value (no allocation) filled by the server from the socket address.
public struct ClientInfo: Sendable {
    public enum Transport: UInt8, Sendable {
        case udp = 0
        case tcp = 1
    }
    public var transport: Transport
    /// 4 for IPv4, 6 for IPv6.
    public var family: UInt8
    /// Address bytes in network order; IPv4 uses the first 4 bytes.
    public var address: (UInt64, UInt64)
    public var port: UInt16

    public init(transport: Transport, family: UInt8 = 4, address: (UInt64, UInt64) = (0, 0), port: UInt16 = 0) {
        self.transport = transport
        self.family = family
        self.address = address
        self.port = port
    }

    /// The client address in the form `Geo` matches networks with (IPv4: only its 4 bytes).
    @inline(__always)
    public var addressBits: AddressBits {
        let a = AddressBits(
            family: family == 4 ? 4 : 6,
            hi: UInt64(bigEndian: address.0),
            lo: UInt64(bigEndian: address.1)
        )
        return family == 4 ? a.masked(32) : a
    }
}

/// Per-worker counters, plain integers bumped by the responder and folded into metrics by the owner.
public struct ResponderCounters: Sendable {
    public var queries: Int = 0
    public var dropped: Int = 0
    public var truncated: Int = 0
    /// UDP replies withheld by response rate limiting (not sent at all).
    public var rrlDropped: Int = 0
    /// UDP replies replaced by a truncated, empty slip reply (TC=1) by response rate limiting.
    public var rrlSlipped: Int = 0
    /// Index = rcode (0...15), 16 = BADVERS.
    public var byRcode: (Int, Int, Int, Int, Int, Int, Int, Int, Int, Int, Int, Int, Int, Int, Int, Int, Int) =
        (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    /// Queries with a readable question, by type (see `TypeCounters`).
    public var byType = TypeCounters()
    public init() {}
}
