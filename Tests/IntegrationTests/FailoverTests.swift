import Foundation
import Testing
import TestSupport

/// A failover lab of its own: backends on fresh loopback addresses, a config written for them, and the
/// real gtmd answering dig.
final class FailoverLab {
    let net: String
    let port: Int
    let primaries: [HealthBackend]
    let standby: HealthBackend
    let dir: URL
    let config: String
    let server: GtmdServer
    /// The config as first written (tests write variants of it for reloads).
    let yaml: String
    // The lab's check: interval 1 s, timeout 1 s, fall 2, rise 2 (fast interval: the default, 200 ms).
    static let interval = 1.0, timeout = 1.0, fall = 2.0, rise = 2.0

    /// `files`: written into the lab's folder (beside the config) before gtmd starts, e.g. a token file.
    init(primaryCount: Int = 1, rule: String = "any", failback: String = "auto", extra: String = "",
         files: [String: String] = [:], token: Bool = true) throws {
        let net = LoopbackNet.fresh()
        self.net = net
        let primaryAddrs = (0..<primaryCount).map { "\(net)\(11 + $0 * 2)" }
        let standbyAddr = "\(net)12"
        let port = try LoopbackNet.freePort(on: primaryAddrs + [standbyAddr])
        self.port = port
        primaries = try primaryAddrs.map { try HealthBackend(address: $0, port: port) }
        standby = try HealthBackend(address: standbyAddr, port: port)
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("gtmd-fo-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        config = dir.appendingPathComponent("gtmd.yaml").path
        var yaml = """
        server:
          listen: ["127.0.0.1:0"]
        zones:
          - origin: lab.example
            file: \(Repo.root.appendingPathComponent("zones/lab.example.zone").path)
        state_file: state.json
        checks:
          healthz: { type: http, port: \(port), path: /healthz, interval: 1s, timeout: 1s, fall: 2, rise: 2 }
        pools:
          primary:
            rule: "\(rule)"
            checks: [healthz]
            members: [\(primaryAddrs.joined(separator: ", "))]
          standby:
            checks: [healthz]
            members: [\(standbyAddr)]
        services:
          www.lab.example:
            policy: failover
            pools: [primary, standby]
            ttl: 30
            degraded_ttl: 5
            failback: \(failback)
        \(extra)
        """
        // `gtmd override` goes through the control API while gtmd runs (the state file is the server's then):
        // a token file unless the test brings its own control section or asks for none.
        var files = files
        if token && !extra.contains("control:") {
            yaml += "\ncontrol:\n  token_file: lab.token\n"
            files["lab.token"] = "lab-\(UUID().uuidString)\n"
        }
        self.yaml = yaml
        try yaml.write(toFile: config, atomically: true, encoding: .utf8)
        for (name, text) in files { try text.write(toFile: dir.appendingPathComponent(name).path, atomically: true, encoding: .utf8) }
        server = try GtmdServer(["--config", config, "--state-file", dir.appendingPathComponent("state.json").path])
    }

    func answer() throws -> DigResult { try dig("www.lab.example", "A", port: server.port) }

    /// Polls until `www` answers exactly `addresses`; returns the seconds it took.
    func waitForAnswer(_ addresses: [String], within bound: Double) throws -> Double {
        try waitFor("www → \(addresses) within \(bound)s\n\(server.log)", timeout: bound, interval: 0.05) {
            try answer().answerData.sorted() == addresses.sorted()
        }
    }

    /// `gtmd ARGS --config CONFIG` against the running server's control API (`via`: another server on this config).
    func gtmd(_ args: [String], via: GtmdServer? = nil) throws -> CommandResult {
        try run(GtmdServer.binary, args + ["--config", config, "--control", "127.0.0.1:\((via ?? server).controlPort!)"])
    }

    /// `gtmd ARGS --config CONFIG --state-file STATE`: the offline path.
    func gtmdOffline(_ args: [String]) throws -> CommandResult {
        try run(GtmdServer.binary, args + ["--config", config, "--state-file", dir.appendingPathComponent("state.json").path])
    }

    deinit { server.stop() }
}

@Suite struct DigFailover {
    // Detection bound from the issue: fall × interval + timeout + a small publishing delay.
    var failoverBound: Double { FailoverLab.fall * FailoverLab.interval + FailoverLab.timeout + 0.5 }
    var failbackBound: Double { FailoverLab.rise * FailoverLab.interval + FailoverLab.timeout + 0.5 }

