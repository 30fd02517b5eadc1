import DNSWire
import Foundation
import TestSupport
import Testing

/// NSEC and NSEC3 chains next to ldns-signzone's for the same zone (owner names, next names, type bitmaps).
@Suite struct DenialChains {
    static let zone = try! DNSName("lab.example.")
    static let zoneText = """
        $ORIGIN lab.example.
        $TTL 300
        @ SOA ns1 host 1 3600 600 86400 30
        @ NS ns1
        ns1 A 192.0.2.1
        www A 192.0.2.2
        www AAAA 2001:db8::1
        a.b.c TXT "deep"
        *.wild TXT "w"
        mail MX 10 www
        Upper.Case A 192.0.2.3
        """

    /// Signs the zone with ldns-signzone (`nsec3`: -n, 0 iterations, no salt) and returns its records.
    func signedByLdns(nsec3: Bool) throws -> [ResourceRecord] {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gtmd-denial-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try Self.zoneText.write(to: dir.appendingPathComponent("z.zone"), atomically: true, encoding: .utf8)
        let script =
            "cd \"$0\" && k=$(ldns-keygen -a ED25519 -k lab.example) && ldns-signzone \(nsec3 ? "-n -t 0" : "") -f z.signed z.zone \"$k\""
        let r = try run("/bin/sh", ["-c", script, dir.path])
        #expect(r.status == 0, "\(r.stderr)")
        let text = try String(contentsOf: dir.appendingPathComponent("z.signed"), encoding: .utf8)
        return try text.split(separator: "\n").filter { !$0.hasPrefix(";") && !$0.isEmpty }
            .map { try LdnsRR.parse(String($0), origin: Self.zone, defaultTTL: 300) }
    }

    /// Names and their types as a server would hand them over: everything but the denial records and signatures.
    func names(_ records: [ResourceRecord]) -> [DNSName: Set<UInt16>] {
        var out: [DNSName: Set<UInt16>] = [:]
        for r in records where ![RRType.RRSIG, RRType.NSEC, 50].contains(r.type) {
            out[r.owner, default: []].insert(r.type)
        }
        return out
    }

    func key(_ r: ResourceRecord) -> String { "\(r.owner.lowercased) \(LdnsRR.rdataPresentation(r))" }

    @Test func nsecChainMatchesLdnsSignzone() throws {
        let signed = try signedByLdns(nsec3: false)
        let theirs = signed.filter { $0.type == RRType.NSEC }
        let mine = Denial.nsecChain(zone: Self.zone, names: names(signed), ttl: 30)
        #expect(theirs.count == 7)
        #expect(
            Set(mine.map(key)) == Set(theirs.map(key)),
            "mine:\n\(mine.map(key).sorted().joined(separator: "\n"))\ntheirs:\n\(theirs.map(key).sorted().joined(separator: "\n"))"
        )
    }

    @Test func nsec3ChainMatchesLdnsSignzoneWithEmptyNonTerminals() throws {
        let signed = try signedByLdns(nsec3: true)
        let theirs = signed.filter { $0.type == 50 }
        let mine = Denial.nsec3Chain(zone: Self.zone, names: names(signed), ttl: 30)
        // 7 names with data + the empty non-terminals b.c, c, wild and Case.
        #expect(theirs.count == 11)
        #expect(
            Set(mine.map(key)) == Set(theirs.map(key)),
            "mine:\n\(mine.map(key).sorted().joined(separator: "\n"))\ntheirs:\n\(theirs.map(key).sorted().joined(separator: "\n"))"
        )
    }

    @Test func knownHashAndBitmap() throws {
        // RFC 5155 Appendix A: H(example) with salt aabbccdd, 12 iterations = 0p9mhaveqvm6t7vbl5lop2u3t2rp3tom.
        #expect(
            Denial.base32hex(Denial.nsec3Hash(try DNSName("example."), iterations: 12, salt: [0xAA, 0xBB, 0xCC, 0xDD]))
                == "0p9mhaveqvm6t7vbl5lop2u3t2rp3tom"
        )
        // RFC 4034 §4.3: A MX RRSIG NSEC TYPE1234.
        #expect(
            Denial.typeBitmap([1, 15, 46, 47, 1234])
                == [0x00, 0x06, 0x40, 0x01, 0x00, 0x00, 0x00, 0x03, 0x04, 0x1B] + [UInt8](repeating: 0, count: 26) + [
                    0x20
                ]
        )
    }
}
