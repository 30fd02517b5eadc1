import Foundation
import TestSupport
import Testing

/// contrib/prometheus/gtmd.rules.yml and contrib/grafana/gtmd-dashboard.json name only metrics a real gtmd
/// exports, after a failover and a failback, with an https check (certificate expiry) and a service whose
/// pools are all down (fail-open). The rules also pass `promtool check rules` (scripts/deps.sh installs it).
@Suite struct AlertRules {
    static let rules = Repo.root.appendingPathComponent("contrib/prometheus/gtmd.rules.yml").path
    static let dashboard = Repo.root.appendingPathComponent("contrib/grafana/gtmd-dashboard.json").path

    /// Metric names (gtmd_*, process_*) a text mentions.
    static func metricNames(_ text: String) -> Set<String> {
        let re = try! NSRegularExpression(pattern: "\\b(gtmd_[a-z0-9_]+|process_[a-z0-9_]+)\\b")
        let ns = text as NSString
        return Set(
            re.matches(in: text, range: NSRange(location: 0, length: ns.length)).map { ns.substring(with: $0.range) }
        )
    }

    @Test func promtoolAcceptsTheRules() throws {
        let promtool = ["/usr/local/bin/promtool", "/usr/bin/promtool"].first {
            FileManager.default.isExecutableFile(atPath: $0)
        }
        guard let promtool else {
            // deps.sh installs it; without it the metric-name test below still checks the rules.
            print("promtool not installed (scripts/deps.sh installs it): skipping promtool check rules")
            return
        }
        let r = try run(promtool, ["check", "rules", Self.rules])
        #expect(r.status == 0 && r.stdout.contains("SUCCESS"), "\(r.stdout)\(r.stderr)")
    }

