import Config
import ConfigText
import Foundation
import TestSupport
import Testing

/// Every numeric key of the config with hostile values (huge, negative, NaN, infinite, empty, over-precise):
/// each is a problem at `t.yaml:LINE: key.path:` that says what is allowed, never a trap (issue 19: a
/// reload with `interval: 1e300s` killed the running server).
@Suite struct NumericInput {
    /// A key, and a config in which `{V}` stands for its value.
    struct Key: Sendable, CustomTestStringConvertible {
        var path: String
        var kind: Kind
        var yaml: String
        var testDescription: String { path }
        enum Kind: Sendable { case int, duration, double }
    }

    static let zones = "zones:\n  - { origin: lab.example., file: ../zones/lab.example.zone }\n"
    static let check = "checks:\n  hc:\n    type: http\n    port: 8081\n"
    static let pool = "pools:\n  p:\n    region: r\n    checks: [hc]\n    members:\n      - address: 127.0.0.11\n"
    static let region = "regions:\n  r: { latitude: 1, longitude: 2 }\n"
    static func service(_ line: String) -> String {
        zones + check + pool + region + "services:\n  www.lab.example:\n    pools: [p]\n    \(line)\n"
    }
    static func checkKey(_ key: String) -> String {
        zones + "checks:\n  hc:\n    type: http\n    port: 8081\n    \(key): {V}\n"
    }

    static let keys: [Key] = [
        Key(path: "server.edns_buffer_size", kind: .int, yaml: "server:\n  edns_buffer_size: {V}\n" + zones),
        Key(path: "server.udp_workers", kind: .int, yaml: "server:\n  udp_workers: {V}\n" + zones),
        Key(path: "server.udp_socket_buffer", kind: .int, yaml: "server:\n  udp_socket_buffer: {V}\n" + zones),
        Key(
            path: "server.tcp.max_connections",
            kind: .int,
            yaml: "server:\n  tcp:\n    max_connections: {V}\n" + zones
        ),
        Key(
            path: "server.tcp.max_connections_per_client",
            kind: .int,
            yaml: "server:\n  tcp:\n    max_connections_per_client: {V}\n" + zones
        ),
        Key(path: "server.tcp.idle_timeout", kind: .duration, yaml: "server:\n  tcp:\n    idle_timeout: {V}\n" + zones),
        Key(
            path: "server.tcp.query_timeout",
            kind: .duration,
            yaml: "server:\n  tcp:\n    query_timeout: {V}\n" + zones
        ),
        Key(
            path: "server.rrl.responses_per_second",
            kind: .int,
            yaml: "server:\n  rrl:\n    responses_per_second: {V}\n" + zones
        ),
        Key(path: "server.rrl.window", kind: .duration, yaml: "server:\n  rrl:\n    window: {V}\n" + zones),
        Key(path: "server.rrl.slip", kind: .int, yaml: "server:\n  rrl:\n    slip: {V}\n" + zones),
        Key(path: "server.rrl.ipv4_prefix", kind: .int, yaml: "server:\n  rrl:\n    ipv4_prefix: {V}\n" + zones),
        Key(path: "server.rrl.ipv6_prefix", kind: .int, yaml: "server:\n  rrl:\n    ipv6_prefix: {V}\n" + zones),
        Key(path: "server.rrl.table_size", kind: .int, yaml: "server:\n  rrl:\n    table_size: {V}\n" + zones),
        Key(path: "checks.hc.port", kind: .int, yaml: zones + "checks:\n  hc:\n    type: http\n    port: {V}\n"),
        Key(path: "checks.hc.body_limit", kind: .int, yaml: checkKey("body_limit")),
        Key(path: "checks.hc.timeout", kind: .duration, yaml: checkKey("timeout")),
        Key(path: "checks.hc.interval", kind: .duration, yaml: checkKey("interval")),
        Key(path: "checks.hc.fast_interval", kind: .duration, yaml: checkKey("fast_interval")),
        Key(path: "checks.hc.rise", kind: .int, yaml: checkKey("rise")),
        Key(path: "checks.hc.fall", kind: .int, yaml: checkKey("fall")),
        Key(
            path: "checks.hc.cert_expiry_warning",
            kind: .duration,
            yaml: zones + "checks:\n  hc:\n    type: https\n    port: 8443\n    cert_expiry_warning: {V}\n"
        ),
        Key(path: "health.max_in_flight", kind: .int, yaml: zones + "health:\n  max_in_flight: {V}\n"),
        Key(
            path: "pools.p.members[0].weight",
            kind: .int,
            yaml: zones + check
                + "pools:\n  p:\n    checks: [hc]\n    members:\n      - address: 127.0.0.11\n        weight: {V}\n"
        ),
        Key(path: "services.www.lab.example.ttl", kind: .int, yaml: service("ttl: {V}")),
        Key(path: "services.www.lab.example.degraded_ttl", kind: .int, yaml: service("degraded_ttl: {V}")),
        Key(path: "services.www.lab.example.min_ttl", kind: .int, yaml: service("min_ttl: {V}")),
        Key(path: "services.www.lab.example.max_ttl", kind: .int, yaml: service("max_ttl: {V}")),
        Key(path: "services.www.lab.example.hold_down", kind: .duration, yaml: service("hold_down: {V}")),
        Key(
            path: "services.www.lab.example.min_switch_interval",
            kind: .duration,
            yaml: service("min_switch_interval: {V}")
        ),
        Key(path: "services.www.lab.example.answers", kind: .int, yaml: service("policy: weighted\n    answers: {V}")),
        Key(
            path: "services.www.lab.example.max_pools",
            kind: .int,
            yaml: service("policy: nearest\n    max_pools: {V}")
        ),
        Key(
            path: "regions.r.latitude",
            kind: .double,
            yaml: zones + "regions:\n  r:\n    latitude: {V}\n    longitude: 2\n"
        ),
        Key(
            path: "regions.r.longitude",
            kind: .double,
            yaml: zones + "regions:\n  r:\n    latitude: 1\n    longitude: {V}\n"
        ),
        Key(
            path: "regions.r.bias",
            kind: .double,
            yaml: zones + "regions:\n  r:\n    latitude: 1\n    longitude: 2\n    bias: {V}\n"
        ),
        Key(
            path: "geo.ecs_max_prefix_v4",
            kind: .int,
            yaml: zones + region + "geo:\n  default_region: r\n  ecs_max_prefix_v4: {V}\n"
        ),
        Key(
            path: "geo.ecs_max_prefix_v6",
            kind: .int,
            yaml: zones + region + "geo:\n  default_region: r\n  ecs_max_prefix_v6: {V}\n"
        ),
    ]

