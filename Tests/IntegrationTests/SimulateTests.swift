import Foundation
import TestSupport
import Testing

/// `gtmd simulate` (issue 18) agrees with reality: the lab's real switch time, for a stopped primary and a
/// black-holed one, falls within the simulated range (over probe phases and jitter) of the same scenario.
@Suite struct SimulateAgreesWithTheLab {
    struct Switch {
        var earliest: Double
        var latest: Double
        var t: Double
    }

    func simulated(_ lab: FailoverLab, _ condition: String) throws -> Switch {
        let r = try run(
            GtmdServer.binary,
            [
                "simulate", "--config", lab.config, "--event", "0s primary/\(lab.primaries[0].address) \(condition)",
                "--for", "1m", "--json",
            ]
        )
        #expect(r.status == 0, "\(r.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let timeline = json["timeline"] as? [[String: Any]] ?? []
        let sw = try #require(
            timeline.first { $0["kind"] as? String == "switch" && $0["service"] as? String == "www.lab.example." },
            "\(r.stdout)"
        )
        #expect(sw["from"] as? String == "primary" && sw["to"] as? String == "standby" && sw["stale_ttl"] as? Int == 30)
        return Switch(
            earliest: try #require(sw["earliest"] as? Double),
            latest: try #require(sw["latest"] as? Double),
            t: try #require(sw["t"] as? Double)
        )
    }

    @Test(arguments: ["down", "blackhole"])
    func theRealSwitchFallsWithinTheSimulatedRange(_ condition: String) throws {
        let lab = try FailoverLab()
        let sim = try simulated(lab, condition)
        #expect(sim.earliest <= sim.t && sim.t <= sim.latest)
        let start = Date()
        if condition == "down" { lab.primaries[0].kill() } else { lab.primaries[0].blackhole() }
        let real = try lab.waitForAnswer([lab.standby.address], within: 10)
        _ = start
        // The answer is polled every 50 ms with dig (each query a few ms): allow that much on either side.
        let slack = 0.15
        print(
            String(
                format: "simulate %@: predicted %.2fs [%.2f .. %.2f], lab %.2fs",
                condition,
                sim.t,
                sim.earliest,
                sim.latest,
                real
            )
        )
        #expect(real >= sim.earliest - slack && real <= sim.latest + slack, "lab \(real)s, simulated \(sim)")
    }
}
