import Foundation
import Synchronization
import TestSupport
import Testing

/// Issue 19: one huge number (`interval: 1e300s`, `"for": "1e300s"`) trapped in the duration conversion and
/// killed `gtmd check`, the running server on SIGHUP, the server on one control-API call, and the CLI.
/// Each must now be a clear error, and the server must keep answering what it answered before.
@Suite struct HugeNumberRegression {
    static let hugeDurations = ["1e300s", "99999999999999999999999999999999s", "10001d", "0.0001s"]

    @Test func checkRejectsAHugeIntervalWithWhereAndTheLimit() throws {
        let lab = try FailoverLab()
        let bad = lab.dir.appendingPathComponent("bad.yaml").path
        try lab.yaml.replacingOccurrences(of: "interval: 1s", with: "interval: 1e300s").write(
            toFile: bad,
            atomically: true,
            encoding: .utf8
        )
        let r = try run(GtmdServer.binary, ["check", "--config", bad])
        #expect(r.status == 1 && !r.signaled, "exit \(r.status), signaled \(r.signaled): \(r.stdout)\(r.stderr)")
        let out = r.stdout + r.stderr
        #expect(
            out.contains("bad.yaml:") && out.contains("checks.healthz.interval: '1e300s' is not a duration"),
            "\(out)"
        )
        #expect(out.contains("allowed here: 50ms...1d"), "says what is allowed: \(out)")
    }

    @Test func reloadWithAHugeDurationKeepsServing() throws {
        let lab = try FailoverLab()
        let loop = QueryLoop(port: lab.server.port, name: "www.lab.example")
        for (i, value) in Self.hugeDurations.enumerated() {
            try lab.yaml.replacingOccurrences(of: "interval: 1s", with: "interval: \(value)")
                .write(toFile: lab.config, atomically: true, encoding: .utf8)
            lab.server.signal(SIGHUP)
            try waitFor("reload \(value) refused and counted", timeout: 10) {
                try parsePrometheus(try lab.server.control("GET", "/metrics").body)[
                    "gtmd_reloads_total{result=\"failed\"}"
                ] == Double(i + 1)
            }
            #expect(lab.server.process.isRunning, "gtmd died on reload with interval: \(value)\n\(lab.server.log)")
            #expect(
                lab.server.log.contains("checks.healthz.interval: '\(value)'"),
                "the error is logged with where it is"
            )
            #expect(try lab.answer().answerData == [lab.primaries[0].address], "the old config keeps answering")
        }
        try loop.stop()
        #expect(loop.lost.load(ordering: .relaxed) == 0, "no query lost while reloads were refused")
        #expect(loop.answered.load(ordering: .relaxed) > 10)
    }

    @Test func controlAPIAndCLIRefuseAHugeForAndTheServerLives() throws {
        let token = "t-\(UUID().uuidString)"
        let lab = try FailoverLab(extra: "control:\n  token_file: token", files: ["token": token + "\n"])
        for value in Self.hugeDurations {
            let body = #"{"scope":"pool","target":"primary","action":"down","for":"\#(value)"}"#
            let r = try lab.server.control(
                "POST",
                "/v1/overrides",
                headers: ["Authorization": "Bearer \(token)"],
                body: body
            )
            #expect(r.status == 400 && r.body.contains("for '\(value)'"), "\(r.status) \(r.body)")
            #expect(r.body.contains("10000d") || r.body.contains("finer than 1ms"), "says the limit: \(r.body)")
            #expect(lab.server.process.isRunning, "gtmd died on POST for: \(value)\n\(lab.server.log)")

            for offline in [true, false] {
                let args = ["override", "pool", "primary", "down", "--for", value]
                // Offline on a state file of its own: the running server holds the lab's (and --offline refuses to edit a held one).
                let cli =
                    offline
                    ? try run(
                        GtmdServer.binary,
                        args + [
                            "--config", lab.config, "--state-file", lab.dir.appendingPathComponent("offline.json").path,
                        ]
                    )
                    : try lab.gtmd(args)
                #expect(
                    cli.status != 0 && (cli.stdout + cli.stderr).contains("for '\(value)'"),
                    "exit \(cli.status): \(cli.stdout)\(cli.stderr)"
                )
                #expect(!cli.signaled, "the CLI trapped (signal \(cli.status))")
            }
        }
        #expect(try lab.answer().answerData == [lab.primaries[0].address], "nothing was set, the primary answers")
    }
}
