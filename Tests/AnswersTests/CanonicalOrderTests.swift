import DNSWire
import Testing

@testable import Answers

/// The compile's canonical sort (`CompiledZones.canonicalOrder`: each name's labels reversed into one key buffer,
/// a word then the bytes compared) orders names as RFC 4034 §6.1 does (`DNSName.<`).
@Suite struct CanonicalOrderTests {
    @Test func sortsAsCanonicalNameOrder() throws {
        var names: [DNSName] = [.root, try DNSName("example."), try DNSName("a.example."), try DNSName("z.example.")]
        // Labels of different lengths, shared prefixes and suffixes, a wildcard, digits and '-': the cases where a
        // word of the key or a label's end decides.
        let labels = ["a", "ab", "abc", "b", "*", "0", "a-b", "abcdefgh", "abcdefghi", "x", "xn--d1a"]
        var state: UInt64 = 7
        for _ in 0..<400 {
            var text = ""
            for _ in 0...Int(state % 3) {
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                text += labels[Int(state >> 33) % labels.count] + "."
            }
            names.append(try DNSName(text + "example."))
        }
        let distinct = Array(Set(names))
        let nodes = distinct.map { AnswerTableBuilder.BNode(name: $0.lowercased, zone: 0) }
        let sorted = CompiledZones.canonicalOrder(nodes).map(\.name)
        #expect(sorted == distinct.map(\.lowercased).sorted(by: <))
    }
}
