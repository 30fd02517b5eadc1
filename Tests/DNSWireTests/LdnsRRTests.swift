import Testing

@testable import DNSWire

let lab = try! DNSName("lab.example.")

func nameWire(_ s: String) -> [UInt8] { try! DNSName(s).wire }

@Suite struct LdnsRRTests {
    /// (input relative to lab.example., presentation ldns gives back)
    @Test(arguments: [
        (
            "@ 300 IN SOA ns1 hostmaster 2026112101 3600 600 86400 30",
            "lab.example. 300 IN SOA ns1.lab.example. hostmaster.lab.example. 2026112101 3600 600 86400 30"
        ),
        ("@ 300 IN NS ns1", "lab.example. 300 IN NS ns1.lab.example."),
        ("@ 300 IN MX 10 mail", "lab.example. 300 IN MX 10 mail.lab.example."),
        ("@ 300 IN TXT \"v=spf1 -all\"", "lab.example. 300 IN TXT \"v=spf1 -all\""),
        ("@ 300 IN CAA 0 issue \"letsencrypt.org\"", "lab.example. 300 IN CAA 0 issue \"letsencrypt.org\""),
        ("www 30 IN A 127.0.0.11", "www.lab.example. 30 IN A 127.0.0.11"),
        ("v6 300 IN AAAA 2001:DB8:0:0::25", "v6.lab.example. 300 IN AAAA 2001:db8::25"),
        ("alias 300 IN CNAME www", "alias.lab.example. 300 IN CNAME www.lab.example."),
        ("out 300 IN CNAME www.example.net.", "out.lab.example. 300 IN CNAME www.example.net."),
        ("*.wild 300 IN A 192.0.2.80", "*.wild.lab.example. 300 IN A 192.0.2.80"),
        ("_sip._udp 300 IN SRV 10 60 5060 mail", "_sip._udp.lab.example. 300 IN SRV 10 60 5060 mail.lab.example."),
        ("ptr 300 IN PTR www.lab.example.", "ptr.lab.example. 300 IN PTR www.lab.example."),
        ("d 300 IN DNAME example.net.", "d.lab.example. 300 IN DNAME example.net."),
        ("h 300 IN HINFO \"PC\" \"Linux\"", "h.lab.example. 300 IN HINFO \"PC\" \"Linux\""),
        (
            "t 300 IN TXT \"a;b\" \"(c)\" \"tab\\009\" \"q\\\"\"",
            "t.lab.example. 300 IN TXT \"a;b\" \"(c)\" \"tab\\009\" \"q\\\"\""
        ),
        ("unknown 300 IN TYPE65280 \\# 4 0A000001", "unknown.lab.example. 300 IN TYPE65280 \\# 4 0a000001"),
        ("empty 300 IN TYPE65281 \\# 0", "empty.lab.example. 300 IN TYPE65281 \\# 0"),
        ("generic 300 IN TYPE1 \\# 4 C0000201", "generic.lab.example. 300 IN A 192.0.2.1"),
        (
            "ds 300 IN DS 12345 8 2 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "ds.lab.example. 300 IN DS 12345 8 2 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
        ),
        ("ch 300 CH TXT \"chaos\"", "ch.lab.example. 300 CH TXT \"chaos\""),
    ])
    func roundTrip(_ input: String, _ presentation: String) throws {
        let rr = try LdnsRR.parse(input, origin: lab, defaultTTL: 300)
        #expect(LdnsRR.presentation(rr) == presentation)
        // The presentation parses back to the same record (rdata in the same wire form).
        let again = try LdnsRR.parse(presentation, origin: .root, defaultTTL: 1)
        #expect(again == rr)
        #expect(again.rdata == rr.rdata)
    }

    /// Rdata comes out in uncompressed wire form.
    @Test(arguments: [
        ("www 30 IN A 127.0.0.11", RRType.A, [127, 0, 0, 11] as [UInt8]),
        ("@ 1 IN MX 10 mail", RRType.MX, [0, 10] + nameWire("mail.lab.example.")),
        ("@ 1 IN NS ns1", RRType.NS, nameWire("ns1.lab.example.")),
        ("s 1 IN SRV 10 60 5060 mail", RRType.SRV, [0, 10, 0, 60, 0x13, 0xC4] + nameWire("mail.lab.example.")),
        ("t 1 IN TXT \"ab\" c", RRType.TXT, [2, 0x61, 0x62, 1, 0x63]),
        ("c 1 IN CAA 0 issue \"x\"", RRType.CAA, [0, 5] + Array("issuex".utf8)),
        (
            "@ 1 IN SOA a b 1 2 3 4 5", RRType.SOA,
            nameWire("a.lab.example.") + nameWire("b.lab.example.") + [
                0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 5,
            ]
        ),
        ("u 1 IN TYPE65280 \\# 4 0A000001", 65280, [10, 0, 0, 1]),
        ("v 1 IN AAAA ::1", RRType.AAAA, Array(repeating: 0, count: 15) + [1]),
    ])
    func wireForm(_ input: String, _ type: UInt16, _ rdata: [UInt8]) throws {
        let rr = try LdnsRR.parse(input, origin: lab, defaultTTL: 300)
        #expect(rr.type == type)
        #expect(rr.rrClass == RRClass.IN)
        #expect(rr.rdata == rdata)
    }

