import Testing

@testable import DNSWire

@Suite struct NameTests {
    /// (text, origin, wire labels, printed form)
    @Test(
        arguments: [
            ("www.Example.com.", nil, ["www", "Example", "com"], "www.Example.com."),
            (".", nil, [], "."),
            ("www", "lab.example.", ["www", "lab", "example"], "www.lab.example."),
            ("@", "lab.example.", ["lab", "example"], "lab.example."),
            ("a\\.b.example.", nil, ["a.b", "example"], "a\\.b.example."),
            ("\\065bc.", nil, ["Abc"], "Abc."),
            ("sp\\032ace.", nil, ["sp ace"], "sp\\032ace."),
            ("q\\\"\\;\\(\\)\\@\\$.", nil, ["q\";()@$"], "q\\\"\\;\\(\\)\\@\\$."),
            ("\\\\.", nil, ["\\"], "\\\\."),
            ("*.wild.", nil, ["*", "wild"], "*.wild."),
            ("x\\255.", nil, ["x\u{FF}"], "x\\255."),
            // A final escaped dot is part of the label: the name is relative (origin appended); an escaped
            // backslash before a final dot leaves it absolute.
            ("a\\.", "lab.example.", ["a.", "lab", "example"], "a\\..lab.example."),
            ("a\\.", nil, ["a."], "a\\.."),
            ("a\\\\.", "lab.example.", ["a\\"], "a\\\\."),
            ("b\\046", "lab.example.", ["b.", "lab", "example"], "b\\..lab.example."),
        ] as [(String, String?, [String], String)]
    )
    func parsesAndPrints(_ text: String, _ origin: String?, _ labels: [String], _ printed: String) throws {
        let o = try origin.map { try DNSName($0) }
        let n = try DNSName(text, origin: o)
        let expectedLabels: [[UInt8]] = labels.map { l in
            l.unicodeScalars.map { UInt8(truncatingIfNeeded: $0.value) }
        }
        #expect(n.labels.map(Array.init) == expectedLabels)
        #expect(n.description == printed)
        #expect(n.labelCount == labels.count)
        // Printing then parsing gives the same wire form.
        #expect(try DNSName(n.description).wire == n.wire)
        #expect(DNSName(wire: n.wire) != nil)
    }

    @Test(arguments: [
        ("a..b.", NameError.emptyLabel("a..b.")),
        (".a.", NameError.emptyLabel(".a.")),
        ("", NameError.empty),
        (String(repeating: "x", count: 64) + ".", NameError.labelTooLong(String(repeating: "x", count: 64) + ".")),
        (String(repeating: "abcdefg.", count: 32), NameError.nameTooLong(String(repeating: "abcdefg.", count: 32))),
        ("a\\256.", NameError.badEscape("a\\256.")),
        ("a\\1", NameError.badEscape("a\\1")),
        ("a\\", NameError.badEscape("a\\")),
    ])
    func rejects(_ text: String, _ error: NameError) {
        #expect(throws: error) { try DNSName(text) }
    }

    /// A relative name completed to exactly 255 bytes parses; one byte more does not.
    @Test func relativeNameUpToTheLimit() throws {
        let origin = try DNSName(String(repeating: "abcdefg.", count: 16))  // 129 bytes
        let fits = String(repeating: "x", count: 62) + "." + String(repeating: "y", count: 62)  // 126 bytes
        #expect(try DNSName(fits, origin: origin).wire.count == 255)
        #expect(throws: NameError.nameTooLong(fits + "z")) { try DNSName(fits + "z", origin: origin) }
    }

    @Test func atWithoutOrigin() {
        #expect(throws: NameError.relativeWithoutOrigin("@")) { try DNSName("@") }
    }

    @Test func wireValidation() {
        #expect(DNSName(wire: [0]) == .root)
        #expect(DNSName(wire: [1, 0x61, 0]) != nil)
        #expect(DNSName(wire: []) == nil)
        #expect(DNSName(wire: [1, 0x61]) == nil)  // no root label
        #expect(DNSName(wire: [1, 0x61, 0, 0]) == nil)  // bytes after the root label
        #expect(DNSName(wire: [64] + Array(repeating: 0x61, count: 64) + [0]) == nil)
    }

    @Test func comparesCaseInsensitively() throws {
        let a = try DNSName("WWW.Lab.Example.")
        let b = try DNSName("www.lab.example.")
        #expect(a == b)
        #expect(a.hashValue == b.hashValue)
        #expect(Set([a, b]).count == 1)
        #expect(a.description == "WWW.Lab.Example.")  // case preserved
        #expect(a.lowercased.wire == b.wire)
        #expect(try DNSName("www.lab.example.") != DNSName("www.lab.example.net."))
    }

