import Testing

@testable import DNSWire

/// Hand-made messages, with compression, for the ldns packet oracle.
enum Hand {
    static func u16(_ v: Int) -> [UInt8] { [UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }
    static func u32(_ v: UInt32) -> [UInt8] {
        [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)]
    }
    static func rr(_ owner: [UInt8], _ type: Int, _ ttl: UInt32, _ rdata: [UInt8], cls: Int = 1) -> [UInt8] {
        owner + u16(type) + u16(cls) + u32(ttl) + u16(rdata.count) + rdata
    }
    static func opt(
        size: Int = 1232,
        ext: UInt8 = 0,
        version: UInt8 = 0,
        flags: Int = 0x8000,
        options: [(Int, [UInt8])] = []
    ) -> [UInt8] {
        let rdata = options.flatMap { u16($0.0) + u16($0.1.count) + $0.1 }
        return [0] + u16(41) + u16(size) + [ext, version] + u16(flags) + u16(rdata.count) + rdata
    }
    static let cookie: [UInt8] = Array(1...16)

    /// id BEEF, QR AA RD AD CD, NOERROR; www.lab.example. A; 2 answers, SOA in authority, A + OPT in additional.
    static var response: [UInt8] {
        var p: [UInt8] = [0xBE, 0xEF, 0x85, 0x30] + u16(1) + u16(2) + u16(1) + u16(2)
        p += try! DNSName("www.lab.example.").wire + u16(1) + u16(1)  // question at 12; lab.example. at 16
        p += rr([0xC0, 12], 1, 30, [127, 0, 0, 11])
        p += rr([0xC0, 12], 1, 30, [127, 0, 0, 12])
        let soa: [UInt8] =
            [3] + Array("ns1".utf8) + [0xC0, 16] + [10] + Array("hostmaster".utf8) + [0xC0, 16]
            + u32(2_026_112_101) + u32(3600) + u32(600) + u32(86400) + u32(30)
        p += rr([0xC0, 16], 6, 300, soa)
        p += rr([4] + Array("mail".utf8) + [0xC0, 16], 1, 300, [192, 0, 2, 25])
        p += opt(options: [(3, Array("gtmd".utf8)), (10, cookie)])
        return p
    }
}

@Suite struct ParsedPacketTests {
    @Test func parsesAHandMadeResponse() throws {
        let p = try #require(LdnsRR.parsePacket(Hand.response))
        #expect(p.id == 0xBEEF)
        #expect(p.qr && p.aa && p.rd && p.ad && p.cd)
        #expect(!p.tc && !p.ra && !p.zBit)
        #expect(p.opcode == 0)
        #expect(p.rcode == 0 && p.headerRcode == 0)
        #expect((p.qdcount, p.ancount, p.nscount, p.arcount) == (1, 2, 1, 2))
        #expect(
            p.questions == [
                ParsedPacket.Question(name: try DNSName("www.lab.example."), type: RRType.A, rrClass: RRClass.IN)
            ]
        )
        #expect(p.question?.nameText == "www.lab.example.")
        #expect(p.answerText == ["www.lab.example. 30 IN A 127.0.0.11", "www.lab.example. 30 IN A 127.0.0.12"])
        #expect(
            p.authorityText == [
                "lab.example. 300 IN SOA ns1.lab.example. hostmaster.lab.example. 2026112101 3600 600 86400 30"
            ]
        )
        #expect(p.additionalText == ["mail.lab.example. 300 IN A 192.0.2.25"])
        // Compressed names in rdata come out uncompressed.
        let soa = try #require(p.authority.first)
        #expect(soa.rdata.prefix(17) == nameWire("ns1.lab.example.")[...])
        #expect(soa.soaSerial == 2_026_112_101 && soa.soaMinimum == 30)
        let edns = try #require(p.edns)
        #expect(edns.udpSize == 1232)
        #expect(edns.version == 0 && edns.extendedRcode == 0 && edns.doBit && edns.z == 0)
        #expect(edns.options == [.init(code: 3, data: Array("gtmd".utf8)), .init(code: 10, data: Hand.cookie)])
        #expect(edns.option(EDNSOption.nsid) == Array("gtmd".utf8))
        #expect(edns.optCount == 1)
        #expect(p.trailingBytes == 0)
        #expect(p.size == Hand.response.count)
        #expect(p.text.contains("www.lab.example."))
    }

    @Test func extendedRcodeAndNoEDNS() throws {
        let q = try DNSName("lab.example.").wire + Hand.u16(6) + Hand.u16(1)
        // BADVERS: header rcode 0, OPT extended rcode 1 -> 16.
        let badvers: [UInt8] =
            [0, 1, 0x80, 0x00] + Hand.u16(1) + Hand.u16(0) + Hand.u16(0) + Hand.u16(1) + q
            + Hand.opt(size: 4096, ext: 1, version: 0, flags: 0)
        let p = try #require(ParsedPacket(wire: badvers))
        #expect(p.rcode == UInt16(Rcode.badVers))
        #expect(p.headerRcode == 0)
        #expect(p.edns?.udpSize == 4096 && p.edns?.doBit == false)
        #expect(p.additional.isEmpty)

        // NXDOMAIN, no OPT, TC set, question only.
        let plain: [UInt8] = [0, 2, 0x82, 0x03] + Hand.u16(1) + Hand.u16(0) + Hand.u16(0) + Hand.u16(0) + q
        let n = try #require(ParsedPacket(wire: plain))
        #expect(n.rcode == UInt16(Rcode.nxDomain) && n.tc && n.edns == nil)
        #expect(n.question?.type == RRType.SOA)
    }

    @Test func reportsTrailingBytesAndRepeatedOPT() throws {
        let t = try #require(ParsedPacket(wire: Hand.response + [1, 2, 3]))
        #expect(t.trailingBytes == 3)
        // Two OPT records.
        var two = Hand.response
        two[11] = 3
        two += Hand.opt()
        let p = try #require(ParsedPacket(wire: two))
        #expect(p.edns?.optCount == 2)
    }

    @Test(
        arguments: [
            ("empty", [UInt8]()),
            ("short header", Array(Hand.response.prefix(11))),
            ("cut in the middle", Array(Hand.response.dropLast(5))),
            (
                "count beyond the data",
                {
                    var p = Hand.response
                    p[7] = 9
                    return p
                }()
            ),
            (
                "forward pointer",
                [0, 1, 0x80, 0] + Hand.u16(1) + Hand.u16(0) + Hand.u16(0) + Hand.u16(0)
                    + [0xC0, 20] + Hand.u16(1) + Hand.u16(1) + [0, 0, 0, 0]
            ),
            (
                "pointer loop",
                [0, 1, 0x80, 0] + Hand.u16(1) + Hand.u16(0) + Hand.u16(0) + Hand.u16(0)
                    + [0xC0, 12] + Hand.u16(1) + Hand.u16(1)
            ),
            (
                "label too long",
                [0, 1, 0x80, 0] + Hand.u16(1) + Hand.u16(0) + Hand.u16(0) + Hand.u16(0)
                    + [64] + Array(repeating: 0x61, count: 64) + [0] + Hand.u16(1) + Hand.u16(1)
            ),
        ] as [(String, [UInt8])]
    )
    func rejectsBrokenMessages(_ name: String, _ bytes: [UInt8]) {
        #expect(ParsedPacket(wire: bytes) == nil, "\(name)")
    }
}
