import DNSWire
import Testing
import Zones

@testable import Answers

/// The graph a publish reads, compacted after the compile (`CompiledZones.freeze`): every node comes back as it
/// was (name, zone, cut, RRsets in their order, records with their owners' case and empty rdata), names are
/// found by the base table's index, and a node is one object however often it is read.
@Suite struct FrozenGraphs {
    static let text = """
        $TTL 300
        @        IN SOA ns1 hostmaster 1 3600 600 86400 30
        @        IN NS  ns1
        ns1      IN A   127.0.0.1
        MiXeD    IN A   192.0.2.1
        mixed    IN TXT "second type, owner in lower case"
        MIXED    IN A   192.0.2.2
        empty    IN TYPE65280 \\# 0
        sub      IN NS  ns.sub
        ns.sub   IN A   192.0.2.53
        deep.below.sub IN A 192.0.2.54
        *.wild   IN A   192.0.2.80
        alias    IN CNAME www
        """

    struct Snapshot: Equatable {
        var name: DNSName
        var zone: Int
        var index: Int
        var cutIndex: Int32
        var types: [UInt16]
        var records: [[ResourceRecord]]
        init(_ n: AnswerTableBuilder.BNode) {
            name = n.name
            zone = n.zone
            index = n.index
            cutIndex = n.cutIndex
            types = n.typeOrder
            records = types.map { n.rrsets[$0]! }
        }
    }

    @Test func everyNodeComesBackAsItWas() throws {
        let origin = try DNSName("lab.example.")
        let zone = try ZoneLoader.load(origin: origin, text: Self.text, file: "frozen.zone").get()
        let www = try DNSName("www.lab.example.")
        let compiled = AnswerTableBuilder().compile(zones: [zone], serviceNames: [www])
        let before = compiled.order.map(Snapshot.init)
        #expect(before.contains { $0.records.joined().contains { $0.owner.description == "MiXeD.lab.example." } })
        #expect(before.contains { $0.records.joined().contains { $0.rdata.isEmpty } })
        #expect(before.contains { $0.cutIndex >= 0 })
        compiled.freeze()
        #expect(compiled.frozen != nil && compiled.order.isEmpty && compiled.nodes.isEmpty)
        // Objects only for the nodes a publish re-emits (www, alias) until others are read.
        #expect(compiled.live.count == compiled.affected.count && compiled.affected.count == 2)
        for (i, s) in before.enumerated() {
            #expect(Snapshot(compiled.thawed(i)) == s, "node \(i) \(s.name)")
            #expect(compiled.nodeIndex(s.name) == i)
            #expect(compiled.nodeAt(i) === compiled.nodeNamed(s.name))
        }
        #expect(compiled.nodeIndex(try DNSName("nope.lab.example.")) == nil)
        #expect(compiled.nodeNamed(try DNSName("x.wild.lab.example.")) == nil)
        // The service node stays the object the compile made (a publish injects its answers there).
        let service = try #require(compiled.affected.first { $0.name == www })
        #expect(compiled.nodeNamed(www) === service)
    }
}
