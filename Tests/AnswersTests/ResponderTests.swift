import Answers
import DNSWire
import Foundation
import TestSupport
import Testing
import Zones

/// The lab's service names answered as config/lab.yaml's services answer them with the primary up (A 127.0.0.11,
/// TTL 30): the zone file itself holds no records at service names.
let labServiceAnswers: [DNSName: AnswerTableBuilder.Dynamic] = Dictionary(
    uniqueKeysWithValues: ["www.lab.example.", "near.lab.example."].map { text in
        let name = try! DNSName(text)
        return (
            name, .init(variants: [[ResourceRecord(owner: name, type: RRType.A, ttl: 30, rdata: [127, 0, 0, 11])]])
        )
    }
)

/// The lab zone (with its services' answers) and a second zone, built into a table once for all tests.
let labTable: AnswerTable = {
    var zones: [Zone] = []
    for (origin, file) in [("lab.example.", "zones/lab.example.zone"), ("example.test.", "zones/example.test.zone")] {
        let path = Repo.root.appendingPathComponent(file).path
        switch ZoneLoader.load(origin: try! DNSName(origin), path: path) {
        case .success(let z): zones.append(z)
        case .failure(let p): fatalError("\(p)")
        }
    }
    return AnswerTableBuilder(
        options: ResponseOptions(
            ednsBufferSize: 1232,
            nsid: Array("gtmd-test".utf8),
            versionText: "gtmd",
            identityText: nil
        )
    ).build(zones: zones, dynamic: labServiceAnswers)
}()

/// Sends `query` through the responder; returns the raw reply (empty = dropped).
func ask(_ query: [UInt8], transport: ClientInfo.Transport = .udp, table: AnswerTable = labTable) -> [UInt8] {
    let scratch = QueryScratch()
    var out = [UInt8](repeating: 0, count: AnswerTable.maxTCPPayload)
    let n = query.withUnsafeBytes { q in
        out.withUnsafeMutableBytes { o in
            table.respond(q, into: o, client: ClientInfo(transport: transport), scratch: scratch)
        }
    }
    return Array(out[0..<n])
}

func askParsed(_ q: QueryBuilder, transport: ClientInfo.Transport = .udp) throws -> ParsedPacket {
    let reply = ask(q.bytes, transport: transport)
    let p = try #require(LdnsRR.parsePacket(reply), "reply does not parse with ldns: \(reply)")
    #expect(p.id == q.id)
    #expect(p.qr)
    #expect(!p.ra)
    return p
}

func data(_ rrs: [ResourceRecord]) -> [String] { rrs.map { LdnsRR.rdataPresentation($0) } }
func owners(_ rrs: [ResourceRecord]) -> [String] { rrs.map { $0.owner.description.lowercased() } }

struct Case: CustomTestStringConvertible, Sendable {
    var name: String
    var type: UInt16
    var rcode: UInt16
    var aa: Bool = true
    var answer: [String] = []  // rdata presentations, in order
    var answerTypes: [UInt16]? = nil
    var authorityTypes: [UInt16] = []
    var additionalCount: Int? = nil
    var testDescription: String { "\(name) \(RRType.name(type)) → rcode \(rcode) \(answer)" }
}

