import DNSWire
import Foundation
import TestSupport
import Testing
import Zones

@testable import Answers

/// A publish shares the compiled base and adds a top part (the service names' answers and the names reading
/// them): tables made one after the other share the base's storage, and a table keeps answering its own
/// publish's data after later ones are made (readers may still hold it), signed or not.
@Suite struct OverlayTables {
    static let origin = try! DNSName("lab.example.")
    static let www = try! DNSName("www.lab.example.")
    static let zone: Zone = {
        let path = Repo.root.appendingPathComponent("zones/lab.example.zone").path
        return try! ZoneLoader.load(origin: origin, path: path).get()
    }()

    static func answer(_ s: String, ttl: UInt32) -> AnswerTableBuilder.Dynamic {
        .init(variants: [
            [ResourceRecord(owner: www, type: RRType.A, ttl: ttl, rdata: s.split(separator: ".").map { UInt8($0)! })]
        ])
    }

    static let questions: [(String, UInt16)] = [
        ("www.lab.example", RRType.A), ("alias.lab.example", RRType.A), ("chain.lab.example", RRType.A),
        ("www.lab.example", RRType.AAAA), ("nope.lab.example", RRType.A), ("mail.lab.example", RRType.A),
        ("www.legacy.lab.example", RRType.A), ("host.sub.lab.example", RRType.A),
    ]

    static func replies(_ t: AnswerTable, dnssec: Bool) -> [[UInt8]] {
        questions.map { name, type in
            var q = QueryBuilder(name, type, edns: 1232)
            q.ednsDO = dnssec
            return TableQuery.ask(q.bytes, table: t)
        }
    }

    /// Signed or not; with the graph frozen after the compile or not (`CompiledZones.freeze`).
    @Test(arguments: [false, true], [false, true])
    func olderTablesKeepTheirAnswersAndShareTheBase(signed: Bool, frozen: Bool) throws {
        let key = try SigningKey.generate(zone: Self.origin, algorithm: .ecdsaP256SHA256, keySigning: true)
        let signers = signed ? [Self.origin: ZoneSigner(zone: Self.origin, keys: [key], nsec3: false)] : [:]
        let compiled = AnswerTableBuilder().compile(zones: [Self.zone], serviceNames: [Self.www], signers: signers)
        if frozen { compiled.freeze() }
        let answers = (0..<4).map { Self.answer("192.0.2.\($0 + 1)", ttl: 30 + UInt32($0)) }
        var tables: [AnswerTable] = []
        var first: [[UInt8]] = []
        for (i, d) in answers.enumerated() {
            let t = compiled.table(dynamic: [Self.www: d], generation: UInt64(i + 1))
            if i == 0 { first = Self.replies(t, dnssec: signed) }
            tables.append(t)
        }
        // The first table answers as it did before the later publishes, and as a one-shot build of its data.
        #expect(Self.replies(tables[0], dnssec: signed) == first)
        let fresh = AnswerTableBuilder().build(zones: [Self.zone], dynamic: [Self.www: answers[0]], signers: signers)
        if !signed { #expect(Self.replies(fresh, dnssec: false) == first) }
        for (i, t) in tables.enumerated() {
            let p = try #require(
                LdnsRR.parsePacket(TableQuery.ask(QueryBuilder("www.lab.example", RRType.A).bytes, table: t))
            )
            #expect(p.answer.first?.rdata == [192, 0, 2, UInt8(i + 1)] && p.answer.first?.ttl == 30 + UInt32(i))
        }
        // One base for all of them; each table's own part holds only the affected names' answers.
        func address<T>(_ a: ContiguousArray<T>) -> UnsafeRawPointer? {
            a.withUnsafeBufferPointer { UnsafeRawPointer($0.baseAddress) }
        }
        for t in tables.dropFirst() {
            #expect(address(t.blob.base) == address(tables[0].blob.base))
            #expect(address(t.answers.base) == address(tables[0].answers.base))
            #expect(address(t.nodes.base) == address(tables[0].nodes.base))
            #expect(t.nodes.top.count == compiled.affectedCount)
            #expect(t.answers.top.count < t.answers.base.count)
        }
    }
}

/// A policy's answer of more records than a header counts (a pool of 70,000 members): the table is built (the
/// answer cut at 65,535 records) and the reply is truncated, with the rest of the zone answered as before.
@Test func aPolicyAnswerOfMoreRecordsThanAHeaderCountsIsTruncated() throws {
    let many = (0..<70_000).map { (i: Int) -> ResourceRecord in
        let rdata: [UInt8] = [10, UInt8(i >> 16), UInt8((i >> 8) & 255), UInt8(i & 255)]
        return ResourceRecord(owner: OverlayTables.www, type: RRType.A, ttl: 30, rdata: rdata)
    }
    let t = AnswerTableBuilder().build(
        zones: [OverlayTables.zone],
        dynamic: [OverlayTables.www: .init(variants: [many])]
    )
    let reply = TableQuery.ask(QueryBuilder("www.lab.example", RRType.A, edns: 1232).bytes, table: t)
    #expect(reply.count > 3 && reply[2] & 0x02 != 0, "TC expected: \(reply.prefix(12))")
    let mail = try #require(
        LdnsRR.parsePacket(TableQuery.ask(QueryBuilder("mail.lab.example", RRType.A).bytes, table: t))
    )
    #expect(!mail.answer.isEmpty)
}

/// The table's per-name records keep their sizes (one `Node` per name, an `Answer` per name and type): a new
/// field that widens them shows here, with its cost in bytes a name.
@Suite struct TableLayout {
    @Test func perNameRecordsKeepTheirSize() {
        #expect(MemoryLayout<Node>.stride == 56)
        #expect(MemoryLayout<Answer>.stride == 52)
        #expect(MemoryLayout<Cut>.stride == 12)
        #expect(MemoryLayout<TypeEntry>.stride == 12)
    }
}