    @Test func failsOverAndBackAutomatically() throws {
        let lab = try FailoverLab()
        let primary = lab.primaries[0]
        let healthy = try lab.answer()
        #expect(healthy.answerData == [primary.address], "\(healthy)")
        #expect(healthy.answer.first?.contains("\t30\t") == true, "\(healthy)")
        primary.kill()
        let down = try lab.waitForAnswer([lab.standby.address], within: failoverBound)
        let degraded = try lab.answer()
        #expect(degraded.answer.first?.contains("\t5\t") == true, "degraded TTL: \(degraded)")
        try primary.start()
        let back = try lab.waitForAnswer([primary.address], within: failbackBound)
        #expect(try lab.answer().answer.first?.contains("\t30\t") == true)
        #expect(lab.server.log.contains("failover switch"), "\(lab.server.log)")
        print("failover: kill → standby answer \(String(format: "%.2f", down)) s; restart → primary \(String(format: "%.2f", back)) s")
    }

    @Test func manualFailbackStaysOnStandbyUntilReleased() throws {
        let lab = try FailoverLab(failback: "manual")
        let primary = lab.primaries[0]
        primary.kill()
        try lab.waitForAnswer([lab.standby.address], within: failoverBound)
        try primary.start()
        // The primary is healthy again (rise × interval) but the service stays on the standby.
        let deadline = Date().addingTimeInterval(failbackBound + 1)
        while Date() < deadline {
            #expect(try lab.answer().answerData == [lab.standby.address])
            usleep(200_000)
        }
        let r = try lab.gtmd(["override", "release", "www.lab.example"])
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        try lab.waitForAnswer([primary.address], within: 3)
    }

    @Test func atLeastTwoOfThree() throws {
        let lab = try FailoverLab(primaryCount: 3, rule: "2")
        let all = lab.primaries.map(\.address)
        #expect(try lab.answer().answerData.sorted() == all.sorted())
        lab.primaries[0].kill()
        // One of three down: still the primary pool, with the two that are up.
        try lab.waitForAnswer(Array(all[1...]), within: failoverBound)
        lab.primaries[1].kill()
        try lab.waitForAnswer([lab.standby.address], within: failoverBound)
        try lab.primaries[0].start()
        try lab.waitForAnswer([all[0], all[2]], within: failbackBound)
    }

    @Test func overridesDrainPinAndSurviveRestart() throws {
        let lab = try FailoverLab()
        let primary = lab.primaries[0].address
        var r = try lab.gtmd(["override", "pool", "primary", "down", "--note", "maintenance"])
        #expect(r.status == 0, "\(r.stderr)")
        try lab.waitForAnswer([lab.standby.address], within: 2)
        r = try lab.gtmd(["override", "list"])
        #expect(r.stdout.contains("pool primary down") && r.stdout.contains("maintenance"), "\(r.stdout)")
        // A restart keeps the override.
        lab.server.stop()
        let again = try GtmdServer(["--config", lab.config, "--state-file", lab.dir.appendingPathComponent("state.json").path])
        defer { again.stop() }
        #expect(try dig("www.lab.example", port: again.port).answerData == [lab.standby.address])
        r = try lab.gtmd(["override", "clear", "pool", "primary"], via: again)
        #expect(r.status == 0)
        try waitFor("back to primary", timeout: 3) { try dig("www.lab.example", port: again.port).answerData == [primary] }
        // Pin, with an expiry.
        r = try lab.gtmd(["override", "pin", "www.lab.example", "standby", "--for", "2s"], via: again)
        #expect(r.status == 0, "\(r.stderr)")
        try waitFor("pinned", timeout: 3) { try dig("www.lab.example", port: again.port).answerData == [lab.standby.address] }
        try waitFor("pin expired", timeout: 5) { try dig("www.lab.example", port: again.port).answerData == [primary] }
    }

    @Test func badOverridesAreRefusedWithAReason() throws {
        let lab = try FailoverLab()
        var r = try lab.gtmd(["override", "pool", "nosuch", "down"])
        #expect(r.status != 0 && r.stderr.contains("no pool 'nosuch'"), "\(r.stderr)")
        r = try lab.gtmd(["override", "pin", "www.lab.example", "nosuch"])
        #expect(r.status != 0 && r.stderr.contains("has no pool"), "\(r.stderr)")
        r = try lab.gtmd(["override", "member", "primary/10.9.9.9", "down"])
        #expect(r.status != 0 && r.stderr.contains("no member"), "\(r.stderr)")
        r = try lab.gtmd(["override", "pool", "primary", "down", "--for", "soon"])
        #expect(r.status != 0 && r.stderr.contains("not a duration"), "\(r.stderr)")
    }

    @Test func probeCommandPrintsATable() throws {
        let lab = try FailoverLab()
        var r = try run(GtmdServer.binary, ["probe", "--config", lab.config])
        #expect(r.status == 0, "\(r.stdout)")
        #expect(r.stdout.contains("primary/\(lab.primaries[0].address)") && r.stdout.contains("pass"), "\(r.stdout)")
        lab.primaries[0].kill()
        r = try run(GtmdServer.binary, ["probe", "--config", lab.config])
        #expect(r.status == 1, "\(r.stdout)")
        #expect(r.stdout.contains("FAIL") && r.stdout.contains("refused"), "\(r.stdout)")
    }
}
