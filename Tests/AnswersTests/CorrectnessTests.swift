import Answers
import DNSWire
import Foundation
import TestSupport
import Testing
import Zones

// Issue 14: answers defined by RFCs that reference servers (NSD, Knot) give. ldns is the oracle: every
// reply is decoded by ldns_wire2pkt (with a strict structural walk), and its size is compared with
// ldns's own compressed encoding of the same message.

/// Zones from text (origin → master-file text), built into a table.
func buildTable(
    _ zones: [(String, String)],
    dynamic: [DNSName: AnswerTableBuilder.Dynamic] = [:],
    options: ResponseOptions = ResponseOptions()
) throws -> AnswerTable {
    var loaded: [Zone] = []
    for (origin, text) in zones {
        switch ZoneLoader.load(origin: try DNSName(origin), text: text) {
        case .success(let z): loaded.append(z)
        case .failure(let p): throw p
        }
    }
    return AnswerTableBuilder(options: options).build(zones: loaded, dynamic: dynamic)
}

func askParsed(
    _ q: QueryBuilder,
    table: AnswerTable,
    transport: ClientInfo.Transport = .udp,
    sourceLocation: SourceLocation = #_sourceLocation
) throws -> ParsedPacket {
    let reply = ask(q.bytes, transport: transport, table: table)
    let p = try #require(
        LdnsRR.parsePacket(reply),
        "reply does not parse with ldns: \(reply)",
        sourceLocation: sourceLocation
    )
    #expect(p.id == q.id && p.qr, sourceLocation: sourceLocation)
    #expect(p.trailingBytes == 0, sourceLocation: sourceLocation)
    return p
}

/// example. (parent) delegates child.example. and serves it too; other.example. is delegated without a DS.
let parentZone = """
    $TTL 300
    @ SOA ns1 hostmaster 1 3600 600 86400 60
    @ NS ns1
    ns1 A 192.0.2.1
    child NS ns1.child
    child DS 12345 13 2 2BB183AF5F22588179A53B0A98631FAD1A292118A74B4D8D1A3D8C0D0C4E9B37
    ns1.child A 192.0.2.2
    nods NS ns1.nods
    ns1.nods A 192.0.2.3
    """
let childZone = """
    $TTL 300
    @ SOA ns1 hostmaster 7 3600 600 86400 120
    @ NS ns1
    ns1 A 192.0.2.2
    www A 192.0.2.80
    """
let nodsZone = """
    $TTL 300
    @ SOA ns1 hostmaster 9 3600 600 86400 90
    @ NS ns1
    ns1 A 192.0.2.3
    """

@Suite struct DSAtACut {
    /// RFC 4035 §3.1.4.1: a DS query at a cut whose both sides we serve is answered from the parent.
    @Test func fromTheParent() throws {
        let t = try buildTable([("example.", parentZone), ("child.example.", childZone), ("nods.example.", nodsZone)])
        let ds = try askParsed(QueryBuilder("child.example", RRType.DS), table: t)
        #expect(ds.rcode == 0 && ds.aa, "\(ds.text)")
        #expect(ds.answer.map(\.type) == [RRType.DS] && owners(ds.answer) == ["child.example."], "\(ds.text)")
        // No DS in the parent: NODATA with the parent's SOA (MINIMUM 60), not the child's.
        let none = try askParsed(QueryBuilder("nods.example", RRType.DS), table: t)
        #expect(none.rcode == 0 && none.aa && none.answer.isEmpty, "\(none.text)")
        #expect(owners(none.authority) == ["example."] && none.authority.first?.ttl == 60, "\(none.text)")
        // Every other type at the child apex is the child's.
        let soa = try askParsed(QueryBuilder("child.example", RRType.SOA), table: t)
        #expect(soa.answer.first?.soaSerial == 7, "\(soa.text)")
        let a = try askParsed(QueryBuilder("www.child.example", RRType.A), table: t)
        #expect(data(a.answer) == ["192.0.2.80"] && a.aa)
        // Served alone, the child answers DS at its apex itself (NODATA with its SOA).
        let alone = try buildTable([("child.example.", childZone)])
        let own = try askParsed(QueryBuilder("child.example", RRType.DS), table: alone)
        #expect(own.answer.isEmpty && owners(own.authority) == ["child.example."], "\(own.text)")
        // The parent alone gives its DS at the cut too (data it is authoritative for).
        let parentOnly = try buildTable([("example.", parentZone)])
        #expect(
            try askParsed(QueryBuilder("child.example", RRType.DS), table: parentOnly).answer.map(\.type) == [RRType.DS]
        )
    }
}

