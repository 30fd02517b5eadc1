import Foundation
import Synchronization
import TestSupport
import Testing

/// Issue 13: `gtmd reload` goes over the control API and returns only once the new config serves, or with every
/// problem when it is refused (nothing changes); its exit status says which. `/status` shows the last reload.
@Suite struct ReloadOverTheAPI {
    func status(_ lab: FailoverLab) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(try lab.server.control("GET", "/status").body.utf8))
            as? [String: Any] ?? [:]
    }

    func ttl(_ lab: FailoverLab) throws -> String? {
        try lab.answer().answer.first?.split(separator: "\t").dropFirst().first.map(String.init)
    }

    @Test func reloadAnswersOnceServingOrWithTheProblems() throws {
        let lab = try FailoverLab()
        #expect(try status(lab)["last_reload"] == nil)
        let none = try lab.gtmd(["status"])
        #expect(none.status == 0 && none.stdout.contains("last reload: none since start"), "\(none.stdout)")

        // 1. A good config: the command returns once it serves, so the first query after it has the new TTL.
        try lab.yaml.replacingOccurrences(of: "ttl: 30", with: "ttl: 45").write(
            toFile: lab.config,
            atomically: true,
            encoding: .utf8
        )
        var r = try lab.gtmd(["reload"])
        #expect(r.status == 0 && r.stdout.contains("reloaded: installed"), "\(r.stdout)\(r.stderr)")
        #expect(try ttl(lab) == "45", "no poll: the reply came after the install")
        var last = try status(lab)["last_reload"] as? [String: Any]
        #expect(
            last?["result"] as? String == "installed" && last?["trigger"] as? String == "control API",
            "\(last ?? [:])"
        )
        #expect((last?["generation"] as? Int ?? 0) > 0 && (last?["errors"] as? [String])?.isEmpty == true)

        // 2. A broken zone (an address record at the service name): refused with file:line, the record and what
        //    to do; exit 1; the previous config keeps serving; /status and `gtmd status` show it.
        let zone = lab.dir.appendingPathComponent("lab.zone").path
        try "$TTL 60\n@ SOA ns1 host 1 3600 600 86400 30\n@ NS ns1\nns1 A 127.0.0.1\nwww A 192.0.2.99\n".write(
            toFile: zone,
            atomically: true,
            encoding: .utf8
        )
        let broken = lab.yaml.replacingOccurrences(of: "ttl: 30", with: "ttl: 60")
            .replacingOccurrences(of: Repo.root.appendingPathComponent("zones/lab.example.zone").path, with: zone)
        try broken.write(toFile: lab.config, atomically: true, encoding: .utf8)
        r = try lab.gtmd(["reload"])
        let problem = "\(zone):5: www.lab.example. 60 IN A 192.0.2.99: the service www.lab.example."
        #expect(
            r.status == 1 && r.stderr.contains(problem) && r.stderr.contains("reload refused (1 problem(s))"),
            "\(r.status) \(r.stdout)\(r.stderr)"
        )
        #expect(try ttl(lab) == "45", "the previous config still serves")
        last = try status(lab)["last_reload"] as? [String: Any]
        #expect(last?["result"] as? String == "refused" && last?["generation"] == nil, "\(last ?? [:])")
        #expect((last?["errors"] as? [String])?.first?.contains(problem) == true, "\(last ?? [:])")
        let shown = try lab.gtmd(["status"])
        #expect(
            shown.stdout.contains("last reload: REFUSED") && shown.stdout.contains(problem),
            "\(shown.stdout)\(shown.stderr)"
        )
        let metrics = try parsePrometheus(try lab.server.control("GET", "/metrics").body)
        #expect(
            metrics["gtmd_reloads_total{result=\"failed\"}"] == 1 && metrics["gtmd_reloads_total{result=\"ok\"}"] == 1
        )

        // 3. SIGHUP stays as it was (no answer to anyone), and /status shows it too.
        try lab.yaml.replacingOccurrences(of: "ttl: 30", with: "ttl: 50").write(
            toFile: lab.config,
            atomically: true,
            encoding: .utf8
        )
        lab.server.signal(SIGHUP)
        try waitFor("SIGHUP reload in /status", timeout: 10) {
            let l = try status(lab)["last_reload"] as? [String: Any]
            return l?["trigger"] as? String == "SIGHUP" && l?["result"] as? String == "installed"
        }
        #expect(try ttl(lab) == "50")

        // 4. Exit statuses: 2 when the control API cannot be reached, 3 when the token is refused.
        let away = try run(GtmdServer.binary, ["reload", "--config", lab.config, "--control", "127.0.0.1:1"])
        #expect(away.status == 2 && away.stderr.contains("cannot reach the gtmd control API"), "\(away.stderr)")
        let wrong = lab.dir.appendingPathComponent("wrong.token").path
        try "not-the-token\n".write(toFile: wrong, atomically: true, encoding: .utf8)
        let denied = try lab.gtmd(["reload", "--token-file", wrong])
        #expect(denied.status == 3 && denied.stderr.contains("401"), "\(denied.status) \(denied.stderr)")
    }

    /// The reloads of SIGHUP and the API run one at a time: a burst of both ends with every reply `installed` and
    /// the server still serving the config on disk.
    @Test func concurrentReloadsAreSerialised() throws {
        let lab = try FailoverLab()
        try lab.yaml.replacingOccurrences(of: "ttl: 30", with: "ttl: 33").write(
            toFile: lab.config,
            atomically: true,
            encoding: .utf8
        )
        let statuses = Mutex<[Int32]>([])
        let (config, port, pid) = (lab.config, lab.server.controlPort!, lab.server.process.processIdentifier)
        DispatchQueue.concurrentPerform(iterations: 4) { i in
            if i == 0 { kill(pid, SIGHUP) }
            let s = (try? run(GtmdServer.binary, ["reload", "--config", config, "--control", "127.0.0.1:\(port)"]))?
                .status
            statuses.withLock { $0.append(s ?? -1) }
        }
        #expect(statuses.withLock { $0 } == [0, 0, 0, 0], "\(statuses.withLock { $0 })")
        #expect(try ttl(lab) == "33")
    }
}
