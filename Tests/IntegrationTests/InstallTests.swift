import Foundation
import TestSupport
import Testing

/// The Debian install path, staged into a folder: files land where the unit expects them and the
/// installed config passes `gtmd check`.
@Suite struct InstallScript {
    @Test func stagesAValidInstall() throws {
        let stage = FileManager.default.temporaryDirectory.appendingPathComponent("gtmd-install-\(UUID().uuidString)")
            .path
        let r = try run(
            "/bin/bash",
            [
                Repo.root.appendingPathComponent("scripts/install.sh").path, "--destdir", stage,
                "--binary", GtmdServer.binary, "--no-deps", "--no-systemctl",
            ],
            timeout: 60
        )
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        let fm = FileManager.default
        #expect(fm.isExecutableFile(atPath: stage + "/usr/local/bin/gtmd"))
        let unit = try String(contentsOfFile: stage + "/etc/systemd/system/gtmd.service", encoding: .utf8)
        #expect(unit.contains("Type=notify") && unit.contains("ExecStartPre=/usr/local/bin/gtmd check"))
        #expect(fm.fileExists(atPath: stage + "/etc/gtmd/zones/lab.example.zone"))
        #expect(fm.fileExists(atPath: stage + "/etc/gtmd/zones/lab.example.d/static.inc"))
        #expect(unit.contains("LoadCredential=control.token:/etc/gtmd/control.token"))
        let token = try FileManager.default.attributesOfItem(atPath: stage + "/etc/gtmd/control.token")
        #expect((token[.posixPermissions] as? Int) == 0o600 && (token[.size] as? Int ?? 0) >= 20)
        #expect(
            try String(contentsOfFile: stage + "/etc/gtmd/gtmd.yaml", encoding: .utf8)
                .contains("\n  token_file: /etc/gtmd/control.token")
        )
        // As under the unit: the token comes from $CREDENTIALS_DIRECTORY (LoadCredential=), not /etc/gtmd.
        let check = try run(
            "/usr/bin/env",
            [
                "CREDENTIALS_DIRECTORY=\(stage)/etc/gtmd", GtmdServer.binary,
                "check", "--config", stage + "/etc/gtmd/gtmd.yaml",
            ]
        )
        #expect(check.status == 0, "\(check.stdout)")
        // One state file: the service's (StateDirectory=gtmd) is the one `gtmd override --offline` edits.
        #expect(
            try String(contentsOfFile: stage + "/etc/gtmd/gtmd.yaml", encoding: .utf8)
                .contains("\nstate_file: /var/lib/gtmd/state.json\n")
        )
        let list = try run(
            GtmdServer.binary,
            ["override", "list", "--offline", "--config", stage + "/etc/gtmd/gtmd.yaml"]
        )
        #expect(
            list.status == 0 && list.stdout.contains("state file: /var/lib/gtmd/state.json"),
            "\(list.stdout)\(list.stderr)"
        )
        // `systemctl reload gtmd` runs the unit's ExecReload=: `gtmd reload` over the control API, which fails on
        // a broken config. Here it runs as the unit would (token from $CREDENTIALS_DIRECTORY) against a real gtmd
        // serving the staged config, with the test's own ports added to the command line.
        let reload = try #require(
            unit.split(separator: "\n").first { $0.hasPrefix("ExecReload=") }?.dropFirst("ExecReload=".count)
        )
        #expect(reload == "/usr/local/bin/gtmd reload --config /etc/gtmd/gtmd.yaml", "\(reload)")
        let credentials = ["CREDENTIALS_DIRECTORY": stage + "/etc/gtmd"]
        let server = try GtmdServer(["--config", stage + "/etc/gtmd/gtmd.yaml"], environment: credentials)
        defer { server.stop() }
        let argv = reload.split(separator: " ").map {
            String($0).replacingOccurrences(of: "/usr/local/bin/gtmd", with: GtmdServer.binary)
                .replacingOccurrences(of: "/etc/gtmd/", with: stage + "/etc/gtmd/")
        }
        func execReload() throws -> CommandResult {
            try run(
                "/usr/bin/env",
                ["CREDENTIALS_DIRECTORY=\(stage)/etc/gtmd"] + argv + ["--control", "127.0.0.1:\(server.controlPort!)"]
            )
        }
        var done = try execReload()
        #expect(done.status == 0 && done.stdout.contains("reloaded: installed"), "\(done.stdout)\(done.stderr)")
        let zone = stage + "/etc/gtmd/zones/lab.example.zone"
        let kept = try String(contentsOfFile: zone, encoding: .utf8)
        try (kept + "www 30 IN A 192.0.2.1\n").write(toFile: zone, atomically: true, encoding: .utf8)
        done = try execReload()
        #expect(
            done.status == 1
                && done.stderr.contains("www.lab.example. 30 IN A 192.0.2.1: the service www.lab.example."),
            "\(done.stdout)\(done.stderr)"
        )
        try kept.write(toFile: zone, atomically: true, encoding: .utf8)
        // A second run keeps the operator's edits.
        try "# edited\n".appendToFile(stage + "/etc/gtmd/gtmd.yaml")
        _ = try run(
            "/bin/bash",
            [
                Repo.root.appendingPathComponent("scripts/install.sh").path, "--destdir", stage,
                "--binary", GtmdServer.binary, "--no-deps", "--no-systemctl",
            ],
            timeout: 60
        )
        #expect(try String(contentsOfFile: stage + "/etc/gtmd/gtmd.yaml", encoding: .utf8).hasSuffix("# edited\n"))
        if fm.isExecutableFile(atPath: "/usr/bin/systemd-analyze") {
            let v = try run(
                "/usr/bin/systemd-analyze",
                ["security", "--offline=yes", stage + "/etc/systemd/system/gtmd.service"]
            )
            #expect(v.stdout.contains("Overall exposure level"), "\(v.stdout)\(v.stderr)")
        }
    }
}

extension String {
    func appendToFile(_ path: String) throws {
        let h = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? h.close() }
        try h.seekToEnd()
        try h.write(contentsOf: Data(utf8))
    }
}
