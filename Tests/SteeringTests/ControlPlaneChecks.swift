// The control plane's fuzz targets (issue 19: one huge number in a reload or an API call killed the server):
// the state file loader, control-API override bodies and the CLI's --for/--until, each run on into the single
// writer (SteeringCore) so a value that parses but traps later is found too. Shared by the libFuzzer harness
// (Fuzz/, main.swift) and the normal tests (Tests/SteeringTests/ControlPlaneChecks.swift is a symlink), which
// replay Fuzz/corpus and Fuzz/regressions.
import Answers
import Config
import Foundation
import HealthModel
import Logging
import Policy
import Steering

public enum ControlPlaneTarget: String, CaseIterable, Sendable {
    case state, control, cli
}

/// A prepared lab config (two pools, a failover service) and a scratch state file, made once per process.
/// Used from one thread at a time (libFuzzer runs inputs sequentially; tests take the lock).
public final class ControlPlaneChecks: @unchecked Sendable {  // all mutable state is touched under `lock`
    let prepared: Prepared
    let dir: String
    let stateFile: String
    let lock = NSLock()
    /// A fixed clock, so one input always takes one path.
    static let now = Date(timeIntervalSince1970: 1_800_000_000)
    static let logger = Logger(label: "gtmd-fuzz") { _ in SwiftLogNoOpLogHandler() }

    /// `zonesDirectory`: the repository's `zones/` (the lab zone is served).
    public init(zonesDirectory: String) {
        // One folder per process, so a fuzz run and the replay tests at the same time never share a state file. The
        // path is part of what the checks handle, so its length must not vary by run: the pid is zero-padded.
        let pid = String(getpid())
        dir = NSTemporaryDirectory() + "gtmd-fuzz-control-plane-" + String(repeating: "0", count: 10 - pid.count) + pid
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        stateFile = dir + "/state.json"
        let yaml = """
            zones:
              - { origin: lab.example., file: \(zonesDirectory)/lab.example.zone }
            checks:
              h: { type: tcp, port: 80 }
            pools:
              primary: { checks: [h], members: [192.0.2.1] }
              standby: { checks: [h], members: [192.0.2.2] }
            services:
              www.lab.example: { pools: [primary, standby], ttl: 30, degraded_ttl: 5, hold_down: 1h, failback: manual }
            """
        let file = dir + "/gtmd.yaml"
        _ = FileManager.default.createFile(atPath: file, contents: Data(yaml.utf8))
        guard case .success(let p) = Setup.prepare(SetupRequest(configPath: file)) else {
            preconditionFailure("fuzz: the control-plane config does not load (zones: \(zonesDirectory))")
        }
        prepared = p
    }

    public func check(_ target: ControlPlaneTarget, _ data: [UInt8]) -> String? {
        lock.lock()
        defer { lock.unlock() }
        switch target {
        case .state: return state(data)
        case .control: return control(data)
        case .cli: return cli(data)
        }
    }

    /// Any state file: read or refused with a message; what is read starts a writer that publishes, expires
    /// overrides and evaluates timers (a day later) without trapping.
    func state(_ data: [UInt8]) -> String? {
        _ = FileManager.default.createFile(atPath: stateFile, contents: Data(data))
        let read: StateFileContent?
        do { read = try StateFile.read(stateFile) } catch {
            if error.description.isEmpty { return "refused with no message" }
            read = nil
        }
        let core = SteeringCore(
            prepared: prepared,
            store: AnswerStore(AnswerTable.empty()),
            stateFile: stateFile,
            logger: Self.logger
        )
        if let read, core.overrides.all.count != OverrideSet(read.overrides).all.count {
            return "read \(read.overrides.count) overrides, the writer holds \(core.overrides.all.count)"
        }
        return run(core)
    }

