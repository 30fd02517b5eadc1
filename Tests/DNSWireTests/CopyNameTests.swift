import DNSWire
import Testing

/// `QueryParser.copyName`: a possibly compressed name copied out uncompressed (used for the TSIG error reply).
@Suite struct CopyNameTests {
    struct Row: Sendable, CustomTestStringConvertible {
        var label: String, packet: [UInt8], start: Int, expected: [UInt8]?
        var testDescription: String { label }
    }
    // 12 header bytes, then "a.example." at 12, then names that point back into it.
    static let head: [UInt8] = Array(repeating: 0, count: 12) + [1, 0x61, 7] + Array("example".utf8) + [0]
    static let rows: [Row] = [
        Row(label: "plain", packet: head, start: 12, expected: [1, 0x61, 7] + Array("example".utf8) + [0]),
        Row(
            label: "pointer to a suffix",
            packet: head + [1, 0x62, 0xC0, 14],
            start: 23,
            expected: [1, 0x62, 7] + Array("example".utf8) + [0]
        ),
        Row(label: "root", packet: head + [0], start: 23, expected: [0]),
        Row(label: "forward pointer", packet: head + [0xC0, 25, 0], start: 23, expected: nil),
        Row(label: "pointer to itself", packet: head + [0xC0, 23], start: 23, expected: nil),
        Row(label: "runs past the end", packet: head + [5, 0x61], start: 23, expected: nil),
        Row(
            label: "label over 63",
            packet: head + [64] + Array(repeating: 0x61, count: 64) + [0],
            start: 23,
            expected: nil
        ),
        Row(
            label: "over 255 bytes",
            packet: head + Array(repeating: [63] + Array(repeating: UInt8(0x61), count: 63), count: 5).flatMap { $0 }
                + [0],
            start: 23,
            expected: nil
        ),
    ]

    @Test(arguments: rows)
    func copies(_ r: Row) {
        var out = [UInt8](repeating: 0xEE, count: 300)
        let got = r.packet.withUnsafeBytes { p in
            out.withUnsafeMutableBytes { o in QueryParser.copyName(p, r.start, to: o, at: 2) }
        }
        if let e = r.expected {
            #expect(got?.written == e.count)
            #expect(Array(out[2..<(2 + e.count)]) == e)
        } else {
            #expect(got == nil)
        }
    }

    /// The output buffer bounds the copy.
    @Test func doesNotWritePastTheBuffer() {
        var out = [UInt8](repeating: 0, count: 8)
        let got = Self.head.withUnsafeBytes { p in
            out.withUnsafeMutableBytes { QueryParser.copyName(p, 12, to: $0, at: 0) }
        }
        #expect(got == nil)
    }
}