    /// Hostile values; durations get them with and without units.
    static let values = [
        "1e300", "1e300s", "99999999999999999999999999", "9223372036854775807", "9223372036854775808s",
        "18446744073709551616ms", "11111111111111111111111111111111111d", "-1", "-5s", "-0.5", "nan", ".nan",
        "NaN", "inf", ".inf", "-.inf", "infinity", "\"\"", "0x10", "1_000", "0.0000000001", "0.0001s",
        "1.0000000001ms", "1.5ms", "3.14159265358979323846264338327950288s", "1e-300",
    ]

    @Test(arguments: keys)
    func hostileValuesAreProblemsThatSayWhereAndWhatIsAllowed(_ key: Key) throws {
        let lineOfKey =
            key.yaml.split(separator: "\n", omittingEmptySubsequences: false)
            .firstIndex { $0.contains("{V}") }! + 1
        let dir = Repo.root.appendingPathComponent("config").path
        for v in Self.values {
            let yaml = key.yaml.replacingOccurrences(of: "{V}", with: v)
            guard case .failure(let p) = ConfigLoader.parse(yaml, file: "t.yaml", baseDirectory: dir) else {
                // Coordinates and bias take any finite number in their range (-0.5, 1e-300, even 0x10).
                if key.kind == .double, let d = Double(v), d.isFinite, abs(d) <= 90 { continue }
                Issue.record("\(key.path): '\(v)' was accepted")
                continue
            }
            let mine = p.problems.filter { $0.path == key.path }
            #expect(mine.count == 1, "\(key.path) = \(v): \(p)")
            guard let problem = mine.first else { continue }
            #expect(problem.file == "t.yaml" && problem.line == lineOfKey, "\(key.path) = \(v): \(problem)")
            let text = problem.description
            #expect(text.hasPrefix("t.yaml:\(lineOfKey): \(key.path): "), "\(text)")
            // It says what is allowed: the key's range, or for durations the largest duration there is.
            #expect(text.contains("...") || text.contains("go up to") || text.contains("finer than 1ms"), "\(text)")
        }
    }

    @Test(arguments: ["version", "identity"])
    func chaosTextIsBounded(_ key: String) {
        let yaml = "server:\n  \(key): \(String(repeating: "x", count: 70_000))\n" + Self.zones
        guard case .failure(let p) = ConfigLoader.parse(yaml, file: "t.yaml", baseDirectory: "/") else {
            Issue.record("a 70,000-byte \(key) was accepted (its CH TXT answer cannot be built)")
            return
        }
        #expect(p.description.contains("t.yaml:2: server.\(key): is 70000 bytes; at most 1024"), "\(p)")
    }