    @Test func soaAccessors() throws {
        let rr = try LdnsRR.parse(
            "@ 300 IN SOA ns1 hostmaster 2026112101 3600 600 86400 30",
            origin: lab,
            defaultTTL: 1
        )
        #expect(rr.soaSerial == 2_026_112_101)
        #expect(rr.soaMinimum == 30)
        #expect(rr.owner == lab)
    }

    @Test func defaultsAndPreviousOwner() throws {
        let noTTL = try LdnsRR.parse("www IN A 192.0.2.1", origin: lab, defaultTTL: 77)
        #expect(noTTL.ttl == 77)
        let noClass = try LdnsRR.parse("www 5 A 192.0.2.1", origin: lab, defaultTTL: 77)
        #expect(noClass.rrClass == RRClass.IN && noClass.ttl == 5)
        let blank = try LdnsRR.parse(
            " 5 IN A 192.0.2.1",
            origin: lab,
            defaultTTL: 1,
            previousOwner: DNSName("prev.lab.example.")
        )
        #expect(blank.owner == (try DNSName("prev.lab.example.")))
        let units = try LdnsRR.parse("www 1h IN A 192.0.2.1", origin: lab, defaultTTL: 1)
        #expect(units.ttl == 3600)
    }

    @Test(arguments: [
        ("www 1 IN A 1.2.3", "Syntax error, could not parse the RR's rdata"),
        ("www 1 IN A 192.0.2.1 extra", "Syntax error, superfluous text present"),
        ("www 1 IN MX 10", "Syntax error, value expected"),
        ("www 1 IN AAAA 2001:db8::g", "Syntax error, could not parse the RR's rdata"),
    ])
    func parseErrors(_ input: String, _ status: String) {
        #expect(throws: RecordParseError(status: status, text: input)) {
            try LdnsRR.parse(input, origin: lab, defaultTTL: 300)
        }
    }

    @Test func errorDescription() {
        let e = RecordParseError(status: "Syntax error, value expected", text: "www MX 10")
        #expect(e.description == "Syntax error, value expected: 'www MX 10'")
    }

    @Test func presentationOfUndecodableRdata() throws {
        // An A record with 3 bytes of rdata: ldns will not decode it, so it is printed generically.
        let rr = ResourceRecord(owner: try DNSName("x.example."), type: RRType.A, ttl: 5, rdata: [1, 2, 3])
        let p = LdnsRR.presentation(rr)
        #expect(p == "x.example. 5 IN A \\# 3 010203")
        #expect(
            LdnsRR.rdataPresentation(try LdnsRR.parse("m 1 IN MX 10 mail", origin: lab, defaultTTL: 1))
                == "10 mail.lab.example."
        )
    }

    @Test func wireFormOfWholeRecord() throws {
        let rr = try LdnsRR.parse("a.example. 258 IN A 192.0.2.1", origin: .root, defaultTTL: 1)
        #expect(rr.wireForm() == nameWire("a.example.") + [0, 1, 0, 1, 0, 0, 1, 2, 0, 4, 192, 0, 2, 1])
    }

    @Test func typeAndClassNames() {
        #expect(LdnsRR.typeName(RRType.A) == "A")
        #expect(LdnsRR.typeName(RRType.CAA) == "CAA")
        #expect(LdnsRR.typeName(44) == "SSHFP")
        #expect(LdnsRR.typeName(65280) == "TYPE65280")
        #expect(LdnsRR.typeValue("caa") == RRType.CAA)
        #expect(LdnsRR.typeValue("TYPE65280") == 65280)
        #expect(LdnsRR.typeValue("FOO") == nil)
        #expect(LdnsRR.typeValue("IN") == nil)
        #expect(LdnsRR.classValue("in") == RRClass.IN)
        #expect(LdnsRR.classValue("CH") == RRClass.CH)
        #expect(LdnsRR.classValue("A") == nil)
        #expect(LdnsRR.className(RRClass.CH) == "CH")
    }
}