@Suite struct ResponderAnswers {
    static let cases: [Case] = [
        Case(name: "www.lab.example", type: RRType.A, rcode: 0, answer: ["127.0.0.11"]),
        Case(name: "lab.example", type: RRType.SOA, rcode: 0, answerTypes: [RRType.SOA]),
        Case(name: "lab.example", type: RRType.NS, rcode: 0, answerTypes: [RRType.NS, RRType.NS], additionalCount: 2),
        Case(name: "lab.example", type: RRType.MX, rcode: 0, answerTypes: [RRType.MX], additionalCount: 1),
        Case(name: "nope.lab.example", type: RRType.A, rcode: 3, authorityTypes: [RRType.SOA]),
        Case(name: "www.lab.example", type: RRType.AAAA, rcode: 0, authorityTypes: [RRType.SOA]),
        Case(name: "ent.lab.example", type: RRType.A, rcode: 0, authorityTypes: [RRType.SOA]),
        Case(name: "b.ent.lab.example", type: RRType.A, rcode: 0, authorityTypes: [RRType.SOA]),
        Case(name: "a.b.ent.lab.example", type: RRType.A, rcode: 0, answer: ["192.0.2.90"]),
        Case(name: "alias.lab.example", type: RRType.A, rcode: 0, answer: ["www.lab.example.", "127.0.0.11"]),
        Case(
            name: "chain.lab.example",
            type: RRType.A,
            rcode: 0,
            answer: ["alias.lab.example.", "www.lab.example.", "127.0.0.11"]
        ),
        Case(name: "chain.lab.example", type: RRType.CNAME, rcode: 0, answer: ["alias.lab.example."]),
        Case(
            name: "chain.lab.example",
            type: RRType.TXT,
            rcode: 0,
            answerTypes: [RRType.CNAME, RRType.CNAME],
            authorityTypes: [RRType.SOA]
        ),
        Case(name: "loop1.lab.example", type: RRType.A, rcode: 0, answerTypes: [RRType.CNAME, RRType.CNAME]),
        Case(name: "out.lab.example", type: RRType.A, rcode: 0, answer: ["www.example.net."]),
        Case(name: "x.wild.lab.example", type: RRType.A, rcode: 0, answer: ["192.0.2.80"]),
        Case(name: "x.y.wild.lab.example", type: RRType.TXT, rcode: 0, answer: ["\"wildcard\""]),
        Case(name: "x.wild.lab.example", type: RRType.MX, rcode: 0, authorityTypes: [RRType.SOA]),
        Case(
            name: "host.sub.lab.example",
            type: RRType.A,
            rcode: 0,
            aa: false,
            authorityTypes: [RRType.NS, RRType.NS],
            additionalCount: 2
        ),
        Case(
            name: "sub.lab.example",
            type: RRType.A,
            rcode: 0,
            aa: false,
            authorityTypes: [RRType.NS, RRType.NS],
            additionalCount: 2
        ),
        Case(name: "ns1.sub.lab.example", type: RRType.A, rcode: 0, aa: false, authorityTypes: [RRType.NS, RRType.NS]),
        Case(name: "sub.lab.example", type: RRType.DS, rcode: 0, authorityTypes: [RRType.SOA]),
        Case(name: "www.lab.example", type: RRType.ANY, rcode: 0, answer: ["127.0.0.11"]),
        Case(name: "ent.lab.example", type: RRType.ANY, rcode: 0, authorityTypes: [RRType.SOA]),
        Case(name: "example.com", type: RRType.A, rcode: 5, aa: false),
        Case(name: "example", type: RRType.A, rcode: 5, aa: false),
        Case(name: "lab.example", type: RRType.AXFR, rcode: 5, aa: false),
        Case(name: "lab.example", type: RRType.IXFR, rcode: 5, aa: false),
        Case(name: "www.example.test", type: RRType.A, rcode: 0, answerTypes: [RRType.A]),
        Case(name: "_sip._udp.lab.example", type: RRType.SRV, rcode: 0, answerTypes: [RRType.SRV], additionalCount: 1),
        Case(name: "lab.example", type: RRType.CAA, rcode: 0, answerTypes: [RRType.CAA]),
        Case(name: "ptr.lab.example", type: RRType.PTR, rcode: 0, answer: ["www.lab.example."]),
        Case(name: "unknown.lab.example", type: 65280, rcode: 0, answerTypes: [65280]),
        Case(name: "v6.lab.example", type: RRType.AAAA, rcode: 0, answer: ["2001:db8::25"]),
        // Issue 14: CNAME into a delegation (the chain plus the referral), glue for in-zone name servers
        // outside the cut, DS at a cut, DNAME, HTTPS additional data, QTYPE OPT as the references answer it.
        Case(
            name: "tocut.lab.example",
            type: RRType.A,
            rcode: 0,
            answer: ["host.sub.lab.example."],
            authorityTypes: [RRType.NS, RRType.NS],
            additionalCount: 2
        ),
        Case(name: "tocut.lab.example", type: RRType.CNAME, rcode: 0, answer: ["host.sub.lab.example."]),
        Case(
            name: "host.child.lab.example",
            type: RRType.A,
            rcode: 0,
            aa: false,
            authorityTypes: [RRType.NS, RRType.NS],
            additionalCount: 2
        ),
        Case(name: "child.lab.example", type: RRType.DS, rcode: 0, answerTypes: [RRType.DS]),
        Case(
            name: "www.legacy.lab.example",
            type: RRType.A,
            rcode: 0,
            answer: ["lab.example.", "www.lab.example.", "127.0.0.11"]
        ),
        Case(
            name: "chain.legacy.lab.example",
            type: RRType.A,
            rcode: 0,
            answer: ["lab.example.", "chain.lab.example.", "alias.lab.example.", "www.lab.example.", "127.0.0.11"]
        ),
        Case(
            name: "a.b.legacy.lab.example",
            type: RRType.TXT,
            rcode: 3,
            answer: ["lab.example.", "a.b.lab.example."],
            authorityTypes: [RRType.SOA]
        ),
        Case(name: "x.legacy.lab.example", type: RRType.CNAME, rcode: 0, answer: ["lab.example.", "x.lab.example."]),
        Case(
            name: "host.sub.legacy.lab.example",
            type: RRType.A,
            rcode: 0,
            aa: true,
            answer: ["lab.example.", "host.sub.lab.example."],
            authorityTypes: [RRType.NS, RRType.NS],
            additionalCount: 2
        ),
        Case(name: "legacy.lab.example", type: RRType.DNAME, rcode: 0, answer: ["lab.example."]),
        Case(name: "legacy.lab.example", type: RRType.A, rcode: 0, authorityTypes: [RRType.SOA]),
        Case(name: "svc.lab.example", type: RRType.HTTPS, rcode: 0, answerTypes: [RRType.HTTPS], additionalCount: 1),
        Case(name: "lab.example", type: RRType.OPT, rcode: 0, authorityTypes: [RRType.SOA]),
    ]

