import DNSWire

/// Queries counted by question type, for metrics: a fixed set of well-known types plus "other", so the
/// label set is bounded whatever clients send. Plain integers in a tuple: no allocation, no lock.
/// Invariant: `names.count == slots` and `index(_:)` is always `< slots`.
public struct TypeCounters: Sendable {
    public static let names = [
        "A", "NS", "CNAME", "SOA", "PTR", "MX", "TXT", "AAAA", "SRV", "NAPTR",
        "DS", "DNSKEY", "SVCB", "HTTPS", "CAA", "ANY", "other",
    ]
    public static let slots = 17
    var counts: (Int, Int, Int, Int, Int, Int, Int, Int, Int, Int, Int, Int, Int, Int, Int, Int, Int) =
        (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    public init() {}

    /// The slot of a query type (`names[index]` is its label).
    @inline(__always)
    public static func index(_ qtype: UInt16) -> Int {
        switch qtype {
        case 1: return 0
        case 2: return 1
        case 5: return 2
        case 6: return 3
        case 12: return 4
        case 15: return 5
        case 16: return 6
        case 28: return 7
        case 33: return 8
        case 35: return 9
        case 43: return 10
        case 48: return 11
        case 64: return 12
        case 65: return 13
        case 257: return 14
        case 255: return 15
        default: return 16
        }
    }

    @inline(__always)
    public mutating func count(_ qtype: UInt16) {
        let i = TypeCounters.index(qtype)
        withUnsafeMutableBytes(of: &counts) { raw in
            raw.storeBytes(
                of: raw.load(fromByteOffset: i * MemoryLayout<Int>.stride, as: Int.self) &+ 1,
                toByteOffset: i * MemoryLayout<Int>.stride,
                as: Int.self
            )
        }
    }

    public subscript(slot: Int) -> Int {
        precondition(slot >= 0 && slot < TypeCounters.slots)
        return withUnsafeBytes(of: counts) { $0.load(fromByteOffset: slot * MemoryLayout<Int>.stride, as: Int.self) }
    }

    public mutating func add(_ other: TypeCounters) {
        for i in 0..<TypeCounters.slots {
            let sum = self[i] &+ other[i]
            withUnsafeMutableBytes(of: &counts) {
                $0.storeBytes(of: sum, toByteOffset: i * MemoryLayout<Int>.stride, as: Int.self)
            }
        }
    }
}
