import DNSWire
import Foundation
import TestSupport
import Testing

@testable import Zones

/// Every `zones/*.zone` file in the repository, named `<origin>.zone`.
let shippedZoneFiles: [String] = {
    let dir = Repo.root.appendingPathComponent("zones")
    let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
    return names.filter { $0.hasSuffix(".zone") }.sorted()
}()

@Suite struct ShippedZoneTests {
    @Test func thereAreShippedZones() {
        #expect(shippedZoneFiles.contains("lab.example.zone"))
        #expect(shippedZoneFiles.contains("example.test.zone"))
    }

    @Test(arguments: shippedZoneFiles)
    func loadsWithoutProblems(_ name: String) throws {
        let origin = try DNSName(String(name.dropLast(".zone".count)) + ".")
        let path = Repo.root.appendingPathComponent("zones").appendingPathComponent(name).path
        switch ZoneLoader.load(origin: origin, path: path) {
        case .success(let z):
            #expect(z.warnings.isEmpty, "\(z.warnings)")
            #expect(z.soa.owner == origin)
            #expect(!z.records.isEmpty)
        case .failure(let p):
            Issue.record("\(name) has problems:\n\(p)")
        }
    }

    func lab() throws -> Zone {
        let path = Repo.root.appendingPathComponent("zones/lab.example.zone").path
        return try ZoneLoader.load(origin: DNSName("lab.example."), path: path).get()
    }

    @Test(arguments: [
        "lab.example. 300 IN SOA ns1.lab.example. hostmaster.lab.example. 2026112901 3600 600 86400 30",
        "lab.example. 300 IN NS ns1.lab.example.",
        "lab.example. 300 IN NS ns2.lab.example.",
        "lab.example. 300 IN MX 10 mail.lab.example.",
        "lab.example. 300 IN TXT \"v=spf1 -all\"",
        "lab.example. 300 IN CAA 0 issue \"letsencrypt.org\"",
        "ns1.lab.example. 300 IN A 127.0.0.1",
        "ns2.lab.example. 300 IN A 127.0.0.2",
        "mail.lab.example. 300 IN A 192.0.2.25",
        "v6.lab.example. 300 IN AAAA 2001:db8::25",
        "dual.lab.example. 300 IN A 192.0.2.30",
        "dual.lab.example. 300 IN AAAA 2001:db8::30",
        "txt.lab.example. 300 IN TXT \"static text record\"",
        "alias.lab.example. 300 IN CNAME www.lab.example.",
        "chain.lab.example. 300 IN CNAME alias.lab.example.",
        "loop1.lab.example. 300 IN CNAME loop2.lab.example.",
        "loop2.lab.example. 300 IN CNAME loop1.lab.example.",
        "out.lab.example. 300 IN CNAME www.example.net.",
        "*.wild.lab.example. 300 IN A 192.0.2.80",
        "*.wild.lab.example. 300 IN TXT \"wildcard\"",
        "a.b.ent.lab.example. 300 IN A 192.0.2.90",
        "sub.lab.example. 300 IN NS ns1.sub.lab.example.",
        "sub.lab.example. 300 IN NS ns.example.net.",
        "ns1.sub.lab.example. 300 IN A 192.0.2.53",
        "ns1.sub.lab.example. 300 IN AAAA 2001:db8::53",
        "_sip._udp.lab.example. 300 IN SRV 10 60 5060 mail.lab.example.",
        "ptr.lab.example. 300 IN PTR www.lab.example.",
        "unknown.lab.example. 300 IN TYPE65280 \\# 4 0a000001",
        "child.lab.example. 300 IN NS ns1.lab.example.",
        "child.lab.example. 300 IN NS ns2.lab.example.",
        "child.lab.example. 300 IN DS 12345 13 2 2bb183af5f22588179a53b0a98631fad1a292118a74b4d8d1a3d8c0d0c4e9b37",
        "tocut.lab.example. 300 IN CNAME host.sub.lab.example.",
        "legacy.lab.example. 300 IN DNAME lab.example.",
        "svc.lab.example. 300 IN HTTPS 1 mail.lab.example. alpn=h2",
    ])
    func labZoneHasRecord(_ expected: String) throws {
        let z = try lab()
        #expect(text(z).contains(expected))
    }

    @Test func labZoneDetails() throws {
        let z = try lab()
        #expect(z.serial == 2_026_112_901)
        #expect(z.negativeTTL == 30)
        #expect(z.file.hasSuffix("zones/lab.example.zone"))
        // The big TXT is over 512 bytes: six 100-byte strings plus their length bytes.
        let bigName = try DNSName("big.lab.example.")
        let v6Name = try DNSName("v6.lab.example.")
        let big = try #require(z.records.first { $0.record.owner == bigName })
        #expect(big.record.type == RRType.TXT)
        #expect(big.record.rdata.count == 606)
        // Records from the include are attributed to it, with its own line numbers.
        let v6 = try #require(z.records.first { $0.record.type == RRType.AAAA && $0.record.owner == v6Name })
        #expect(v6.file.hasSuffix("zones/lab.example.d/static.inc"))
        #expect(v6.line > 0 && v6.line < 10)
        let unknown = try #require(z.records.first { $0.record.type == 65280 })
        #expect(unknown.record.rdata == [10, 0, 0, 1])
        // Exactly the records listed in labZoneHasRecord, plus big.
        #expect(z.records.count == 35)
    }
}