    @Test(arguments: cases)
    func answers(_ c: Case) throws {
        for edns: UInt16? in [nil, 1232] {
            let p = try askParsed(QueryBuilder(c.name, c.type, edns: edns))
            #expect(p.rcode == c.rcode, "\(p.text)")
            #expect(p.aa == c.aa, "\(p.text)")
            if !c.answer.isEmpty { #expect(data(p.answer) == c.answer, "\(p.text)") }
            if let t = c.answerTypes { #expect(p.answer.map(\.type) == t, "\(p.text)") }
            if c.answer.isEmpty && c.answerTypes == nil { #expect(p.answer.isEmpty, "\(p.text)") }
            #expect(p.authority.map(\.type) == c.authorityTypes, "\(p.text)")
            if let n = c.additionalCount { #expect(p.additional.count == n, "\(p.text)") }
            #expect((p.edns != nil) == (edns != nil))
            #expect(!p.tc)
        }
    }

    @Test func negativeTTLIsMinOfSOATTLAndMinimum() throws {
        for (name, type) in [("nope.lab.example", RRType.A), ("www.lab.example", RRType.TXT)] {
            let p = try askParsed(QueryBuilder(name, type))
            let soa = try #require(p.authority.first)
            #expect(soa.ttl == 30)  // SOA TTL 300 (from $TTL), MINIMUM 30
            #expect(soa.owner == (try DNSName("lab.example.")))
        }
    }

    @Test func wildcardOwnerIsTheQuestionName() throws {
        let p = try askParsed(QueryBuilder("deep.x.wild.lab.example", RRType.A))
        #expect(owners(p.answer) == ["deep.x.wild.lab.example."])
    }

    @Test func questionEchoedByteForByte() throws {
        let q = QueryBuilder("wWw.LaB.eXaMpLe", RRType.A)
        let reply = ask(q.bytes)
        let qEnd = 12 + q.name.count + 4
        #expect(Array(reply[12..<qEnd]) == Array(q.bytes[12..<qEnd]))
        let p = try #require(LdnsRR.parsePacket(reply))
        #expect(data(p.answer) == ["127.0.0.11"])
        #expect(p.rd)
    }

    @Test func rdCopiedAndCleared() throws {
        var q = QueryBuilder("www.lab.example", RRType.A)
        q.flags = 0
        let p = try askParsed(q)
        #expect(!p.rd)
        q.flags = 0x0110  // RD + CD
        let p2 = try askParsed(q)
        #expect(p2.rd && p2.cd)
    }
}

@Suite struct ResponderEDNS {
    @Test func truncatesAtRRsetBoundaryWithoutEDNS() throws {
        let p = try askParsed(QueryBuilder("big.lab.example", RRType.TXT))
        #expect(p.tc)
        #expect(p.answer.isEmpty)
        #expect(p.size <= 512)
        let full = try askParsed(QueryBuilder("big.lab.example", RRType.TXT, edns: 1232))
        #expect(!full.tc)
        #expect(full.answer.count == 1)
        let tcp = try askParsed(QueryBuilder("big.lab.example", RRType.TXT), transport: .tcp)
        #expect(!tcp.tc && tcp.answer.count == 1)
    }

    @Test func smallBufferSizeIsTreatedAs512() throws {
        let p = try askParsed(QueryBuilder("big.lab.example", RRType.TXT, edns: 100))
        #expect(p.tc)
        #expect(p.size <= 512)
    }

    @Test func optEchoedWithOurSizeAndDO() throws {
        var q = QueryBuilder("www.lab.example", RRType.A, edns: 4096)
        q.ednsDO = true
        let p = try askParsed(q)
        let e = try #require(p.edns)
        #expect(e.udpSize == 1232)
        #expect(e.doBit)
        #expect(e.version == 0)
        q.ednsDO = false
        #expect(try askParsed(q).edns?.doBit == false)
    }

    @Test func badVersion() throws {
        var q = QueryBuilder("www.lab.example", RRType.A, edns: 1232)
        q.ednsVersion = 1
        let p = try askParsed(q)
        #expect(p.rcode == 16)
        #expect(p.answer.isEmpty)
        #expect(p.edns != nil)
    }

    @Test func nsidOnlyWhenAsked() throws {
        var q = QueryBuilder("www.lab.example", RRType.A, edns: 1232)
        #expect(try askParsed(q).edns?.option(EDNSOption.nsid) == nil)
        q.ednsOptions = [(EDNSOption.nsid, [])]
        #expect(try askParsed(q).edns?.option(EDNSOption.nsid) == Array("gtmd-test".utf8))
    }

    @Test func unknownOptionsIgnored() throws {
        var q = QueryBuilder("www.lab.example", RRType.A, edns: 1232)
        q.ednsOptions = [(65001, [1, 2, 3]), (EDNSOption.cookie, [1, 2, 3, 4, 5, 6, 7, 8])]
        let p = try askParsed(q)
        #expect(p.rcode == 0)
        #expect(data(p.answer) == ["127.0.0.11"])
    }

    @Test func duplicateOPTIsFormErr() throws {
        var q = QueryBuilder("www.lab.example", RRType.A, edns: 1232)
        var b = q.bytes
        b += q.opt
        b[11] = 2
        let p = try #require(LdnsRR.parsePacket(ask(b)))
        #expect(p.rcode == 1)
        q.ednsOptions = []
        _ = q
    }

    @Test func malformedOptionLengthIsFormErr() throws {
        let q = QueryBuilder("www.lab.example", RRType.A, edns: 1232)
        var b = q.bytes
        // OPT rdlength 4 but only an option header claiming 10 bytes of data.
        b[b.count - 2] = 0
        b[b.count - 1] = 4
        b += [0, 99, 0, 10]
        let p = try #require(LdnsRR.parsePacket(ask(b)))
        #expect(p.rcode == 1)
    }

    @Test func chaosVersion() throws {
        var q = QueryBuilder("version.bind", RRType.TXT)
        q.qclass = RRClass.CH
        let p = try askParsed(q)
        #expect(p.rcode == 0)
        #expect(data(p.answer) == ["\"gtmd\""])
        var q2 = QueryBuilder("id.server", RRType.TXT)
        q2.qclass = RRClass.CH
        #expect(try askParsed(q2).rcode == 5)  // identity not configured
    }
}

@Suite struct ResponderMalformed {
    @Test func shortAndResponsePacketsAreDropped() {
        #expect(ask([]).isEmpty)
        #expect(ask([1, 2, 3]).isEmpty)
        #expect(ask(Array(repeating: 0, count: 11)).isEmpty)
        var q = QueryBuilder("www.lab.example", RRType.A)
        q.flags = 0x8100
        #expect(ask(q.bytes).isEmpty)
    }

    @Test(arguments: [0, 2])
    func qdcountNotOneIsFormErr(_ qd: Int) throws {
        var b = QueryBuilder("www.lab.example", RRType.A).bytes
        b[5] = UInt8(qd)
        let p = try #require(LdnsRR.parsePacket(ask(b)))
        #expect(p.rcode == 1)
    }

    @Test(arguments: [1, 2, 4, 5, 6])
    func otherOpcodesAreNotImp(_ opcode: UInt16) throws {
        var q = QueryBuilder("www.lab.example", RRType.A)
        q.flags = opcode << 11
        let p = try #require(LdnsRR.parsePacket(ask(q.bytes)))
        #expect(p.rcode == 4)
        #expect(p.opcode == UInt8(opcode))
    }

    @Test func compressedQuestionIsFormErr() throws {
        var b: [UInt8] = [0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]
        b += [0xC0, 0x0C, 0, 1, 0, 1]  // pointer loop to itself
        let p = try #require(LdnsRR.parsePacket(ask(b)))
        #expect(p.rcode == 1)
    }

    @Test func truncatedQuestionIsFormErr() throws {
        let b = Array(QueryBuilder("www.lab.example", RRType.A).bytes.prefix(20))
        let p = try #require(LdnsRR.parsePacket(ask(b)))
        #expect(p.rcode == 1)
    }

    @Test func labelOver63IsFormErr() throws {
        var b: [UInt8] = [0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]
        b += [64] + Array(repeating: 0x61, count: 64) + [0, 0, 1, 0, 1]
        let p = try #require(LdnsRR.parsePacket(ask(b)))
        #expect(p.rcode == 1)
    }

    @Test func nameOver255IsFormErr() throws {
        var b: [UInt8] = [0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]
        for _ in 0..<5 { b += [60] + Array(repeating: 0x61, count: 60) }
        b += [0, 0, 1, 0, 1]
        let p = try #require(LdnsRR.parsePacket(ask(b)))
        #expect(p.rcode == 1)
    }

    @Test func otherClassesAreRefused() throws {
        var q = QueryBuilder("www.lab.example", RRType.A)
        q.qclass = 4  // HS
        #expect(try askParsed(q).rcode == 5)
    }

    /// QTYPE OPT is answered as any type the name lacks (NODATA), as NSD and Knot answer it.
    @Test func optAsQuestionTypeIsNodata() throws {
        let p = try askParsed(QueryBuilder("www.lab.example", RRType.OPT))
        #expect(p.rcode == 0 && p.aa && p.answer.isEmpty && p.authority.map(\.type) == [RRType.SOA], "\(p.text)")
    }

    /// Random and mutated packets: never a crash, and every reply parses with ldns.
    @Test func randomAndMutatedPacketsNeverCrash() throws {
        var rng = SystemRandomNumberGenerator()
        let seeds: [[UInt8]] = [
            QueryBuilder("www.lab.example", RRType.A, edns: 1232).bytes,
            QueryBuilder("x.wild.lab.example", RRType.TXT).bytes,
            QueryBuilder("big.lab.example", RRType.TXT).bytes,
            QueryBuilder("host.sub.lab.example", RRType.A, edns: 512).bytes,
            QueryBuilder("www.legacy.lab.example", RRType.A, edns: 1232).bytes,
            QueryBuilder("lab.example", RRType.NS).bytes,
        ]
        var replies = 0
        for i in 0..<20_000 {
            var b: [UInt8]
            if i % 4 == 0 {
                b = (0..<Int.random(in: 0...80, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            } else {
                b = seeds[i % seeds.count]
                for _ in 0..<Int.random(in: 1...4, using: &rng) where !b.isEmpty {
                    b[Int.random(in: 0..<b.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
                }
                if Bool.random(using: &rng) { b = Array(b.prefix(Int.random(in: 0...b.count, using: &rng))) }
            }
            for transport in [ClientInfo.Transport.udp, .tcp] {
                let reply = ask(b, transport: transport)
                if reply.isEmpty { continue }
                replies += 1
                #expect(LdnsRR.parsePacket(reply) != nil, "unparsable reply to \(b)")
                if transport == .udp { #expect(reply.count <= 1232) }
            }
        }
        #expect(replies > 10_000)
    }
}
