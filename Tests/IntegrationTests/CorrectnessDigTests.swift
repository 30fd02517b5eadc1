import Foundation
import TestSupport
import Testing

/// Issue 14 through the real gtmd binary and the real dig: DS at a cut whose both sides gtmd serves,
/// DNAME, a CNAME into a delegation, glue outside the cut, QCLASS ANY, TSIG, EDE and reply sizes.
@Suite(.serialized) struct CorrectnessWithDig {
    let server: GtmdServer
    let dir: URL

    init() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("gtmd-dig14-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try """
        $TTL 300
        @ SOA ns1 hostmaster 1 3600 600 86400 60
        @ NS ns1
        ns1 A 192.0.2.1
        child NS ns1.child
        child DS 12345 13 2 2BB183AF5F22588179A53B0A98631FAD1A292118A74B4D8D1A3D8C0D0C4E9B37
        ns1.child A 192.0.2.2
        """.write(to: dir.appendingPathComponent("parent.zone"), atomically: true, encoding: .utf8)
        try """
        $TTL 300
        @ SOA ns1 hostmaster 7 3600 600 86400 120
        @ NS ns1
        ns1 A 192.0.2.2
        www A 192.0.2.80
        """.write(to: dir.appendingPathComponent("child.zone"), atomically: true, encoding: .utf8)
        server = try GtmdServer([
            "--config", "config/lab.yaml",
            "--zone", "t.example=\(dir.appendingPathComponent("parent.zone").path)",
            "--zone", "child.t.example=\(dir.appendingPathComponent("child.zone").path)",
        ])
    }

    var port: Int { server.port }

    /// The bytes of the reply, from dig's ";; MSG SIZE  rcvd: N".
    func size(_ r: DigResult) -> Int? {
        guard let line = r.raw.split(separator: "\n").first(where: { $0.contains("MSG SIZE") }),
            let n = line.split(separator: " ").last
        else { return nil }
        return Int(n)
    }

    @Test func dsAtTheCutComesFromTheParent() throws {
        let ds = try dig("child.t.example", "DS", port: port)
        #expect(ds.status == "NOERROR" && ds.flags.contains("aa"), "\(ds)")
        #expect(ds.answerTypes == ["DS"], "\(ds)")
        let soa = try dig("child.t.example", "SOA", port: port)
        #expect(soa.answerData.first?.hasSuffix("7 3600 600 86400 120") == true, "\(soa)")
    }

    @Test func dname() throws {
        let r = try dig("WwW.legacy.lab.example", "A", port: port)
        #expect(r.status == "NOERROR" && r.flags.contains("aa"), "\(r)")
        #expect(r.answerTypes == ["DNAME", "CNAME", "A"], "\(r)")
        #expect(r.answerData == ["lab.example.", "WwW.lab.example.", "127.0.0.11"], "\(r)")
        let nx = try dig("nope.legacy.lab.example", "A", port: port)
        #expect(nx.status == "NXDOMAIN" && nx.answerTypes == ["DNAME", "CNAME"], "\(nx)")
        let own = try dig("legacy.lab.example", "DNAME", port: port)
        #expect(own.answerData == ["lab.example."], "\(own)")
    }

    @Test func cnameIntoADelegationAndGlueOutsideTheCut() throws {
        let r = try dig("tocut.lab.example", "A", port: port)
        #expect(r.status == "NOERROR" && r.answerTypes == ["CNAME"], "\(r)")
        #expect(r.authority.count == 2 && r.authority.allSatisfy { $0.hasPrefix("sub.lab.example.") }, "\(r)")
        #expect(r.additional.contains { $0.contains("192.0.2.53") }, "\(r)")
        let g = try dig("host.child.lab.example", "A", port: port)
        #expect(!g.flags.contains("aa") && g.authority.count == 2, "\(g)")
        #expect(g.additional.contains { $0.hasPrefix("ns1.lab.example.") && $0.contains("127.0.0.1") }, "\(g)")
        #expect(g.additional.contains { $0.hasPrefix("ns2.lab.example.") && $0.contains("127.0.0.2") }, "\(g)")
    }

    @Test func qclassAnyTSIGAndEDE() throws {
        let any = try dig("www.lab.example", "A", port: port, ["-c", "ANY"])
        #expect(any.status == "NOERROR" && any.answerData == ["127.0.0.11"], "\(any)")
        let tsig = try dig("www.lab.example", "A", port: port, ["-y", "hmac-sha256:k1:c2VjcmV0c2VjcmV0"])
        #expect(tsig.status == "NOTAUTH" && tsig.raw.contains("BADKEY"), "\(tsig)")
        let refused = try dig("example.com", "A", port: port)
        #expect(refused.status == "REFUSED" && refused.raw.contains("EDE: 20"), "\(refused)")
    }

    /// Knot's sizes for the same questions (issue 14): SOA 91 bytes, NS with its glue 108 (dig's EDNS, no cookie).
    @Test func replySizes() throws {
        let soa = try dig("lab.example", "SOA", port: port, ["+nocookie"])
        #expect(try #require(size(soa)) <= 91, "\(soa)")
        let ns = try dig("lab.example", "NS", port: port, ["+nocookie"])
        #expect(try #require(size(ns)) <= 108 && ns.additional.count == 2, "\(ns)")
    }
}

/// `gtmd check`: signed zones and data below a DNAME are refused with the reason; network rules longer
/// than the ECS cap get a warning (issue 14).
@Suite(.serialized) struct CheckCommandIssue14 {
    func zoneFile(_ text: String) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gtmd-check14-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let path = dir.appendingPathComponent("t.zone").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }
    let head = "$TTL 300\n@ SOA ns1 hostmaster 1 3600 600 86400 60\n@ NS ns1\nns1 A 192.0.2.1\n"

    @Test func signedZoneIsRefused() throws {
        let z = try zoneFile(head + "@ RRSIG SOA 13 2 300 20300101000000 20200101000000 12345 t.example. AAAA\n")
        let r = try run(GtmdServer.binary, ["check", "--zone", "t.example=\(z)"])
        #expect(r.status == 1, "\(r.stdout)")
        #expect(
            r.stdout.contains(
                "t.zone:5: RRSIG at t.example.: the zone is already DNSSEC-signed, and gtmd signs zones itself"
            ),
            "\(r.stdout)"
        )
    }

    @Test func dataBelowADNAMEIsRefused() throws {
        let z = try zoneFile(head + "old DNAME example.net.\nwww.old A 192.0.2.2\n")
        let r = try run(GtmdServer.binary, ["check", "--zone", "t.example=\(z)"])
        #expect(
            r.status == 1
                && r.stdout.contains("t.zone:6: A at www.old.t.example. is below the DNAME at old.t.example."),
            "\(r.stdout)"
        )
    }

    @Test func rulesLongerThanTheECSCapWarn() throws {
        try Repo.prepareLab()  // config/lab.yaml names the lab's control token
        let r = try run(
            GtmdServer.binary,
            ["check", "--config", Repo.root.appendingPathComponent("config/lab.yaml").path]
        )
        #expect(r.status == 0, "\(r.stdout)")
        let warnings = r.stdout.split(separator: "\n").filter { $0.contains("warning:") }
        #expect(warnings.count == 2, "\(r.stdout)")
        #expect(
            warnings.contains { $0.contains("127.0.0.3/32 (region-b) is longer than geo.ecs_max_prefix_v4 (24)") },
            "\(r.stdout)"
        )
    }
}