/// RFC 6672 DNAME: substitution, chain, occlusion, YXDOMAIN, 0x20.
@Suite struct DNAMEAnswers {
    static let zone = """
        $TTL 300
        @ SOA ns1 hostmaster 1 3600 600 86400 60
        @ NS ns1
        ns1 A 192.0.2.1
        www A 192.0.2.80
        alias CNAME www
        old 600 DNAME t.example.
        far DNAME example.net.
        hop CNAME a.old
        a A 192.0.2.81
        deep DNAME \(String(repeating: "x", count: 60)).\(String(repeating: "y", count: 60)).\(String(repeating: "z", count: 60)).t.example.
        """

    struct Row: Sendable, CustomTestStringConvertible {
        var name: String, type: UInt16, rcode: UInt16, answer: [String], types: [UInt16]
        var authority: [UInt16] = []
        /// ldns's size is the bound. Not for a synthesized target that repeats a suffix of the question
        /// beyond the DNAME's owner (x.old.old → x.old.t.example): ldns points "old.t.example" into the
        /// question; gtmd writes the question's labels and one pointer to the DNAME target, no search.
        var ldnsBound = true
        var testDescription: String { "\(name) \(RRType.name(type))" }
    }
    static let rows: [Row] = [
        Row(
            name: "www.old.t.example",
            type: RRType.A,
            rcode: 0,
            answer: ["t.example.", "www.t.example.", "192.0.2.80"],
            types: [RRType.DNAME, RRType.CNAME, RRType.A]
        ),
        Row(
            name: "alias.old.t.example",
            type: RRType.A,
            rcode: 0,
            answer: ["t.example.", "alias.t.example.", "www.t.example.", "192.0.2.80"],
            types: [RRType.DNAME, RRType.CNAME, RRType.CNAME, RRType.A]
        ),
        Row(
            name: "nope.old.t.example",
            type: RRType.A,
            rcode: 3,
            answer: ["t.example.", "nope.t.example."],
            types: [RRType.DNAME, RRType.CNAME],
            authority: [RRType.SOA]
        ),
        Row(
            name: "www.old.t.example",
            type: RRType.TXT,
            rcode: 0,
            answer: ["t.example.", "www.t.example."],
            types: [RRType.DNAME, RRType.CNAME],
            authority: [RRType.SOA]
        ),
        Row(
            name: "www.old.t.example",
            type: RRType.CNAME,
            rcode: 0,
            answer: ["t.example.", "www.t.example."],
            types: [RRType.DNAME, RRType.CNAME]
        ),
        Row(
            name: "x.far.t.example",
            type: RRType.A,
            rcode: 0,
            answer: ["example.net.", "x.example.net."],
            types: [RRType.DNAME, RRType.CNAME]
        ),
        // One substitution per query: old → t.example, then the second DNAME is not followed.
        Row(
            name: "x.old.old.t.example",
            type: RRType.A,
            rcode: 0,
            answer: ["t.example.", "x.old.t.example."],
            types: [RRType.DNAME, RRType.CNAME],
            ldnsBound: false
        ),
        // A CNAME chain built at load time goes through the DNAME.
        Row(
            name: "hop.t.example",
            type: RRType.A,
            rcode: 0,
            answer: ["a.old.t.example.", "t.example.", "a.t.example.", "192.0.2.81"],
            types: [RRType.CNAME, RRType.DNAME, RRType.CNAME, RRType.A]
        ),
        Row(name: "old.t.example", type: RRType.DNAME, rcode: 0, answer: ["t.example."], types: [RRType.DNAME]),
        Row(name: "old.t.example", type: RRType.A, rcode: 0, answer: [], types: [], authority: [RRType.SOA]),
    ]

