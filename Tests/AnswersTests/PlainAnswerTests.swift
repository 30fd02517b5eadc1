import DNSWire
import Testing
import Zones

@testable import Answers

/// `CompiledZones.emitPlain`, the compile's way for the RRsets most names of a big zone have, writes the very
/// answer the general way (`Draft`, `positive`, `emitAnswer`) writes for them.
@Suite struct PlainAnswers {
    /// The frozen graph tests' zone (mixed case, an empty RDATA, a delegation, a wildcard, a CNAME) and more.
    static let text =
        FrozenGraphs.text + "\n"
            + """
            one      IN A   192.0.2.1
            three    86400 IN A 192.0.2.1
            three    86400 IN A 192.0.2.2
            three    86400 IN A 192.0.2.3
            v6       IN AAAA 2001:db8::1
            txt      IN TXT "two" "strings, one a little longer than the other"
            long     IN TXT "\(String(repeating: "x", count: 255))" "\(String(repeating: "y", count: 255))"
            caa      IN CAA 0 issue "ca.example"
            maxttl   2147483647 IN A 192.0.2.9
            mx       IN MX  10 mail
            """

    /// An emitter's arrays and the answer at `i`, as text (the table's structs are not `Equatable`).
    static func dump(_ e: AnswerTableBuilder.Emitter, _ i: Int32) -> String {
        let a = e.answers[Int(i) - e.answerBase]
        return "\(a) blob \(Array(e.blob)) relocs \(Array(e.relocs)) cuts \(Array(e.cuts)) extras \(Array(e.extras))"
    }

    @Test func plainAnswersAreTheDraftsAnswers() throws {
        let origin = try DNSName("lab.example.")
        let zone = try ZoneLoader.load(origin: origin, text: Self.text, file: "plain.zone").get()
        let compiled = AnswerTableBuilder().compile(zones: [zone], serviceNames: [])
        var compared = 0
        for n in compiled.order {
            for t in n.typeOrder where CompiledZones.isPlain(t) {
                let rrset = n.rrsets[t]!
                // Over the compiled base, as a publish's top part: the offsets continue the base's.
                var plain = AnswerTableBuilder.Emitter(over: compiled.base)
                var general = AnswerTableBuilder.Emitter(over: compiled.base)
                let p = compiled.emitPlain(rrset, into: &plain)
                let anchor = n.name.isWildcard ? n.name.parent! : n.name
                let g = compiled.emitAnswer(compiled.positive(rrset, owner: .qname, anchor: anchor), into: &general)
                #expect(p == g)
                #expect(Self.dump(plain, p) == Self.dump(general, g), "\(n.name) type \(t)")
                compared += 1
            }
        }
        // SOA, NS, CNAME and MX are not plain; the other 14 RRsets are (7 of them in the frozen graph tests' zone).
        #expect(compared == 14)
    }

    @Test func plainTypesHoldNoNamesAndAddNoAdditionalData() {
        for t in [RRType.A, RRType.AAAA, RRType.TXT, 257, 65280] { #expect(CompiledZones.isPlain(t), "\(t)") }
        for t in [RRType.NS, RRType.CNAME, RRType.PTR, RRType.MX, RRType.SOA, RRType.SRV, RRType.SVCB, RRType.HTTPS] {
            #expect(!CompiledZones.isPlain(t), "\(t)")
        }
    }
}
