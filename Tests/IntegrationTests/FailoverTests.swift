import Foundation
import TestSupport
import Testing

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
        print(
            "failover: kill → standby answer \(String(format: "%.2f", down)) s; restart → primary \(String(format: "%.2f", back)) s"
        )
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
        let again = try GtmdServer([
            "--config", lab.config, "--state-file", lab.dir.appendingPathComponent("state.json").path,
        ])
        defer { again.stop() }
        #expect(try dig("www.lab.example", port: again.port).answerData == [lab.standby.address])
        r = try lab.gtmd(["override", "clear", "pool", "primary"], via: again)
        #expect(r.status == 0)
        try waitFor("back to primary", timeout: 3) {
            try dig("www.lab.example", port: again.port).answerData == [primary]
        }
        // Pin, with an expiry.
        r = try lab.gtmd(["override", "pin", "www.lab.example", "standby", "--for", "2s"], via: again)
        #expect(r.status == 0, "\(r.stderr)")
        try waitFor("pinned", timeout: 3) {
            try dig("www.lab.example", port: again.port).answerData == [lab.standby.address]
        }
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