    @Test(arguments: rows)
    func substitution(_ r: Row) throws {
        let t = try buildTable([("t.example.", Self.zone)])
        for edns: UInt16? in [nil, 1232] {
            for transport in [ClientInfo.Transport.udp, .tcp] {
                let p = try askParsed(QueryBuilder(r.name, r.type, edns: edns), table: t, transport: transport)
                #expect(p.rcode == r.rcode && p.aa && !p.tc, "\(p.text)")
                #expect(data(p.answer) == r.answer, "\(p.text)")
                #expect(p.answer.map(\.type) == r.types, "\(p.text)")
                #expect(p.authority.map(\.type) == r.authority, "\(p.text)")
                // The DNAME owner and the synthesized CNAME's owner (the question) and TTL (the DNAME's).
                if let d = p.answer.firstIndex(where: { $0.type == RRType.DNAME }), r.types.first == RRType.DNAME,
                    r.name != "old.t.example"
                {
                    let dname = p.answer[d]
                    let cname = p.answer[d + 1]
                    #expect(cname.owner == (try DNSName(r.name + ".")) && cname.ttl == dname.ttl, "\(p.text)")
                }
                #expect(
                    p.size <= (r.ldnsBound ? p.ldnsSize : p.ldnsSize + 4),
                    "\(p.size) bytes, ldns encodes it in \(p.ldnsSize)\n\(p.text)"
                )
            }
        }
    }

    @Test func synthesizedTargetKeepsTheQuestionsCase() throws {
        let t = try buildTable([("t.example.", Self.zone)])
        let q = QueryBuilder("WwW.oLd.T.eXaMpLe", RRType.A)
        let reply = ask(q.bytes, table: t)
        #expect(Array(reply[12..<(12 + q.name.count)]) == q.name)
        let p = try askParsed(q, table: t)
        #expect(
            p.answer.map { $0.owner.description } == ["oLd.T.eXaMpLe.", "WwW.oLd.T.eXaMpLe.", "WwW.t.example."],
            "\(p.text)"
        )
        #expect(data(p.answer).last == "192.0.2.80")
    }

    /// RFC 6672 §2.2: a substituted name longer than 255 bytes is YXDOMAIN with the DNAME.
    @Test func tooLongIsYXDOMAIN() throws {
        let t = try buildTable([("t.example.", Self.zone)])
        let name = String(repeating: "a", count: 63) + "." + String(repeating: "b", count: 30) + ".deep.t.example"
        let p = try askParsed(QueryBuilder(name, RRType.A, edns: 1232), table: t)
        #expect(p.rcode == 6 && p.answer.map(\.type) == [RRType.DNAME], "\(p.text)")
    }

    /// A reply that does not fit is cut at an RRset boundary with TC, never broken.
    @Test func truncation() throws {
        var big = Self.zone + "\n"
        for i in 0..<40 { big += "many A 192.0.2.\(i)\n" }
        let t = try buildTable([("t.example.", big)])
        let p = try askParsed(QueryBuilder("many.old.t.example", RRType.A), table: t)
        #expect(p.tc && p.size <= 512 && p.answer.map(\.type) == [RRType.DNAME, RRType.CNAME], "\(p.text)")
        let tcp = try askParsed(QueryBuilder("many.old.t.example", RRType.A), table: t, transport: .tcp)
        #expect(!tcp.tc && tcp.answer.count == 42)
    }
}

@Suite struct Referrals {
    static let zone = """
        $TTL 300
        @ SOA ns1 hostmaster 1 3600 600 86400 60
        @ NS ns1
        @ NS ns2
        ns1 A 192.0.2.1
        ns1 AAAA 2001:db8::1
        ns2 A 192.0.2.2
        sub NS ns.sub
        sub NS ns1
        sub NS ns.example.net.
        ns.sub A 192.0.2.53
        into CNAME host.sub
        chain CNAME into
        """

    /// Glue below the cut and our addresses for in-zone name servers outside it (as Knot and NSD).
    @Test func glueInsideAndOutsideTheCut() throws {
        let t = try buildTable([("t.example.", Self.zone)])
        let p = try askParsed(QueryBuilder("x.sub.t.example", RRType.A, edns: 1232), table: t)
        #expect(!p.aa && p.answer.isEmpty && p.authority.count == 3, "\(p.text)")
        #expect(Set(owners(p.additional)) == ["ns.sub.t.example.", "ns1.t.example."], "\(p.text)")
        #expect(p.additional.count == 3, "\(p.text)")
        let plain = try askParsed(QueryBuilder("x.sub.t.example", RRType.A), table: t)
        #expect(!plain.tc && plain.additional.count == 3 && plain.size <= plain.ldnsSize, "\(plain.text)")
    }

