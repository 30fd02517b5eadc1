import Answers
import DNSWire
import Foundation
import TestSupport
import Testing
import Zones

/// Policy answers plugged into the table: the service name's answers, weighted variants, SERVFAIL, NODATA.
@Suite struct DynamicAnswers {
    let zone: Zone = {
        let path = Repo.root.appendingPathComponent("zones/lab.example.zone").path
        return try! ZoneLoader.load(origin: try! DNSName("lab.example."), path: path).get()
    }()
    let www = try! DNSName("www.lab.example.")

    func a(_ s: String, ttl: UInt32 = 5) -> ResourceRecord {
        ResourceRecord(owner: www, type: RRType.A, ttl: ttl, rdata: IPv4(s))
    }
    func IPv4(_ s: String) -> [UInt8] { s.split(separator: ".").map { UInt8($0)! } }

    func table(_ d: AnswerTableBuilder.Dynamic) -> AnswerTable {
        AnswerTableBuilder().build(zones: [zone], dynamic: [www: d])
    }

    func query(_ t: AnswerTable, _ name: String, _ type: UInt16, id: UInt16 = 1) throws -> ParsedPacket {
        var q = QueryBuilder(name, type)
        q.id = id
        return try #require(LdnsRR.parsePacket(ask(q.bytes, table: t)))
    }

    @Test func answersTheServiceNameAndFollowsAliases() throws {
        let t = table(.init(variants: [[a("127.0.0.12")]]))
        let p = try query(t, "www.lab.example", RRType.A)
        #expect(data(p.answer) == ["127.0.0.12"] && p.answer[0].ttl == 5)
        // alias CNAME www: the chain ends at the policy's answer.
        let alias = try query(t, "alias.lab.example", RRType.A)
        #expect(data(alias.answer) == ["www.lab.example.", "127.0.0.12"])
    }

    @Test func weightedVariantsArePickedByQueryID() throws {
        // Three variants: 192.0.2.1 twice, 192.0.2.2 once.
        let t = table(.init(variants: [[a("192.0.2.1")], [a("192.0.2.1")], [a("192.0.2.2")]]))
        var seen: [String: Int] = [:]
        for id in 0..<300 {
            let p = try query(t, "www.lab.example", RRType.A, id: UInt16(id))
            #expect(p.id == UInt16(id))
            seen[data(p.answer).joined(), default: 0] += 1
            // Deterministic: the same ID always gets the same answer.
            #expect(data(try query(t, "www.lab.example", RRType.A, id: UInt16(id)).answer) == data(p.answer))
        }
        #expect(seen == ["192.0.2.1": 200, "192.0.2.2": 100])
    }

    @Test func servfailAndEmpty() throws {
        let sf = table(.init(variants: [[]], servfail: true))
        #expect(try query(sf, "www.lab.example", RRType.A).rcode == 2)
        #expect(try query(sf, "www.lab.example", RRType.AAAA).rcode == 2)
        let empty = table(.init(variants: [[]]))
        let p = try query(empty, "www.lab.example", RRType.A)
        #expect(p.rcode == 0 && p.answer.isEmpty && p.authority.first?.type == RRType.SOA)
    }

    @Test func cnameAnswerAndNewName() throws {
        let target = try DNSName("standby.example.net.")
        let svc = try DNSName("svc.lab.example.")
        let t = AnswerTableBuilder().build(
            zones: [zone],
            dynamic: [
                svc: .init(variants: [[ResourceRecord(owner: svc, type: RRType.CNAME, ttl: 5, rdata: target.wire)]])
            ]
        )
        let p = try query(t, "svc.lab.example", RRType.A)
        #expect(data(p.answer) == ["standby.example.net."] && p.aa)
        let aaaa = try query(t, "svc.lab.example", RRType.AAAA)
        #expect(aaaa.answer.map(\.type) == [RRType.CNAME])
    }

    /// Also with the graph frozen (`CompiledZones.freeze`, as the steering core leaves it after the first table).
    @Test(arguments: [false, true])
    func incrementalTablesMatchFullBuilds(frozen: Bool) throws {
        let compiled = AnswerTableBuilder().compile(zones: [zone], serviceNames: [www])
        if frozen { compiled.freeze() }
        // www itself, and alias and chain, whose CNAME chains end at www.
        #expect(compiled.affectedCount == 3)
        let x = AnswerTableBuilder.Dynamic(variants: [[a("127.0.0.12")]])
        let y = AnswerTableBuilder.Dynamic(variants: [[a("192.0.2.1")], [a("192.0.2.2")]])
        let sf = AnswerTableBuilder.Dynamic(variants: [[]], servfail: true)
        for d in [x, y, x, sf, x] {
            let incremental = compiled.table(dynamic: [www: d], generation: 1)
            let full = table(d)
            for (name, type) in [
                ("www.lab.example", RRType.A), ("alias.lab.example", RRType.A), ("chain.lab.example", RRType.A),
                ("www.lab.example", RRType.AAAA), ("mail.lab.example", RRType.A), ("nope.lab.example", RRType.A),
                ("lab.example", RRType.NS), ("x.wild.lab.example", RRType.TXT),
            ] {
                for id: UInt16 in [0, 1, 7] {
                    var q = QueryBuilder(name, type)
                    q.id = id
                    #expect(ask(q.bytes, table: incremental) == ask(q.bytes, table: full), "\(name) \(type) id \(id)")
                }
            }
        }
    }
}