    /// Any control-API body: a request or a 400 message. An accepted body is a JSON object (Foundation's own
    /// parser agrees) of known fields only, and what the CLI would send for the request (snake_case keys, ISO 8601
    /// dates) decodes to the same request; a request is validated against the config and a valid override is
    /// applied by the writer.
    func control(_ data: [UInt8]) -> String? {
        let request: OverrideRequest
        do { request = try OverrideRequest.decode(json: data) } catch {
            return error.description.isEmpty ? "decode refused with no message" : nil
        }
        if let object = try? JSONSerialization.jsonObject(with: Data(data)) {
            guard let fields = object as? [String: Any] else { return "accepted a body that is not a JSON object" }
            if let unknown = fields.keys.first(where: { !OverrideRequest.fields.contains($0) }) {
                return "accepted the unknown field '\(unknown)'"
            }
        }
        let resent: OverrideRequest
        do { resent = try OverrideRequest.decode(json: Array(try Self.cliEncoder.encode(request))) } catch {
            return "the CLI's encoding of an accepted request is refused: \(error)"
        }
        if resent != request { return "the CLI's encoding decodes to another request: \(resent) != \(request)" }
        return apply(request)
    }

    /// As `Control.ControlJSON.encoder` (the fuzz package does not link NIO): what `gtmd override` sends.
    static let cliEncoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        e.dateEncodingStrategy = .iso8601
        e.keyEncodingStrategy = .convertToSnakeCase
        return e
    }()

    /// The CLI's `--for` and `--until` words (split at the first newline): an expiry within the limit, or an error.
    func cli(_ data: [UInt8]) -> String? {
        let text = String(decoding: data, as: UTF8.self)
        let parts = text.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        let forText = parts[0].isEmpty ? nil : parts[0]
        let until = parts.count > 1 ? OverrideRequest.parseUntil(parts[1]) : nil
        do {
            if let e = try OverrideStore.expiry(for: forText, until: until, now: Self.now), forText != nil,
                !(e > Self.now && e <= Self.now.addingTimeInterval(Double(DurationText.limitMilliseconds) / 1000))
            {
                return "--for '\(forText!)' expires at \(e), outside (now, now + 10000d]"
            }
        } catch {
            if error.description.isEmpty { return "refused with no message" }
            return nil
        }
        return apply(OverrideRequest(scope: "pool", target: "primary", action: "down", for: forText, until: until))
    }

    func apply(_ request: OverrideRequest) -> String? {
        let override: Override
        do { override = try OverrideStore.make(request, config: prepared.config, now: Self.now) } catch {
            return error.description.isEmpty ? "make refused with no message" : nil
        }
        _ = FileManager.default.createFile(atPath: stateFile, contents: Data())
        let core = SteeringCore(
            prepared: prepared,
            store: AnswerStore(AnswerTable.empty()),
            stateFile: stateFile,
            logger: Self.logger
        )
        _ = core.apply(.override(.set(override)), now: Self.now)
        _ = core.save([.set(override)])
        return run(core)
    }

    /// Health in, publish, a day passes, publish again: the generation only grows.
    func run(_ core: SteeringCore) -> String? {
        for (i, primaryUp) in [true, false].enumerated() {
            let when = Self.now.addingTimeInterval(Double(i) * 86_400)
            _ = core.apply(.health(snapshot(primaryUp: primaryUp)), now: when)
            _ = core.tick(now: when)
            let before = core.generation
            _ = core.publishIfDirty(now: when)
            if core.generation < before { return "generation went back from \(before) to \(core.generation)" }
            if let next = core.nextEvaluation { _ = next.timeIntervalSince(when) }
        }
        return nil
    }

    func snapshot(primaryUp: Bool) -> HealthSnapshot {
        Self.snapshot(["primary/192.0.2.1": primaryUp, "standby/192.0.2.2": true], failingSince: Self.now)
    }

    /// A health snapshot with these verdicts (one tcp check per target); a down target's check has been
    /// failing since `failingSince`. Also the SteeringTests' snapshot builder.
    public static func snapshot(_ up: [String: Bool], failingSince: Date? = nil) -> HealthSnapshot {
        var targets: [String: TargetHealth] = [:]
        for (id, isUp) in up {
            let check = CheckHealth(
                name: "h",
                kind: .tcp,
                endpoint: "x",
                state: isUp ? .up : .down,
                lastResult: nil,
                lastProbe: nil,
                consecutivePasses: 0,
                consecutiveFailures: 0,
                rise: 2,
                fall: 3,
                lastChange: nil,
                probes: 1,
                inDoubt: false,
                failingSince: isUp ? nil : failingSince
            )
            targets[id] = TargetHealth(
                id: id,
                address: "",
                state: isUp ? .up : .down,
                isUp: isUp,
                lastChange: nil,
                checks: [check]
            )
        }
        return HealthSnapshot(targets: targets, generation: 1, firstRoundDone: true)
    }
}
