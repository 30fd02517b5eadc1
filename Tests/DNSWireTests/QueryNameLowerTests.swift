import DNSWire
import Testing

/// `QueryParser.parse` lowers the question name eight bytes at a time: every byte value, at every position of
/// an eight-byte word and in the byte-by-byte tail, must come out as `asciiLower` makes it, and the label
/// offsets must be those of the name.
@Suite struct QueryNameLowerTests {
    static func query(_ name: [UInt8]) -> [UInt8] {
        [0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0] + name + [0, 1, 0, 1]
    }

    static func parse(_ packet: [UInt8]) -> (QueryParseResult, QueryFields, [UInt8], [UInt8]) {
        var q = QueryFields()
        let lower = UnsafeMutablePointer<UInt8>.allocate(capacity: 256)
        let offsets = UnsafeMutablePointer<UInt8>.allocate(capacity: 128)
        defer {
            lower.deallocate()
            offsets.deallocate()
        }
        lower.initialize(repeating: 0xEE, count: 256)
        offsets.initialize(repeating: 0, count: 128)
        let r = packet.withUnsafeBytes { QueryParser.parse($0, into: &q, lowerName: lower, labelOffsets: offsets) }
        return (
            r, q, Array(UnsafeBufferPointer(start: lower, count: 256)),
            Array(UnsafeBufferPointer(start: offsets, count: 128))
        )
    }

    @Test func everyByteValueAtEveryPosition() {
        // Labels of 1...20 bytes put each byte at every offset within a word and in the tail.
        for width in 1...20 {
            for value in 0...255 {
                let label = (0..<width).map { k in k == width / 2 ? UInt8(value) : UInt8(0x41 + (k % 26)) }
                let name: [UInt8] = [UInt8(width)] + label + [3, 0x43, 0x6F, 0x4D, 0]
                let (r, q, lower, offsets) = Self.parse(Self.query(name))
                #expect(r == .ok)
                #expect(q.qnameLength == name.count)
                #expect(Array(lower[0..<name.count]) == name.map(asciiLower))
                #expect(lower[name.count] == 0xEE, "nothing written past the name")
                #expect(q.labelCount == 2)
                #expect(Array(offsets[0..<2]) == [0, UInt8(width + 1)])
            }
        }
    }

    static func name(lastLabel: Int) -> [UInt8] {
        var name: [UInt8] = []
        for (k, n) in [63, 63, 63, lastLabel].enumerated() {
            name.append(UInt8(n))
            name += (0..<n).map { j in UInt8((j + k) % 2 == 0 ? 0x5A : 0x7A) }
        }
        return name + [0]
    }

    @Test func longestName() {
        // Three 63-byte labels and one of 61, mixed case: 255 bytes, the longest name there is.
        let name = Self.name(lastLabel: 61)
        #expect(name.count == 255)
        let (r, q, lower, _) = Self.parse(Self.query(name))
        #expect(r == .ok)
        #expect(q.qnameLength == 255)
        #expect(Array(lower[0..<255]) == name.map(asciiLower))
        // One byte more is FORMERR without a question.
        #expect(Self.parse(Self.query(Self.name(lastLabel: 62))).0 == .formErrNoQuestion)
    }
}
