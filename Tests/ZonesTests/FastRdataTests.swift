import DNSWire
import Foundation
import TestSupport
import Testing

@testable import Zones

/// The loader reads A, AAAA, NS, CNAME, PTR, MX, SRV and TXT rdata itself when the text is plain (FastRdata.swift):
/// whatever it reads must be what ldns reads, and whatever is not plain must go to ldns.
@Suite struct FastRdataTests {
    let origin = try! DNSName("t.example.")

    /// `FastRdata`'s reading of `rdata` as the lexer hands it over (after an owner).
    func fastRead(_ type: UInt16, _ rdata: String) -> [UInt8]? {
        FastRdata.parse(type: type, MasterFileLexer.lex(Array("x \(rdata)\n".utf8)).entries[0], from: 1, origin: origin)
    }

    /// ldns's reading of `TYPE rdata` at x.t.example., nil when ldns refuses it.
    func ldns(_ type: String, _ rdata: String) -> [UInt8]? {
        try? LdnsRR.parse("x.t.example. 300 IN \(type) \(rdata)", origin: origin, defaultTTL: 300).rdata
    }

    @Test(arguments: [
        ("A", "192.0.2.1"), ("A", "0.0.0.0"), ("A", "255.255.255.255"), ("A", "10.0.0.1"), ("A", "1.20.0.100"),
        ("A", "249.250.199.9"),
        ("AAAA", "2001:db8::1"), ("AAAA", "::"), ("AAAA", "::ffff:192.0.2.1"), ("AAAA", "2001:DB8:0:0:0:0:0:FF"),
        ("NS", "ns1"), ("NS", "ns1.t.example."), ("NS", "NS1.Other.Example."), ("CNAME", "a-b_c.d"),
        ("CNAME", "*.wild"), ("PTR", "host.example.net."), ("CNAME", "."), ("MX", "10 mail"), ("MX", "0 ."),
        ("MX", "65535 mx.example.net."), ("MX", "010 mail"), ("SRV", "10 60 5060 h14.d14"),
        ("SRV", "0 0 0 ."), ("SRV", "65535 65535 65535 sip.example.net."), ("TXT", "\"v=spf1 -all\""),
        ("TXT", "\"one\" \"two\""), ("TXT", "\"a\""), ("TXT", "\"" + String(repeating: "x", count: 255) + "\""),
        ("TXT", "\" spaces  inside \""),
    ])
    func plainTextReadsAsLdnsDoes(_ type: String, _ rdata: String) throws {
        let t = try #require(LdnsRR.typeValue(type))
        let fast = try #require(fastRead(t, rdata), "\(type) \(rdata)")
        #expect(fast == ldns(type, rdata), "\(type) \(rdata)")
    }

    @Test(arguments: [
        ("A", "192.0.2"), ("A", "192.0.2.256"), ("A", "192.0.2.1 x"), ("A", "\\# 4 c0000201"), ("A", "\"192.0.2.1\""),
        ("A", "192.0.2.01"), ("A", "192.00.2.1"), ("A", "1.2.3.4.5"), ("A", "1..2.3"), ("A", ".1.2.3"), ("A", "1.2.3."),
        ("A", "1.2.3.1000"), ("A", "0x1.2.3.4"), ("A", "1.2.3.-4"), ("A", "300.2.3.4"), ("A", "1.2.3.4a"),
        ("AAAA", "2001:db8::g"), ("AAAA", "192.0.2.1"), ("NS", "@"), ("NS", "a\\.b"), ("NS", "a..b"), ("NS", ".a"),
        ("CNAME", "\\065bc"), ("MX", "70000 mail"), ("MX", "-1 mail"), ("MX", "+1 mail"), ("MX", "10"),
        ("MX", "10 a b"), ("MX", "1x mail"), ("CNAME", String(repeating: "a", count: 64)),
        ("SRV", "10 60 5060"), ("SRV", "10 60 70000 h"), ("SRV", "10 60 5060 @"), ("SRV", "a 60 5060 h"),
        ("TXT", "plain"), ("TXT", "\"\""), ("TXT", "\"a\\\"b\""), ("TXT", "\"a\\065\""), ("TXT", "\"a;b\""),
        ("TXT", "\"" + String(repeating: "x", count: 256) + "\""), ("TXT", "\"a\" b"),
    ])
    func anythingElseGoesToLdns(_ type: String, _ rdata: String) throws {
        let t = try #require(LdnsRR.typeValue(type))
        #expect(fastRead(t, rdata) == nil, "\(type) \(rdata)")
    }

