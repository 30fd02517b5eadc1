import Foundation
import TestSupport
import Testing

/// What a new operator meets (issue 13): the README's lab walk-through, one state file for the service and
/// `gtmd override --offline`.
@Suite struct OperatorPaths {
    /// README "Watch a failover": `gtmd override ... --config config/lab.yaml` works as written (the lab config
    /// names a token file that scripts/run-lab.sh creates with mode 0600).
    @Test func labOverrideWalkThroughWorks() throws {
        try Repo.prepareLab()
        let token = Repo.root.appendingPathComponent(".lab-state/control.token").path
        #expect((try FileManager.default.attributesOfItem(atPath: token)[.posixPermissions] as? Int) == 0o600)
        let server = try GtmdServer(["--config", "config/lab.yaml"])
        defer { server.stop() }
        let config = Repo.root.appendingPathComponent("config/lab.yaml").path
        let control = ["--control", "127.0.0.1:\(server.controlPort!)"]
        var r = try run(
            GtmdServer.binary,
            [
                "override", "pool", "--config", config, "primary", "down", "--for", "10m",
                "--note", "drill",
            ] + control
        )
        #expect(r.status == 0 && r.stdout.contains("set: pool primary down"), "\(r.stdout)\(r.stderr)")
        r = try run(GtmdServer.binary, ["override", "list", "--config", config] + control)
        #expect(r.status == 0 && r.stdout.contains("active   pool primary down"), "\(r.stdout)\(r.stderr)")
        r = try run(GtmdServer.binary, ["override", "clear", "--config", config, "pool", "primary"] + control)
        #expect(r.status == 0 && r.stdout.contains("cleared 1 override(s) for pool primary"), "\(r.stdout)\(r.stderr)")
    }

    /// `--offline` refuses to edit a state file a running gtmd holds; once it stops, the same command works.
    @Test func offlineRefusesWhileTheServerHoldsTheStateFile() throws {
        let lab = try FailoverLab()
        var r = try lab.gtmdOffline(["override", "pool", "primary", "down", "--note", "offline"])
        #expect(
            r.status != 0 && r.stderr.contains("a running gtmd (pid \(lab.server.process.processIdentifier))")
                && r.stderr.contains("without --offline"),
            "\(r.stdout)\(r.stderr)"
        )
        #expect(
            !(try String(contentsOfFile: lab.dir.appendingPathComponent("state.json").path, encoding: .utf8))
                .contains("offline")
        )
        // Reading is fine while it runs.
        r = try lab.gtmdOffline(["override", "list"])
        #expect(r.status == 0 && r.stdout.contains("no overrides"), "\(r.stdout)\(r.stderr)")
        #expect(lab.server.stop() == 0)
        r = try lab.gtmdOffline(["override", "pool", "primary", "down", "--note", "offline"])
        #expect(r.status == 0 && r.stdout.contains("set: pool primary down"), "\(r.stdout)\(r.stderr)")
    }
}

/// `gtmd check` sees more and says less twice (issue 13 §6), against the real binary.
@Suite struct CheckSeesMore {
    static let soa = "@ SOA ns1 host 1 3600 600 86400 30\n@ NS ns1\nns1 A 192.0.2.53\n"

