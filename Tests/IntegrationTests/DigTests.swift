import Foundation
import TestSupport
import Testing

/// The real gtmd binary on loopback, queried with the real dig.
@Suite struct DigAgainstLabConfig {
    /// One server per test (stopped when the test's instance goes away), so no process outlives the run.
    let server: GtmdServer
    init() throws { server = try GtmdServer(["--config", "config/lab.yaml"]) }

    var port: Int { server.port }

    @Test func serviceNameAnswersAuthoritatively() throws {
        let r = try dig("www.lab.example", "A", port: port)
        #expect(r.status == "NOERROR", "\(r)")
        #expect(r.flags.contains("aa") && r.flags.contains("qr"), "\(r)")
        #expect(!r.flags.contains("ra"), "\(r)")
        #expect(r.answerData == ["127.0.0.11"], "\(r)")
    }

    @Test func norecAndRecursionDesiredCopied() throws {
        let r = try dig("www.lab.example", "A", port: port, ["+rec"])
        #expect(r.flags.contains("rd"), "\(r)")
        let n = try dig("www.lab.example", "A", port: port, ["+norec"])
        #expect(!n.flags.contains("rd"), "\(n)")
    }

    @Test func caseIsEchoed() throws {
        let r = try dig("wWw.LaB.eXaMpLe", "A", port: port)
        #expect(r.raw.contains(";wWw.LaB.eXaMpLe."), "\(r)")
        #expect(r.answerData == ["127.0.0.11"], "\(r)")
    }

    @Test func nxdomainCarriesSOA() throws {
        let r = try dig("nope.lab.example", "A", port: port)
        #expect(r.status == "NXDOMAIN", "\(r)")
        #expect(r.flags.contains("aa"))
        #expect(r.authority.count == 1 && r.authority[0].contains("SOA"), "\(r)")
        #expect(r.authority[0].split(separator: "\t").contains("30"), "\(r)")
    }

    @Test func emptyNonTerminalIsNodata() throws {
        let r = try dig("b.ent.lab.example", "A", port: port)
        #expect(r.status == "NOERROR", "\(r)")
        #expect(r.answer.isEmpty && r.authority.first?.contains("SOA") == true, "\(r)")
    }

    @Test func cnameChainAndWildcard() throws {
        let c = try dig("chain.lab.example", "A", port: port)
        #expect(c.answerTypes == ["CNAME", "CNAME", "A"], "\(c)")
        let w = try dig("anything.wild.lab.example", "TXT", port: port)
        #expect(w.answerData == ["\"wildcard\""], "\(w)")
    }

    @Test func referralWithGlue() throws {
        let r = try dig("host.sub.lab.example", "A", port: port)
        #expect(r.status == "NOERROR", "\(r)")
        #expect(!r.flags.contains("aa"), "\(r)")
        #expect(r.answer.isEmpty, "\(r)")
        #expect(r.authority.count == 2, "\(r)")
        #expect(r.additional.contains { $0.contains("192.0.2.53") }, "\(r)")
    }

    @Test func refusedOutsideZones() throws {
        let r = try dig("example.com", "A", port: port)
        #expect(r.status == "REFUSED", "\(r)")
        let axfr = try dig("lab.example", "AXFR", port: port, ["+tcp"])
        #expect(axfr.raw.contains("Transfer failed") || axfr.raw.contains("REFUSED"), "\(axfr)")
    }

    @Test func truncationOverUDPAndFullOverTCP() throws {
        let u = try dig("big.lab.example", "TXT", port: port, ["+noedns", "+ignore"])
        #expect(u.flags.contains("tc"), "\(u)")
        let t = try dig("big.lab.example", "TXT", port: port, ["+tcp"])
        #expect(!t.flags.contains("tc") && t.answer.count == 1, "\(t)")
        let e = try dig("big.lab.example", "TXT", port: port, ["+bufsize=1232"])
        #expect(!e.flags.contains("tc") && e.answer.count == 1, "\(e)")
        let small = try dig("big.lab.example", "TXT", port: port, ["+bufsize=512", "+ignore"])
        #expect(small.flags.contains("tc"), "\(small)")
    }

    @Test func ednsAndNsid() throws {
        let r = try dig("www.lab.example", "A", port: port, ["+nsid", "+dnssec"])
        #expect(r.opt.contains { $0.contains("udp: 1232") }, "\(r)")
        #expect(r.opt.contains { $0.contains("NSID") && $0.contains("gtmd-lab") }, "\(r)")
        #expect(r.opt.contains { $0.contains("flags: do") }, "\(r)")
        let v = try dig("www.lab.example", "A", port: port, ["+edns=1", "+noednsneg"])
        #expect(v.status == "BADVERS", "\(v)")
    }

    @Test func anyIsMinimal() throws {
        for proto in ["+notcp", "+tcp"] {
            let r = try dig("lab.example", "ANY", port: port, [proto])
            #expect(r.status == "NOERROR", "\(r)")
            #expect(Set(r.answerTypes).count == 1, "\(r)")
        }
    }