    @Test(arguments: [
        ("500ms", 500), ("2s", 2000), ("1m", 60000), ("1.5", 1500), ("1h", 3_600_000), ("1.5m", 90_000), (" 3s ", 3000),
        ("0.001s", 1), ("0.25d", 21_600_000), ("10000d", 864_000_000_000), ("0", 0), ("1.000000000", 1000),
    ])
    func durations(_ text: String, _ ms: Int64) {
        #expect(DurationText.parse(text) == .success(.milliseconds(ms)))
    }

    @Test(arguments: [
        ("1e300s", DurationText.Failure.syntax), ("", .syntax), ("s", .syntax), ("-1s", .syntax), ("nan", .syntax),
        ("inf", .syntax), ("1.s", .syntax), (".5s", .syntax), ("0x10s", .syntax), ("1 s", .syntax), ("5w", .syntax),
        ("10001d", .tooLarge), ("864000000001ms", .tooLarge), ("99999999999999999999999999999999s", .tooLarge),
        ("9223372036854775807ms", .tooLarge), ("0.0001s", .tooPrecise), ("1.5ms", .tooPrecise),
        ("0.1234567891s", .tooPrecise), ("0.00000001d", .tooPrecise),
    ])
    func refusedDurations(_ text: String, _ why: DurationText.Failure) {
        #expect(DurationText.parse(text) == .failure(why))
    }

    @Test func formatIsTheLargestExactUnit() {
        #expect(DurationText.format(.milliseconds(1500)) == "1500ms")
        #expect(DurationText.format(.seconds(90)) == "90s")
        #expect(DurationText.format(.seconds(3600)) == "1h")
        #expect(DurationText.format(.seconds(86400 * 10_000)) == "10000d")
        #expect(DurationText.format(.zero) == "0ms")
        #expect(DurationText.milliseconds(.seconds(Int64.max)) == .max)
        #expect(DurationText.milliseconds(.seconds(Int64.min)) == .min)
    }

    /// Log lines print times with `fixed`, which must read as `%.Nf` would print them.
    @Test(arguments: [0, 1.5, 0.001, 0.0049, 12.3456, -3.14159, 2.5e-7, 123_456.789, -0.0004, 99.999_9, 86_399.5e3])
    func fixedPrintsWhatPercentFPrints(_ v: Double) {
        for places in 0...4 {
            #expect(DurationText.fixed(v, places: places) == String(format: "%.\(places)f", v), "places \(places)")
        }
    }

    /// The config's text fields are trimmed as Foundation's `trimmingCharacters(in:)` trims them.
    @Test(arguments: [
        "", " ", "any", "  any ", "\tall\t", "50 %", " 3\n", "\n\r 2 \u{85}", "\u{A0}any\u{3000}", "\u{2028}x\u{2029}",
        "é ", " 🇩🇪 ", "a\u{200B}", "\u{1680}b\u{202F}", "\u{0B}\u{0C}",
    ])
    func trimmedAsFoundationTrims(_ text: String) {
        #expect(text.trimmedSpace() == text.trimmingCharacters(in: .whitespaces))
        #expect(text.trimmedSpace(newlines: true) == text.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(text.dropFirst(0).trimmedSpace() == text.trimmingCharacters(in: .whitespaces))
    }

    /// Drill reports and the CLI print seconds with `general`, which must read as `%g` would print them.
    @Test(arguments: [
        0, 1, 2.5, 10, 30, 0.125, 0.5, 1.25, 3.75, 99.5, 600, 123_456, 12_345.678, 0.001, 0.0123, -2.5,
        999_999.4, 0.000_15, 86_400.375,
    ])
    func generalPrintsWhatPercentGPrints(_ v: Double) {
        #expect(DurationText.general(v) == String(format: "%g", v))
    }

    @Test func fixedOutsideTheNumbers() {
        #expect(DurationText.fixed(.nan, places: 2) == "nan")
        #expect(DurationText.fixed(-.infinity, places: 2) == "-inf")
        #expect(DurationText.fixed(3e20, places: 2) == "3e+20")
        #expect(DurationText.fixed(-1e15, places: 2) == (-1e15).description)
        #expect(DurationText.fixed(-0.0, places: 1) == "-0.0")
        #expect(DurationText.fixed(1e15, places: 0) == "1000000000000000")
        #expect(DurationText.fixed(1.25, places: 42) == "1.250000000")
    }
}
