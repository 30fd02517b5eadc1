import Config
import Fleet
import Foundation
import Logging
import TestSupport
import Testing

/// bench/fleet-writes.sh: etcd writes per second for 1,000 targets, three nodes, in steady state and while
/// one target flaps. Counts both sides: the nodes' own write counters and etcd's (its /metrics:
/// `etcd_mvcc_put_total`, `etcd_mvcc_delete_total`, and lease keep-alives from `grpc_server_handled_total`).
/// Not a test: runs only with FLEET_BENCH=1 and prints one JSON line.
@Suite(
    .enabled(
        if: ProcessInfo.processInfo.environment["FLEET_BENCH"] == "1" && EtcdCluster.binary != nil,
        "a benchmark: FLEET_BENCH=1 bench/fleet-writes.sh"
    )
)
struct FleetWritesBench {
    static let targets = Int(ProcessInfo.processInfo.environment["FLEET_TARGETS"] ?? "") ?? 1000
    static let seconds = Double(ProcessInfo.processInfo.environment["FLEET_SECONDS"] ?? "") ?? 30

    func etcdCounters(_ etcd: EtcdCluster) throws -> [String: Double] {
        let text = try httpRequest("127.0.0.1", etcd.members[0].clientPort, "GET", "/metrics").body
        var out: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            let parts = line.split(separator: " ")
            guard parts.count == 2, let v = Double(parts[1]) else { continue }
            let name = String(parts[0])
            if name == "etcd_mvcc_put_total" || name == "etcd_mvcc_delete_total" { out[name] = v }
            if name.hasPrefix("grpc_server_handled_total"), name.contains("grpc_method=\"LeaseKeepAlive\"") {
                out["keepalive", default: 0] += v
            }
            if name.hasPrefix("grpc_server_msg_received_total"), name.contains("grpc_method=\"LeaseKeepAlive\"") {
                out["keepalive_msgs", default: 0] += v
            }
        }
        return out
    }

    @Test func writesPerSecond() async throws {
        let etcd = try EtcdCluster()
        let ids = (0..<Self.targets).map { "pool\($0 / 100)/10.0.\($0 / 250).\($0 % 250 + 1)" }
        var nodes: [FleetNode] = []
        var tasks: [Task<Void, Never>] = []
        for n in ["a", "b", "c"] {
            var s = FleetSettings(name: "bench", endpoints: etcd.endpoints, node: n, vantage: "site-\(n)")
            s.leaseTTL = 10
            let f = try FleetNode(settings: s, options: FleetNode.options(s), cacheFile: nil, logger: Logger(label: n))
            {}
            f.report(Dictionary(uniqueKeysWithValues: ids.map { ($0, LocalVerdict(up: true, reason: "up")) }))
            nodes.append(f)
            tasks.append(Task { await f.run() })
        }
        let start = Date()
        while nodes.contains(where: { ($0.status.writes["observation"] ?? 0) < Self.targets })
            && Date().timeIntervalSince(start) < 120
        {
            try await Task.sleep(for: .milliseconds(100))
        }
        let startup = Date().timeIntervalSince(start)
        // Let the watches catch up, then measure.
        try await Task.sleep(for: .seconds(2))
        func total(_ k: String) -> Int { nodes.map { $0.status.writes[k] ?? 0 }.reduce(0, +) }
        func window(flap: Bool) async throws -> (ours: Double, puts: Double, keepalives: Double) {
            let e0 = try etcdCounters(etcd)
            let o0 = total("observation") + total("keepalive") + total("member") + total("lease")
            let t0 = Date()
            var down = false
            while Date().timeIntervalSince(t0) < Self.seconds {
                if flap {
                    // One target flapping on one node at the fastest rate rise/fall 2 at a 1 s interval allows: a change every 2 s.
                    down.toggle()
                    var v = Dictionary(uniqueKeysWithValues: ids.map { ($0, LocalVerdict(up: true, reason: "up")) })
                    v[ids[0]] = LocalVerdict(up: !down, reason: down ? "timeout" : "up")
                    nodes[0].report(v)
                }
                try await Task.sleep(for: .seconds(2))
            }
            let dt = Date().timeIntervalSince(t0)
            let e1 = try etcdCounters(etcd)
            let o1 = total("observation") + total("keepalive") + total("member") + total("lease")
            let puts =
                (e1["etcd_mvcc_put_total"] ?? 0) - (e0["etcd_mvcc_put_total"] ?? 0)
                + (e1["etcd_mvcc_delete_total"] ?? 0) - (e0["etcd_mvcc_delete_total"] ?? 0)
            let ka = (e1["keepalive_msgs"] ?? 0) - (e0["keepalive_msgs"] ?? 0)
            return (Double(o1 - o0) / dt, puts / dt, ka / dt)
        }
        print("after startup: \(nodes.map(\.status.writes))")
        let steady = try await window(flap: false)
        print("after steady: \(nodes.map(\.status.writes)) \(nodes.map { $0.status.lastError ?? "-" })")
        let flapping = try await window(flap: true)
        for t in tasks { t.cancel() }
        for t in tasks { await t.value }
        let json = String(
            format: "{\"targets\": %d, \"nodes\": 3, \"startup_s\": %.1f, \"steady_requests_per_s\": %.2f, "
                + "\"steady_etcd_puts_per_s\": %.2f, \"steady_etcd_keepalives_per_s\": %.2f, "
                + "\"flapping_requests_per_s\": %.2f, \"flapping_etcd_puts_per_s\": %.2f, \"window_s\": %.0f}",
            Self.targets,
            startup,
            steady.ours,
            steady.puts,
            steady.keepalives,
            flapping.ours,
            flapping.puts,
            Self.seconds
        )
        print(json)
        #expect(steady.puts < 1, "steady state writes almost nothing")
    }
}