    @Test func severalQueriesOnOneTCPConnection() throws {
        // dig sends each name on the same connection with +keepopen.
        let r = try run(
            "/usr/bin/dig",
            [
                "@127.0.0.1", "-p", "\(port)", "+tcp", "+keepopen", "+tries=1", "+time=2",
                "www.lab.example", "A", "mail.lab.example", "A", "v6.lab.example", "AAAA",
            ]
        )
        #expect(
            r.stdout.contains("127.0.0.11") && r.stdout.contains("192.0.2.25") && r.stdout.contains("2001:db8::25"),
            "\(r.stdout)"
        )
    }

    @Test func secondZone() throws {
        let r = try dig("www.example.test", "A", port: port)
        #expect(r.status == "NOERROR" && r.flags.contains("aa") && r.answer.count >= 1, "\(r)")
    }
}

@Suite struct ServeWithoutConfig {
    @Test func zoneArgumentsAndIPv6() throws {
        let s = try GtmdServer(["--zone", "lab.example=zones/lab.example.zone"], listen: ["127.0.0.1:0"])
        defer { s.stop() }
        let r = try dig("mail.lab.example", "A", port: s.port)
        #expect(r.answerData == ["192.0.2.25"], "\(r)")
    }

    @Test func stopsCleanlyOnSIGTERM() throws {
        let s = try GtmdServer(["--zone", "lab.example=zones/lab.example.zone"])
        #expect(s.stop() == 0, "\(s.log)")
    }

    @Test func reloadKeepsServingOnBrokenZone() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gtmd-reload-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let zone = dir.appendingPathComponent("r.zone").path
        let good = "$TTL 60\n@ SOA ns1 host 1 3600 600 86400 30\n@ NS ns1\nns1 A 192.0.2.1\nwww A 192.0.2.10\n"
        try good.write(toFile: zone, atomically: true, encoding: .utf8)
        let s = try GtmdServer(["--zone", "r.test=\(zone)"])
        defer { s.stop() }
        #expect(try dig("www.r.test", port: s.port).answerData == ["192.0.2.10"])
        try good.replacingOccurrences(of: "192.0.2.10", with: "192.0.2.11").write(
            toFile: zone,
            atomically: true,
            encoding: .utf8
        )
        s.signal(SIGHUP)
        try waitFor("reload to 192.0.2.11", timeout: 10) {
            try dig("www.r.test", port: s.port).answerData == ["192.0.2.11"]
        }
        try "$TTL 60\n@ SOA ns1 host 1 3600 600 86400 30\nwww A 999.1.1.1\n".write(
            toFile: zone,
            atomically: true,
            encoding: .utf8
        )
        s.signal(SIGHUP)
        try waitFor("failed reload logged", timeout: 10) { s.log.contains("reload failed") }
        #expect(try dig("www.r.test", port: s.port).answerData == ["192.0.2.11"])
    }
}

@Suite struct CheckCommand {
    @Test(
        arguments: try! FileManager.default.contentsOfDirectory(atPath: Repo.root.appendingPathComponent("config").path)
            .filter { $0.hasSuffix(".yaml") }.sorted()
    )
    func shippedConfigsPass(_ file: String) throws {
        try Repo.prepareLab()
        let r = try run(
            GtmdServer.binary,
            ["check", "--config", Repo.root.appendingPathComponent("config/\(file)").path]
        )
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
    }

    @Test func reportsEveryProblemWithWhere() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gtmd-check-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let cfg = dir.appendingPathComponent("bad.yaml").path
        try """
        server:
          listen: [ "127.0.0.1:99999" ]
          edns_buffer_size: 100
          colour: blue
        zones:
          - origin: bad.test
            file: bad.zone
        """.write(toFile: cfg, atomically: true, encoding: .utf8)
        try "$TTL 60\nwww A 192.0.2.1\nwww CNAME other\n".write(
            toFile: dir.appendingPathComponent("bad.zone").path,
            atomically: true,
            encoding: .utf8
        )
        let r = try run(GtmdServer.binary, ["check", "--config", cfg])
        #expect(r.status == 1)
        #expect(r.stdout.contains("server.listen[0]"), "\(r.stdout)")
        #expect(r.stdout.contains("server.edns_buffer_size"), "\(r.stdout)")
        #expect(r.stdout.contains("server.colour"), "\(r.stdout)")
    }

    @Test func zoneProblemsAreAllListed() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gtmd-check-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let zone = dir.appendingPathComponent("bad.zone").path
        try "$TTL 60\nwww A 192.0.2.1\nwww CNAME other\n".write(toFile: zone, atomically: true, encoding: .utf8)
        let r = try run(GtmdServer.binary, ["check", "--zone", "bad.test=\(zone)"])
        #expect(r.status == 1)
        #expect(r.stdout.contains("bad.zone:3"), "\(r.stdout)")  // CNAME beside other data, with its line
        #expect(r.stdout.contains("SOA"), "\(r.stdout)")  // missing SOA
        #expect(r.stdout.contains("NS"), "\(r.stdout)")  // missing apex NS
    }

    @Test func version() throws {
        let r = try run(GtmdServer.binary, ["--version"])
        #expect(r.status == 0 && r.stdout.contains("0."), "\(r.stdout)")
    }
}
