import Foundation

/// A failover lab of its own: backends on fresh loopback addresses, a config written for them, and the
/// real gtmd answering dig.
public final class FailoverLab {
    public let net: String
    public let port: Int
    public let primaries: [HealthBackend]
    public let standby: HealthBackend
    public let dir: URL
    public let config: String
    public let server: GtmdServer
    /// The config as first written (tests write variants of it for reloads).
    public let yaml: String
    // The lab's check: interval 1 s, timeout 1 s, fall 2, rise 2 (fast interval: the default, 200 ms).
    public static let interval = 1.0, timeout = 1.0, fall = 2.0, rise = 2.0

    /// `files`: written into the lab's folder (beside the config) before gtmd starts, e.g. a token file.
    /// `dnssec`: the zone's `dnssec:` section (flow style, e.g. `{ keys: auto }`); nil = unsigned.
    public init(
        primaryCount: Int = 1,
        rule: String = "any",
        failback: String = "auto",
        extra: String = "",
        files: [String: String] = [:],
        token: Bool = true,
        dnssec: String? = nil
    ) throws {
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
                file: \(Repo.root.appendingPathComponent("zones/lab.example.zone").path)\(dnssec.map { "\n    dnssec: \($0)" } ?? "")
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
        for (name, text) in files {
            try text.write(toFile: dir.appendingPathComponent(name).path, atomically: true, encoding: .utf8)
        }
        server = try GtmdServer(["--config", config, "--state-file", dir.appendingPathComponent("state.json").path])
    }

    public func answer() throws -> DigResult { try dig("www.lab.example", "A", port: server.port) }

    /// Polls until `www` answers exactly `addresses`; returns the seconds it took.
    @discardableResult
    public func waitForAnswer(_ addresses: [String], within bound: Double) throws -> Double {
        try waitFor("www → \(addresses) within \(bound)s\n\(server.log)", timeout: bound, interval: 0.05) {
            try answer().answerData.sorted() == addresses.sorted()
        }
    }

    /// `gtmd ARGS --config CONFIG` against the running server's control API (`via`: another server on this config).
    public func gtmd(_ args: [String], via: GtmdServer? = nil) throws -> CommandResult {
        try run(
            GtmdServer.binary,
            args + ["--config", config, "--control", "127.0.0.1:\((via ?? server).controlPort!)"]
        )
    }

    /// `gtmd ARGS --config CONFIG --state-file STATE`: the offline path.
    public func gtmdOffline(_ args: [String]) throws -> CommandResult {
        try run(
            GtmdServer.binary,
            args + ["--config", config, "--state-file", dir.appendingPathComponent("state.json").path]
        )
    }

    deinit { server.stop() }
}
