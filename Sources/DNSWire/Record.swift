/// One resource record, rdata in uncompressed wire form (as ldns writes it).
/// Invariant: `rdata` is the RFC 1035/3597 wire encoding of the RR's data for `type`.
public struct ResourceRecord: Hashable, Sendable {
    public var owner: DNSName
    public var type: UInt16
    public var rrClass: UInt16
    public var ttl: UInt32
    public var rdata: [UInt8]

    public init(owner: DNSName, type: UInt16, rrClass: UInt16 = RRClass.IN, ttl: UInt32, rdata: [UInt8]) {
        self.owner = owner
        self.type = type
        self.rrClass = rrClass
        self.ttl = ttl
        self.rdata = rdata
    }

    /// The domain name inside the rdata that additional-section processing and CNAME chains follow:
    /// NS, CNAME, PTR, DNAME target; MX exchange; SRV target. Nil for other types.
    public var targetName: DNSName? {
        let offset: Int
        switch type {
        case RRType.NS, RRType.CNAME, RRType.PTR, RRType.DNAME: offset = 0
        case RRType.MX: offset = 2
        case RRType.SRV: offset = 6
        default: return nil
        }
        guard rdata.count > offset else { return nil }
        return DNSName(wire: Array(rdata[offset...]))
    }

    /// SOA fields (RFC 1035 §3.3.13): the last five 32-bit words of the rdata.
    public var soaMinimum: UInt32? {
        guard type == RRType.SOA, rdata.count >= 22 else { return nil }
        let b = rdata.suffix(4)
        return b.reduce(0) { $0 << 8 | UInt32($1) }
    }
    public var soaSerial: UInt32? {
        guard type == RRType.SOA, rdata.count >= 22 else { return nil }
        let s = rdata.count - 20
        return rdata[s..<(s + 4)].reduce(0) { $0 << 8 | UInt32($1) }
    }
}
