import DNSWire

/// Builds raw DNS query packets for tests (including deliberately malformed ones).
public struct QueryBuilder {
    public var id: UInt16 = 0x1234
    public var flags: UInt16 = 0x0100  // RD
    public var name: [UInt8]
    public var type: UInt16
    public var qclass: UInt16 = RRClass.IN
    /// nil = no OPT record.
    public var ednsSize: UInt16? = nil
    public var ednsVersion: UInt8 = 0
    public var ednsDO = false
    public var ednsOptions: [(UInt16, [UInt8])] = []

    public init(_ name: String, _ type: UInt16, edns: UInt16? = nil) {
        self.name = try! DNSName(name.hasSuffix(".") ? name : name + ".").wire
        self.type = type
        self.ednsSize = edns
    }

    public var opt: [UInt8] {
        guard let size = ednsSize else { return [] }
        var rdata: [UInt8] = []
        for (code, data) in ednsOptions {
            rdata += [UInt8(code >> 8), UInt8(code & 0xFF), UInt8(data.count >> 8), UInt8(data.count & 0xFF)] + data
        }
        return [
            0, 0, 41, UInt8(size >> 8), UInt8(size & 0xFF), 0, ednsVersion, ednsDO ? 0x80 : 0, 0,
            UInt8(rdata.count >> 8), UInt8(rdata.count & 0xFF),
        ] + rdata
    }

    public var bytes: [UInt8] {
        var p: [UInt8] = [
            UInt8(id >> 8), UInt8(id & 0xFF), UInt8(flags >> 8), UInt8(flags & 0xFF), 0, 1, 0, 0, 0, 0,
            0, ednsSize == nil ? 0 : 1,
        ]
        p += name
        p += [UInt8(type >> 8), UInt8(type & 0xFF), UInt8(qclass >> 8), UInt8(qclass & 0xFF)]
        p += opt
        return p
    }
}