    /// RFC 1034 §4.3.2: a CNAME into a delegation gives the CNAME and the referral.
    @Test func cnameIntoADelegation() throws {
        let t = try buildTable([("t.example.", Self.zone)])
        for (name, cnames) in [("into.t.example", 1), ("chain.t.example", 2)] {
            let p = try askParsed(QueryBuilder(name, RRType.A, edns: 1232), table: t)
            #expect(p.rcode == 0 && p.aa, "\(p.text)")
            #expect(p.answer.map(\.type) == Array(repeating: RRType.CNAME, count: cnames), "\(p.text)")
            #expect(
                p.authority.map(\.type) == [RRType.NS, RRType.NS, RRType.NS]
                    && owners(p.authority).allSatisfy { $0 == "sub.t.example." }
            )
            #expect(owners(p.additional).contains("ns.sub.t.example."), "\(p.text)")
        }
    }
}

@Suite struct AdditionalData {
    static let zone = """
        $TTL 300
        @ SOA ns1 hostmaster 1 3600 600 86400 60
        @ NS ns1
        ns1 A 192.0.2.1
        @ MX 10 mail
        @ MX 20 mail2.example.net.
        mail A 192.0.2.25
        mail AAAA 2001:db8::25
        _sip._udp SRV 10 60 5060 sip
        sip A 192.0.2.26
        svc SVCB 1 web alpn=h2
        web A 192.0.2.27
        self HTTPS 1 . alpn=h3
        self A 192.0.2.28
        alias HTTPS 0 web
        """

    struct Row: Sendable, CustomTestStringConvertible {
        var name: String, type: UInt16, additional: [String]
        var testDescription: String { "\(name) \(RRType.name(type))" }
    }
    static let rows: [Row] = [
        Row(name: "t.example", type: RRType.MX, additional: ["192.0.2.25", "2001:db8::25"]),
        Row(name: "_sip._udp.t.example", type: RRType.SRV, additional: ["192.0.2.26"]),
        Row(name: "svc.t.example", type: RRType.SVCB, additional: ["192.0.2.27"]),
        Row(name: "self.t.example", type: RRType.HTTPS, additional: ["192.0.2.28"]),
        Row(name: "alias.t.example", type: RRType.HTTPS, additional: ["192.0.2.27"]),
    ]

    @Test(arguments: rows)
    func targetsWeServe(_ r: Row) throws {
        let t = try buildTable([("t.example.", Self.zone)])
        let p = try askParsed(QueryBuilder(r.name, r.type, edns: 1232), table: t)
        #expect(data(p.additional) == r.additional, "\(p.text)")
        #expect(p.size <= p.ldnsSize, "\(p.text)")
    }

    /// Additional data goes first when a reply does not fit; the answer stays whole and TC stays clear.
    @Test func additionalIsDroppedBeforeTheAnswer() throws {
        var zone = Self.zone + "\n"
        for i in 0..<20 { zone += "@ MX \(i + 30) m\(i)\nm\(i) A 192.0.2.\(100 + i)\n" }
        let t = try buildTable([("t.example.", zone)])
        let p = try askParsed(QueryBuilder("t.example", RRType.MX), table: t)
        #expect(!p.tc && p.answer.count == 22 && p.size <= 512, "\(p.text)")
        #expect(!p.additional.isEmpty && p.additional.count < 23, "\(p.text)")
        let full = try askParsed(QueryBuilder("t.example", RRType.MX), table: t, transport: .tcp)
        #expect(full.additional.count == 22)
    }
}

