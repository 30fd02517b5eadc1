import ArgumentParser
import Config
import Control
import FoundationEssentials
import HealthModel
import Steering

/// `gtmd simulate`: rehearse a failure on the real config (Steering.Drill); nothing is probed, served or written.
struct SimulateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Rehearse a failure on the config without touching anything: when answers switch, TTLs, failback.",
        discussion: """
            Each step: TIME POOL/ADDRESS up|down|blackhole (down: refused at once, as a stopped service;
            blackhole: no reply, each probe fails after its timeout). Example:
              gtmd simulate --config config/lab.yaml --event '0s primary/127.0.0.11 down' \\
                --event '90s primary/127.0.0.11 up' --for 5m
            A scenario file has one step per line (# comments).
            """
    )
    @Option(name: .long, help: "Config file (YAML).") var config: String
    @Option(name: .long, help: "A step: 'TIME POOL/ADDRESS up|down|blackhole' (repeatable).") var event: [String] = []
    @Option(name: .long, help: "A file of steps, one per line.") var scenario: String?
    @Option(name: .customLong("for"), help: "How long to simulate (default: 5m after the last step).") var duration:
        String?
    @Flag(name: .long, help: "Print the report as JSON.") var json = false

    func run() throws {
        let prepared: Prepared
        switch Setup.prepare(SetupRequest(configPath: config)) {
        case .success(let p): prepared = p
        case .failure(let f):
            for p in f.problems { print(p) }
            print("\(f.problems.count) problem(s)")
            throw ExitCode(1)
        }
        let targets = prepared.config.probeTargets().map(\.id)
        var steps: [Drill.Step] = []
        do {
            if let scenario {
                guard let data = FileManager.default.contents(atPath: scenario) else {
                    throw ValidationError("--scenario \(scenario): cannot read the file")
                }
                steps += try Drill.parseScenario(
                    String(decoding: data, as: UTF8.self),
                    file: scenario,
                    targets: targets
                )
            }
            for e in event { steps.append(try Drill.parseStep(e, targets: targets, source: "--event")) }
        } catch let e as Drill.DrillError {
            throw ValidationError(e.description)
        }
        guard !steps.isEmpty else { throw ValidationError("give at least one --event or a --scenario file") }
        var length = (steps.map(\.at).max() ?? 0) + 300
        if let duration {
            guard let d = parseDuration(duration), d > .zero, d <= .seconds(7 * 86_400) else {
                throw ValidationError("--for '\(duration)': expected a duration from 1s to 7d (examples: 90s, 5m, 1h)")
            }
            length = Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
        }
        let report = Drill.simulate(prepared: prepared, steps: steps, duration: length)
        if json {
            print(String(decoding: try ControlJSON.encoder.encode(report), as: UTF8.self))
        } else {
            print(Drill.text(report))
        }
    }
}