    @Test func everyMetricTheRulesAndDashboardNameIsExported() throws {
        let net = LoopbackNet.fresh()
        let (primary, standby, secure, dead) = ("\(net)11", "\(net)12", "\(net)13", "\(net)14")
        let port = try LoopbackNet.freePort(on: [primary, standby, secure, dead])
        let a = try HealthBackend(address: primary, port: port)
        let b = try HealthBackend(address: standby, port: port)
        defer {
            a.kill()
            b.kill()
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gtmd-alerts-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let tls = try TLSBackend(address: secure, port: port, dir: dir.path)
        defer { tls.stop() }
        let config = dir.appendingPathComponent("gtmd.yaml").path
        // A CSK that stops signing in 30 days with no successor: the key-expiry series (and its alert) exist.
        let keygen = try run(
            GtmdServer.binary,
            ["dnssec", "keygen", "lab.example", "--inactive", "+30d", "--delete", "+31d", "--dir", dir.path]
        )
        #expect(keygen.status == 0, "\(keygen.stderr)")
        let key = dir.appendingPathComponent(keygen.stdout.trimmingCharacters(in: .whitespacesAndNewlines)).path
        try """
        server:
          listen: ["127.0.0.1:0"]
        zones:
          - origin: lab.example
            file: \(Repo.root.appendingPathComponent("zones/lab.example.zone").path)
            dnssec: { keys: [\(key)] }
        checks:
          healthz: { type: http, port: \(port), path: /healthz, interval: 1s, timeout: 1s, fall: 2, rise: 2 }
          secure: { type: https, port: \(port), path: /, tls_verify: false, interval: 1s, timeout: 1s }
        pools:
          primary: { checks: [healthz], members: [\(primary)] }
          standby: { checks: [healthz], members: [\(standby)] }
          secure: { checks: [secure], members: [\(secure)] }
          gone: { checks: [healthz], members: [\(dead)] }
        services:
          www.lab.example: { pools: [primary, standby], ttl: 30, degraded_ttl: 5 }
          near.lab.example: { pools: [gone], when_all_down: fail-open }
          tls.lab.example: { pools: [secure] }
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let server = try GtmdServer(["--config", config])
        defer { server.stop() }
        func scrape() throws -> [String: Double] {
            let r = try server.control("GET", "/metrics")
            #expect(r.status == 200)
            return try parsePrometheus(r.body)
        }
        // Fail over, then back: the detection time stays exported after the failback.
        a.kill()
        try waitFor("failover", timeout: 6) { try dig("www.lab.example", port: server.port).answerData == [standby] }
        try waitFor("standby gauge", timeout: 3) {
            try scrape()["gtmd_service_standby{service=\"www.lab.example.\"}"] == 1
        }
        try a.start()
        try waitFor("failback", timeout: 6) { try dig("www.lab.example", port: server.port).answerData == [primary] }
        try waitFor("certificate seen", timeout: 6) {
            try scrape().keys.contains { $0.hasPrefix("gtmd_check_certificate_expiry_timestamp_seconds{") }
        }
        try waitFor("standby gauge back to 0", timeout: 3) {
            try scrape()["gtmd_service_standby{service=\"www.lab.example.\"}"] == 0
        }
        let m = try scrape()
        #expect(
            (m["gtmd_failover_detection_seconds{service=\"www.lab.example.\"}"] ?? 0) > 0,
            "detection gone after failback"
        )
        #expect((m["gtmd_failover_detection_timestamp_seconds{service=\"www.lab.example.\"}"] ?? 0) > 1_700_000_000)
        #expect(
            m["gtmd_service_all_down{service=\"near.lab.example.\"}"] == 1
                && m["gtmd_service_fail_open{service=\"near.lab.example.\"}"] == 1
        )
        #expect(m["gtmd_service_all_down{service=\"www.lab.example.\"}"] == 0)
        // Signed zone: the earliest RRSIG expiration served is about 14 days ahead (the default validity).
        let expiry = m["gtmd_dnssec_signature_expiry_timestamp_seconds"] ?? 0
        #expect(abs(expiry - Date().timeIntervalSince1970 - 14 * 86_400) < 3600, "\(expiry)")
        // Its signing ends in 30 days with no successor: the series the GtmdDnssecKeyExpiring rule reads.
        let ends = m.first { $0.key.hasPrefix("gtmd_dnssec_signing_ends_timestamp_seconds{") }?.value ?? 0
        #expect(abs(ends - Date().timeIntervalSince1970 - 30 * 86_400) < 3600, "\(ends)")
        #expect(m.keys.contains { $0.hasPrefix("gtmd_dnssec_key_state{") && $0.contains("state=\"active\"") })
        #expect(
            (m["gtmd_probe_failures_total{target=\"gone/\(dead)\",check=\"healthz\",reason=\"refused\"}"] ?? 0) >= 1,
            "\(m.keys.filter { $0.contains("failures") })"
        )
        #expect((m["process_resident_memory_bytes"] ?? 0) > 1_000_000 && (m["process_open_fds"] ?? 0) > 3)
        #expect((m["process_start_time_seconds"] ?? 0) > 1_700_000_000 && m["process_cpu_seconds_total"] != nil)
        #expect(
            server.log.contains("all pools down") && server.log.contains("service=near.lab.example."),
            "\(server.log)"
        )

        let exported = Set(m.keys.map { String($0.prefix { $0 != "{" }) })
        for file in [Self.rules, Self.dashboard] {
            let named = Self.metricNames(try String(contentsOfFile: file, encoding: .utf8))
            #expect(!named.isEmpty)
            let missing = named.subtracting(exported)
            #expect(missing.isEmpty, "\(file) names metrics gtmd does not export: \(missing.sorted())")
        }
    }
}

/// An HTTPS server on loopback with a fresh self-signed certificate (openssl + python3), for https checks.
final class TLSBackend {
    let process: Process
    init(address: String, port: Int, dir: String) throws {
        let cert = dir + "/cert.pem"
        let key = dir + "/key.pem"
        let gen = try run(
            "/usr/bin/openssl",
            [
                "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-subj", "/CN=localhost", "-days", "10", "-keyout", key, "-out", cert,
            ]
        )
        guard gen.status == 0 else { throw TestError.failed("openssl: \(gen.stderr)") }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = [
            "python3", "-c",
            """
            import http.server, ssl, sys
            s = http.server.HTTPServer((sys.argv[1], int(sys.argv[2])), http.server.SimpleHTTPRequestHandler)
            c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); c.load_cert_chain(sys.argv[3], sys.argv[4])
            s.socket = c.wrap_socket(s.socket, server_side=True)
            s.serve_forever()
            """, address, "\(port)", cert, key,
        ]
        p.currentDirectoryURL = URL(fileURLWithPath: dir)
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        process = p
        try waitFor("https backend on \(address):\(port)", timeout: 10) { tcpConnects(address, port) }
    }
    func stop() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
    deinit { stop() }
}