    /// The dotted-quad reader takes exactly what `inet_pton(AF_INET)` takes, with the same bytes, over octet
    /// spellings with leading zeros, out of range, empty, signed or hexadecimal, three to five of them.
    @Test func dottedQuadsReadAsInetPtonReadsThem() {
        let parts = ["0", "00", "01", "1", "9", "10", "99", "100", "199", "255", "256", "1000", "", "-1", "0x1", "2a"]
        var checked = 0
        for a in parts {
            for b in ["0", "01", "255", "256", ""] {
                for c in ["1", "00", ""] {
                    for last in parts {
                        for text in ["\(a).\(b).\(c).\(last)", "\(a).\(b).\(last)", "\(a).\(b).\(c).\(last).1"] {
                            let bytes = Array(text.utf8)
                            let (ours, theirs) = bytes.withUnsafeBufferPointer {
                                (FastRdata.ipv4($0), FastRdata.address($0, family: AF_INET, length: 4))
                            }
                            #expect(ours == theirs, "\(text)")
                            checked += 1
                        }
                    }
                }
            }
        }
        #expect(checked == parts.count * 5 * 3 * parts.count * 3)
    }

    /// Every record of a generated benchmark zone (bench/gen-zone.py) is read as ldns reads its presentation form.
    @Test func generatedZoneLoadsAsLdnsReadsIt() throws {
        let dir = try TempZoneDir([:])
        let path = dir.path("lab.zone")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", Repo.root.appendingPathComponent("bench/gen-zone.py").path, "3000"]
        FileManager.default.createFile(atPath: path, contents: nil)
        p.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try p.run()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        let zone = try ZoneLoader.load(origin: DNSName("lab.example."), path: path).get()
        #expect(zone.warnings.isEmpty, "\(zone.warnings)")
        let owners = Set(zone.records.map(\.record.owner))
        #expect(owners.count >= 2990 && owners.count <= 3010, "\(owners.count) owners")
        var types: Set<UInt16> = []
        for r in zone.records {
            types.insert(r.record.type)
            let again = try LdnsRR.parse(
                LdnsRR.presentation(r.record),
                origin: DNSName("lab.example."),
                defaultTTL: r.record.ttl
            )
            #expect(again == r.record, "\(r.file):\(r.line)")
        }
        for t in [RRType.A, RRType.AAAA, RRType.CNAME, RRType.MX, RRType.TXT, RRType.SRV, RRType.NS] {
            #expect(types.contains(t), "type \(t) in the generated zone")
        }
    }

    /// The reader's fast spellings of types and the class (a packed word each) are ldns's values; other spellings,
    /// lower case and longer ones still go to ldns.
    @Test func typeAndClassSpellingsAreLdnsValues() {
        var r = Reader(apex: origin, maxBytes: 1 << 20)
        for t in ["A", "AAAA", "CNAME", "MX", "NS", "TXT", "SRV", "a", "cname", "NSEC3PARAM", "TYPE65280", "CAA"] {
            #expect(r.typeValue(t) == LdnsRR.typeValue(t), "\(t)")
        }
        #expect(r.typeValue("IN") == nil && r.typeValue("NOTATYPE") == nil && r.typeValue("AAAAAAAAA") == nil)
        #expect(r.classValue("IN") == RRClass.IN && r.classValue("in") == RRClass.IN && r.classValue("A") == nil)
        #expect(r.classValue("CH") == LdnsRR.classValue("CH"))
    }
}