@Suite struct ClassesTypesAndErrors {
    /// QCLASS ANY is answered as IN (records stay IN), as NSD and Knot do; names not ours stay REFUSED.
    @Test func qclassAny() throws {
        var q = QueryBuilder("www.lab.example", RRType.A)
        q.qclass = RRClass.ANY
        let p = try askParsed(q, table: labTable)
        #expect(
            p.rcode == 0 && p.aa && data(p.answer) == ["127.0.0.11"] && p.answer[0].rrClass == RRClass.IN,
            "\(p.text)"
        )
        #expect(p.question?.rrClass == RRClass.ANY)
        var nx = QueryBuilder("nope.lab.example", RRType.A)
        nx.qclass = RRClass.ANY
        #expect(try askParsed(nx, table: labTable).rcode == 3)
        var other = QueryBuilder("example.com", RRType.A)
        other.qclass = RRClass.ANY
        #expect(try askParsed(other, table: labTable).rcode == 5)
    }

    /// A TSIG record with a key we do not have (we have none): NOTAUTH, TSIG error BADKEY, unsigned (RFC 8945 §5.3.2).
    @Test(arguments: [nil, 1232] as [UInt16?])
    func tsigIsBadKey(_ edns: UInt16?) throws {
        let q = QueryBuilder("www.lab.example", RRType.A, edns: edns)
        let key = try DNSName("k1.").wire
        let alg = try DNSName("hmac-sha256.").wire
        let mac = [UInt8](repeating: 0xAB, count: 32)
        var rdata = alg + [0, 0, 0x6B, 0x0A, 0x3D, 0x2F, 1, 44, 0, UInt8(mac.count)] + mac
        rdata += [0x12, 0x34, 0, 0, 0, 0]
        var b = q.bytes
        b[11] += 1
        b += key + [0, 250, 0, 255, 0, 0, 0, 0, UInt8(rdata.count >> 8), UInt8(rdata.count & 0xFF)] + rdata
        let reply = ask(b)
        let p = try #require(LdnsRR.parsePacket(reply), "\(reply)")
        #expect(p.rcode == 9 && !p.aa && p.answer.isEmpty && p.trailingBytes == 0, "\(p.text)")
        #expect(p.arcount == (edns == nil ? 1 : 2) && (p.edns != nil) == (edns != nil))
        // The TSIG record is last: key name, algorithm, time signed and fudge echoed, no MAC, error BADKEY.
        let tsig = Array(reply.suffix(key.count + 10 + alg.count + 16))
        #expect(Array(tsig[0..<key.count]) == key)
        #expect(Array(tsig[key.count..<(key.count + 4)]) == [0, 250, 0, 255])
        let rd = Array(tsig[(key.count + 10)...])
        #expect(Array(rd[0..<alg.count]) == alg)
        #expect(Array(rd[alg.count..<(alg.count + 8)]) == [0, 0, 0x6B, 0x0A, 0x3D, 0x2F, 1, 44])
        #expect(Array(rd[(alg.count + 8)...]) == [0, 0, 0x12, 0x34, 0, 17, 0, 0])
        // A TSIG that is not the last record is FORMERR (RFC 8945 §5.1); so is one that cannot be read.
        var notLast = b
        notLast[11] += 1
        notLast += [0, 0, 16, 0, 1, 0, 0, 0, 0, 0, 1, 0]
        #expect(LdnsRR.parsePacket(ask(notLast))?.rcode == 1)
        #expect(LdnsRR.parsePacket(ask(Array(b.prefix(b.count - 6))))?.rcode == 1)
    }

    /// RFC 8914: REFUSED carries EDE 20 (Not Authoritative) when the query has EDNS.
    @Test func refusedHasEDE() throws {
        let p = try askParsed(QueryBuilder("example.com", RRType.A, edns: 1232), table: labTable)
        #expect(p.rcode == 5 && p.edns?.option(EDNSOption.extendedError) == [0, 20], "\(p.text)")
        let plain = try askParsed(QueryBuilder("example.com", RRType.A), table: labTable)
        #expect(plain.rcode == 5 && plain.edns == nil && plain.arcount == 0)
        // Nothing else carries one.
        #expect(
            try askParsed(QueryBuilder("www.lab.example", RRType.A, edns: 1232), table: labTable).edns?.options.isEmpty
                == true
        )
    }

    /// Every pool down: the policy's answer (fail-open, empty, SERVFAIL) carries EDE 0 naming the service.
    @Test(arguments: ["fail-open", "empty", "servfail"])
    func allDownHasEDE(_ mode: String) throws {
        let www = try DNSName("www.lab.example.")
        let text = "www.lab.example.: all pools down: \(mode)"
        let a = ResourceRecord(owner: www, type: RRType.A, ttl: 5, rdata: [127, 0, 0, 11])
        let d: AnswerTableBuilder.Dynamic
        switch mode {
        case "fail-open": d = .init(variants: [[a]], extendedError: text)
        case "empty": d = .init(variants: [[]], extendedError: text)
        default: d = .init(variants: [[]], servfail: true, extendedError: text)
        }
        let zone = try ZoneLoader.load(
            origin: try DNSName("lab.example."),
            path: Repo.root.appendingPathComponent("zones/lab.example.zone").path
        ).get()
        let t = AnswerTableBuilder().build(zones: [zone], dynamic: [www: d])
        for type in [RRType.A, RRType.AAAA] {
            let p = try askParsed(QueryBuilder("www.lab.example", type, edns: 1232), table: t)
            let ede = try #require(p.edns?.option(EDNSOption.extendedError), "\(p.text)")
            #expect(ede == [0, 0] + Array(text.utf8))
            #expect(p.rcode == (mode == "servfail" ? 2 : 0))
            let plain = try askParsed(QueryBuilder("www.lab.example", type), table: t)
            #expect(plain.edns == nil)
        }
        // The CNAME chain to it and other names carry none.
        #expect(
            try askParsed(QueryBuilder("txt.lab.example", RRType.TXT, edns: 1232), table: t).edns?.options.isEmpty
                == true
        )
    }
}

