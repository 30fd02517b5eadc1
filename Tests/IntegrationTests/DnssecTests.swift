import Foundation
import TestSupport
import Testing

/// DNSSEC through a real validating unbound: the real gtmd serves the lab zone signed with `keys: auto`, the
/// resolver's trust anchor is the DS `gtmd dnssec ds` prints, and every answer must come back SECURE (AD),
/// before and after a failover and a failback, NXDOMAIN and NODATA included, never SERVFAIL.
@Suite(.serialized) struct DnssecTests {
    /// (name, type, expected status) asked through the validating resolver.
    static let labNames: [(String, String, String)] = [
        ("lab.example", "SOA", "NOERROR"), ("lab.example", "NS", "NOERROR"), ("lab.example", "MX", "NOERROR"),
        ("lab.example", "DNSKEY", "NOERROR"), ("lab.example", "CDS", "NOERROR"), ("ns1.lab.example", "A", "NOERROR"),
        ("www.lab.example", "A", "NOERROR"), ("www.lab.example", "AAAA", "NOERROR"),
        ("alias.lab.example", "A", "NOERROR"), ("chain.lab.example", "A", "NOERROR"),
        ("x.wild.lab.example", "A", "NOERROR"), ("x.wild.lab.example", "MX", "NOERROR"),
        ("b.ent.lab.example", "A", "NOERROR"), ("ent.lab.example", "TXT", "NOERROR"),
        ("nothere.lab.example", "A", "NXDOMAIN"), ("a.b.c.nothere.lab.example", "AAAA", "NXDOMAIN"),
        ("dual.lab.example", "AAAA", "NOERROR"), ("txt.lab.example", "TXT", "NOERROR"),
        ("big.lab.example", "TXT", "NOERROR"), ("_sip._udp.lab.example", "SRV", "NOERROR"),
        ("svc.lab.example", "HTTPS", "NOERROR"), ("child.lab.example", "DS", "NOERROR"),
        ("sub.lab.example", "DS", "NOERROR"), ("mail.lab.example", "TXT", "NOERROR"),
    ]

    func setUp(denial: String) throws -> (FailoverLab, UnboundResolver)? {
        guard UnboundResolver.available else {
            Issue.record("unbound is not installed (scripts/deps.sh)")
            return nil
        }
        let lab = try FailoverLab(dnssec: "{ keys: auto, denial: \(denial) }")
        try lab.waitForAnswer([lab.primaries[0].address], within: 10)
        #expect(lab.server.log.contains("dnssec: new CSK for lab.example. (ECDSAP256SHA256"), "\(lab.server.log)")
        let ds = try lab.gtmdOffline(["dnssec", "ds"])
        #expect(ds.status == 0, "\(ds.stderr)")
        let anchor = ds.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(anchor.contains("\tDS\t") || anchor.contains(" DS "), "\(anchor)")
        // Cache at most 1 s, so the resolver follows the switch at once (the test is about validation).
        let resolver = try UnboundResolver(
            zone: "lab.example",
            stub: "127.0.0.1",
            stubPort: lab.server.port,
            ecs: false,
            trustAnchor: anchor,
            serverOptions: ["cache-max-ttl: 1", "cache-max-negative-ttl: 1"]
        )
        return (lab, resolver)
    }

    func ask(_ r: UnboundResolver, _ name: String, _ type: String = "A") throws -> DigResult {
        try dig(name, type, server: r.address, port: r.port, ["+rec", "+dnssec"])
    }

    /// The addresses of an answer (its RRSIGs left out).
    func addresses(_ r: DigResult) -> [String] {
        zip(r.answerTypes, r.answerData).filter { $0.0 == "A" }.map(\.1)
    }

    @Test(arguments: ["nsec", "nsec3"])
    func everyLabNameIsSecure(_ denial: String) throws {
        guard let (lab, resolver) = try setUp(denial: denial) else { return }
        for (name, type, status) in Self.labNames {
            let r = try ask(resolver, name, type)
            #expect(r.status == status, "\(denial) \(name) \(type)\n\(r)\n\(resolver.log)")
            #expect(r.flags.contains("ad"), "\(denial) \(name) \(type) is not secure\n\(r)\n\(resolver.log)")
        }
        _ = lab
    }

    @Test func failoverAndFailbackStaySecure() throws {
        guard let (lab, resolver) = try setUp(denial: "nsec") else { return }
        let primary = lab.primaries[0].address
        let standby = lab.standby.address
        let before = try ask(resolver, "www.lab.example")
        #expect(addresses(before) == [primary] && before.flags.contains("ad"), "\(before)\n\(resolver.log)")
        var statuses: Set<String> = []
        func secure(_ want: String) throws -> Bool {
            let r = try ask(resolver, "www.lab.example")
            statuses.insert(r.status)
            return addresses(r) == [want] && r.flags.contains("ad")
        }
        lab.primaries[0].kill()
        try waitFor("standby answered SECURE\n\(lab.server.log)\n\(resolver.log)", timeout: 15, interval: 0.1) {
            try secure(standby)
        }
        try lab.primaries[0].start()
        try waitFor("primary answered SECURE again\n\(lab.server.log)\n\(resolver.log)", timeout: 15, interval: 0.1) {
            try secure(primary)
        }
        #expect(statuses == ["NOERROR"], "a client saw \(statuses)\n\(resolver.log)")
        // NXDOMAIN and NODATA after the switches, and the service's NODATA for AAAA.
        for (name, type, status) in [
            ("gone.lab.example", "A", "NXDOMAIN"), ("www.lab.example", "AAAA", "NOERROR"),
            ("www.lab.example", "TXT", "NOERROR"),
        ] {
            let r = try ask(resolver, name, type)
            #expect(r.status == status && r.flags.contains("ad") && r.answer.isEmpty, "\(name) \(type)\n\(r)")
        }
    }
}