    /// The hash lower-cases eight bytes at a time: every byte value at every place of the word is lower-cased as
    /// `asciiLower` does it, and names that differ only in case hash alike at every length (the packed tail too).
    @Test func hashLowerCasesEveryByteLikeAsciiLower() throws {
        for place in 0..<8 {
            for b in 0...255 {
                let v = UInt64(b) << UInt64(place * 8) | 0x4100_5A00_7A00_4000 & ~(0xFF << UInt64(place * 8))
                var expected: UInt64 = 0
                for k in 0..<8 {
                    expected |= UInt64(asciiLower(UInt8(truncatingIfNeeded: v >> UInt64(k * 8)))) << UInt64(k * 8)
                }
                #expect(DNSName.lower8(v) == expected, "byte \(b) at \(place)")
            }
        }
        for length in 1...40 {
            let label = String((0..<length).map { Character(UnicodeScalar(UInt8(0x41 + $0 % 26))) })
            let upper = try DNSName(label + ".Example.")
            let lower = try DNSName(label.lowercased() + ".example.")
            #expect(upper.hashValue == lower.hashValue, "length \(length)")
            #expect(Set([upper, lower]).count == 1)
        }
    }

    /// Dictionaries hash names with `_rawHashValue(seed:)` (no `Hasher`): 20,000 names like a big zone's
    /// (`hNNN.dNN.lab.example.`) give 20,000 different values under one seed, and the seed changes every value.
    @Test func rawHashSpreadsZoneLikeNamesAndTakesTheSeed() throws {
        let names = try (0..<20_000).map { try DNSName("h\($0 / 64).d\($0 % 64).lab.example.") }
        let seed = 0x5EED_F00D
        #expect(Set(names.map { $0._rawHashValue(seed: seed) }).count == names.count)
        #expect(names.allSatisfy { $0._rawHashValue(seed: seed) != $0._rawHashValue(seed: seed + 1) })
        // The low bits pick the bucket: 16,384 buckets get names spread over most of them.
        let buckets = Set(names.map { $0._rawHashValue(seed: seed) & 0x3FFF })
        #expect(buckets.count > 11_000, "\(buckets.count)")
        let table = Dictionary(uniqueKeysWithValues: names.enumerated().map { ($1, $0) })
        #expect(try table[DNSName("H7.D3.Lab.Example.")] == 7 * 64 + 3)
    }

    /// `wireNameIsAtOrBelow` (eight bytes at a time) agrees with `isSubdomain(of:)` for every pair of names of 1 to
    /// 30 bytes, upper case in the first, a suffix that is not on a label boundary, and equal names.
    @Test func wireNameIsAtOrBelowAgreesWithIsSubdomain() throws {
        let texts = [
            ".", "a.", "b.", "ab.", "b.ab.", "x.Example.", "example.", "xexample.", "a.b.c.d.example.", "c.d.example.",
            "d.example.", "long-label-1234.example.", "1234.example.", "x.long-label-1234.EXAMPLE.",
            "abcdefg.", "abcdefgh.", "x.abcdefgh.", "xabcdefgh.", "Q.q.abcdefghijklmnop.", "q.abcdefghijklmnop.",
        ]
        let names = try texts.map { try DNSName($0) }
        var below = 0
        for a in names {
            for b in names {
                let expected = a.isSubdomain(of: b)
                #expect(wireNameIsAtOrBelow(a.wire, b.lowercased.wire) == expected, "\(a) below \(b)")
                if expected { below += 1 }
            }
        }
        #expect(below > names.count * 2)
    }

    /// RFC 4034 §6.1's example, already in canonical order.
    @Test func canonicalOrder() throws {
        let ordered = try [
            "example.", "a.example.", "yljkjljk.a.example.", "Z.a.example.", "zABC.a.EXAMPLE.",
            "z.example.", "\\001.z.example.", "*.z.example.", "\\200.z.example.",
        ].map { try DNSName($0) }
        #expect(ordered.shuffled().sorted() == ordered)
        for (x, y) in zip(ordered, ordered.dropFirst()) { #expect(x < y) }
    }

    @Test func hierarchy() throws {
        let n = try DNSName("a.b.Lab.Example.")
        let zone = try DNSName("lab.example.")
        #expect(n.isSubdomain(of: zone))
        #expect(zone.isSubdomain(of: zone))
        #expect(!zone.isSubdomain(of: n))
        #expect(!(try DNSName("xlab.example.")).isSubdomain(of: zone))
        #expect(n.isSubdomain(of: .root))
        #expect(n.parent == (try DNSName("b.lab.example.")))
        #expect(DNSName.root.parent == nil)
        #expect(try DNSName("*.wild.").isWildcard)
        #expect(!(try DNSName("a*.wild.")).isWildcard)
        #expect(zone.prepending(label: "www") == (try DNSName("www.lab.example.")))
    }
}