/// Full name compression: every reply over the lab zone's names parses, and is no larger than ldns's own
/// compressed encoding of the same message (RFC 1035 §4.1.4 in every name RFC 3597 §4 allows).
@Suite struct Compression {
    static let questions: [(String, UInt16)] = [
        ("lab.example", RRType.SOA), ("lab.example", RRType.NS), ("lab.example", RRType.MX),
        ("lab.example", RRType.TXT),
        ("lab.example", RRType.ANY), ("www.lab.example", RRType.A), ("mail.lab.example", RRType.A),
        ("v6.lab.example", RRType.AAAA), ("dual.lab.example", RRType.AAAA), ("txt.lab.example", RRType.TXT),
        ("ns1.lab.example", RRType.A), ("nope.lab.example", RRType.A), ("www.lab.example", RRType.AAAA),
        ("chain.lab.example", RRType.A), ("out.lab.example", RRType.A), ("x.y.wild.lab.example", RRType.A),
        ("host.sub.lab.example", RRType.A), ("host.child.lab.example", RRType.A), ("tocut.lab.example", RRType.A),
        ("_sip._udp.lab.example", RRType.SRV), ("ptr.lab.example", RRType.PTR), ("www.legacy.lab.example", RRType.A),
        ("svc.lab.example", RRType.HTTPS), ("b.ent.lab.example", RRType.A), ("example.test", RRType.SOA),
    ]

    @Test func noLargerThanLdns() throws {
        for (name, type) in Self.questions {
            for casing in [
                name, name.uppercased(),
                String(name.enumerated().map { $0.offset % 2 == 0 ? Character($0.element.uppercased()) : $0.element }),
            ] {
                for edns: UInt16? in [nil, 1232] {
                    let p = try askParsed(QueryBuilder(casing, type, edns: edns), table: labTable)
                    #expect(
                        p.size <= p.ldnsSize,
                        "\(casing) \(RRType.name(type)): \(p.size) bytes, ldns \(p.ldnsSize)\n\(p.text)"
                    )
                }
            }
        }
    }

    /// The sizes Knot gives for the lab zone (issue 14, with EDNS): SOA 91 bytes, NS with glue 108.
    @Test func knotSizes() throws {
        #expect(ask(QueryBuilder("lab.example", RRType.SOA, edns: 1232).bytes).count <= 91)
        #expect(ask(QueryBuilder("lab.example", RRType.NS, edns: 1232).bytes).count <= 108)
    }

    /// Without EDNS, 25 additional addresses of a name server fit 512 bytes (each owner a 2-byte pointer).
    @Test func manyAdditionalRecordsFit512() throws {
        var zone = "$TTL 300\n@ SOA ns1 hostmaster 1 3600 600 86400 60\n@ NS ns1\n"
        for i in 0..<25 { zone += "ns1 A 192.0.2.\(i + 1)\n" }
        let t = try buildTable([("t.example.", zone)])
        let p = try askParsed(QueryBuilder("t.example", RRType.NS), table: t)
        #expect(!p.tc && p.answer.count == 1 && p.additional.count == 25 && p.size <= 512, "\(p.size)\n\(p.text)")
    }
}