    /// A folder with `gtmd.yaml` (zone t.example from t.zone) and the given files.
    func setup(_ yaml: String, zone: String, files: [String: String] = [:]) throws -> (dir: String, config: String) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gtmd-check-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try zone.write(toFile: dir + "/t.zone", atomically: true, encoding: .utf8)
        for (name, text) in files { try text.write(toFile: dir + "/" + name, atomically: true, encoding: .utf8) }
        try ("zones:\n  - { origin: t.example, file: t.zone }\n" + yaml).write(
            toFile: dir + "/gtmd.yaml",
            atomically: true,
            encoding: .utf8
        )
        return (dir, dir + "/gtmd.yaml")
    }

    func check(_ config: String) throws -> CommandResult { try run(GtmdServer.binary, ["check", "--config", config]) }

    let pools = """
        pools:
          a: { members: [192.0.2.1] }
          c: { members: [{ cname: target.example.net }] }

        """

    @Test func aRecordTheServiceWouldReplaceIsAnError() throws {
        // A CNAME at the service name would be dropped without a word.
        var t = try setup(
            pools + "services:\n  www.t.example: { pools: [a] }\n",
            zone: "$TTL 60\n" + Self.soa + "www CNAME elsewhere.example.net.\n"
        )
        var r = try check(t.config)
        #expect(
            r.status == 1
                && r.stdout.contains(
                    "\(t.dir)/t.zone:5: www.t.example. 60 IN CNAME elsewhere.example.net.: the service www.t.example. "
                        + "(\(t.config): services.www.t.example.) answers this name from its pools and would replace this alias"
                )
                && r.stdout.contains("1 problem(s)"),
            "\(r.stdout)"
        )
        // A service that answers with a CNAME leaves nothing else at its name: the TXT would vanish.
        t = try setup(
            pools + "services:\n  www.t.example: { pools: [c] }\n",
            zone: "$TTL 60\n" + Self.soa + "www TXT \"hello\"\n"
        )
        r = try check(t.config)
        #expect(
            r.status == 1 && r.stdout.contains("t.zone:5: www.t.example. 60 IN TXT \"hello\": the service")
                && r.stdout.contains("can answer with a CNAME"),
            "\(r.stdout)"
        )
        // An address service keeps the TXT.
        t = try setup(
            pools + "services:\n  www.t.example: { pools: [a] }\n",
            zone: "$TTL 60\n" + Self.soa + "www TXT \"hello\"\n"
        )
        r = try check(t.config)
        #expect(r.status == 0, "\(r.stdout)")
    }

    /// Issue 13: A and AAAA records at a service name were replaced without a word (the lab zone kept them as a
    /// "fallback"). Now each is an error with file:line, the record and what to do; so are a delegation or a
    /// DNAME that would hide the service. `gtmd serve` refuses to start on the same problems.
    @Test func addressRecordsAtAServiceNameAndHiddenServicesAreErrors() throws {
        var t = try setup(
            pools + "services:\n  www.t.example: { pools: [a] }\n",
            zone: "$TTL 60\n" + Self.soa + "www TXT \"hello\"\nwww A 192.0.2.9\nwww AAAA 2001:db8::9\n"
        )
        var r = try check(t.config)
        #expect(
            r.status == 1
                && r.stdout.contains(
                    "\(t.dir)/t.zone:6: www.t.example. 60 IN A 192.0.2.9: the service www.t.example. "
                        + "(\(t.config): services.www.t.example.) answers A and AAAA at this name from its pools, so "
                        + "this record would never be served: remove it from the zone file"
                )
                && r.stdout.contains("t.zone:7: www.t.example. 60 IN AAAA 2001:db8::9: the service")
                && !r.stdout.contains("TXT") && r.stdout.contains("2 problem(s)"),
            "\(r.stdout)"
        )
        let serve = try run(
            GtmdServer.binary,
            ["serve", "--config", t.config, "--listen", "127.0.0.1:0", "--control", "off"]
        )
        #expect(
            serve.status == 1 && serve.stderr.contains("t.zone:6: www.t.example. 60 IN A 192.0.2.9"),
            "\(serve.stderr)"
        )
        t = try setup(
            pools + "services:\n  www.sub.t.example: { pools: [a] }\n  www.old.t.example: { pools: [a] }\n",
            zone: "$TTL 60\n" + Self.soa + "sub NS ns.example.net.\nold DNAME example.net.\n"
        )
        r = try check(t.config)
        #expect(
            r.status == 1
                && r.stdout.contains(
                    "t.zone:5: sub.t.example. 60 IN NS ns.example.net.: the service www.sub.t.example. "
                )
                && r.stdout.contains("lies in the subtree delegated here")
                && r.stdout.contains(
                    "t.zone:6: old.t.example. 60 IN DNAME example.net.: the service www.old.t.example."
                )
                && r.stdout.contains("2 problem(s)"),
            "\(r.stdout)"
        )
    }

    @Test func missingFilesAreErrorsWithWhere() throws {
        let t = try setup(
            """
            checks:
              tls: { type: https, port: 443, ca_file: nope-ca.pem }
            pools:
              a: { checks: [tls], members: [192.0.2.1] }
            geo:
              database: nope.mmdb
              default_region: r1
            regions:
              r1: { latitude: 1, longitude: 2 }
            """,
            zone: "$TTL 60\n" + Self.soa
        )
        try "  - { origin: u.example, file: nope.zone }\n".appendLines(after: "t.zone }\n", in: t.config)
        let r = try check(t.config)
        #expect(r.status == 1, "\(r.stdout)")
        let out = r.stdout
        #expect(out.contains("gtmd.yaml:5: checks.tls: ca_file '\(t.dir)/nope-ca.pem' is not readable"), "\(out)")
        #expect(out.contains("gtmd.yaml:9: geo.database: ") && out.contains("nope.mmdb"), "\(out)")
        #expect(out.contains("gtmd.yaml:3: zones[1].file: '\(t.dir)/nope.zone' does not exist"), "\(out)")
        // The token file is checked once the config itself is valid (the CLI clients load configs without it).
        let token = try setup(
            "control:\n  listen: 127.0.0.1:0\n  token_file: nope.token\n",
            zone: "$TTL 60\n" + Self.soa
        )
        let tr = try check(token.config)
        #expect(
            tr.status == 1
                && tr.stdout.contains("gtmd.yaml:5: control.token_file: '\(token.dir)/nope.token' does not exist"),
            "\(tr.stdout)"
        )
        // An empty token file is refused too; a good one passes.
        try "\n".write(toFile: t.dir + "/empty.token", atomically: true, encoding: .utf8)
        let ok = try setup(
            "control:\n  token_file: empty.token\n",
            zone: "$TTL 60\n" + Self.soa,
            files: ["empty.token": "\n"]
        )
        #expect(try check(ok.config).stdout.contains("control.token_file: '\(ok.dir)/empty.token' is empty"))
        try "s3cret\n".write(toFile: ok.dir + "/empty.token", atomically: true, encoding: .utf8)
        #expect(try check(ok.config).status == 0)
    }

    @Test func unreadableFilesAreErrors() throws {
        guard getuid() != 0 else {
            print("unreadableFilesAreErrors: skipped: root reads files whatever their mode")
            return
        }
        let t = try setup(
            "control:\n  token_file: secret.token\n",
            zone: "$TTL 60\n" + Self.soa,
            files: ["secret.token": "x\n"]
        )
        chmod(t.dir + "/secret.token", 0)
        chmod(t.dir + "/t.zone", 0)
        let r = try check(t.config)
        #expect(
            r.status == 1 && r.stdout.contains("control.token_file") && r.stdout.contains("cannot be read"),
            "\(r.stdout)"
        )
        #expect(r.stdout.contains("t.zone") && r.stdout.contains("cannot be read"), "\(r.stdout)")
    }

    @Test func aTTLTypoIsReportedOnce() throws {
        var zone =
            "$TTL 1hr\n@ SOA ns1 host 1 3600 600 86400 30\n@ NS ns1\n@ NS ns2\nns1 A 192.0.2.53\nns2 A 192.0.2.54\n"
        for i in 1...29 { zone += "h\(i) A 192.0.2.\(i)\nh\(i) 60 TXT \"x\"\n" }
        zone += "h1 300 A 192.0.2.200\n"
        let t = try setup("", zone: zone)
        let r = try check(t.config)
        #expect(r.status == 1, "\(r.stdout)")
        #expect(r.stdout.contains("t.zone:1: $TTL: '1hr' is not a TTL"), "\(r.stdout)")
        #expect(r.stdout.hasSuffix("1 problem(s)\n"), "\(r.stdout)")
    }

    @Test func ttlFieldsTakeUnits() throws {
        let t = try setup(
            pools + """
                services:
                  www.t.example: { pools: [a], ttl: 5m, degraded_ttl: 30s, min_ttl: 1s, max_ttl: 1d }
                  api.t.example: { pools: [a], ttl: 90 }
                """,
            zone: "$TTL 60\n" + Self.soa
        )
        #expect(try check(t.config).status == 0)
        let server = try GtmdServer(["--config", t.config])
        defer { server.stop() }
        #expect(try dig("www.t.example", port: server.port).answer.first?.contains("\t300\t") == true)
        #expect(try dig("api.t.example", port: server.port).answer.first?.contains("\t90\t") == true)
        let bad = try setup(
            pools + "services:\n  www.t.example: { pools: [a], ttl: 5 minutes }\n",
            zone: "$TTL 60\n" + Self.soa
        )
        let r = try check(bad.config)
        #expect(
            r.status == 1
                && r.stdout.contains("services.www.t.example.ttl: '5 minutes' is not a TTL (seconds, or with a unit"),
            "\(r.stdout)"
        )
    }

    @Test func forNeedsAUnit() throws {
        let lab = try FailoverLab()
        let r = try lab.gtmd(["override", "pool", "primary", "down", "--for", "10"])
        #expect(
            r.status != 0
                && r.stderr.contains("--for '10' has no unit: write 10s, 10m or 10h (a bare number would mean seconds)"),
            "\(r.stderr)"
        )
        #expect(try lab.gtmd(["override", "pool", "primary", "down", "--for", "10m"]).status == 0)
    }
}

extension String {
    /// Inserts this text after the first occurrence of `marker` in the file at `path`.
    func appendLines(after marker: String, in path: String) throws {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        guard let r = text.range(of: marker) else { throw TestError.failed("no '\(marker)' in \(path)") }
        try (text[..<r.upperBound] + self + text[r.upperBound...]).write(
            toFile: path,
            atomically: true,
            encoding: .utf8
        )
    }
}
