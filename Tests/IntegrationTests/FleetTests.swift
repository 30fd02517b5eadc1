import Foundation
import TestSupport
import Testing

/// Real gtmd processes in a fleet through a real etcd on loopback: each node has its own config, state
/// file and control port; "a site that lost its path to the primary" is a node whose check of the primary
/// goes to a port where nothing listens (same target, different vantage).
final class FleetLab {
    let etcd: EtcdCluster
    let net: String
    let port: Int
    let deadPort: Int
    let primary: HealthBackend
    let standby: HealthBackend
    let dir: URL
    var nodes: [String: GtmdServer] = [:]
    let token = "fleet-test-token"

    init(etcdMembers: Int = 1) throws {
        etcd = try EtcdCluster(size: etcdMembers)
        net = LoopbackNet.fresh()
        port = try LoopbackNet.freePort(on: ["\(net)11", "\(net)12"])
        deadPort = try LoopbackNet.freePort(on: ["\(net)11", "\(net)12"])
        primary = try HealthBackend(address: "\(net)11", port: port)
        standby = try HealthBackend(address: "\(net)12", port: port)
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("gtmd-fleet-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try token.write(toFile: dir.appendingPathComponent("token").path, atomically: true, encoding: .utf8)
    }

    /// Writes node `name`'s config; `isolated`: its check of the primary cannot reach it.
    func config(_ name: String, isolated: Bool = false, onStoreLoss: String = "local") throws -> String {
        let path = dir.appendingPathComponent("\(name).yaml").path
        try """
        server:
          listen: ["127.0.0.1:0"]
        zones:
          - origin: lab.example
            file: \(Repo.root.appendingPathComponent("zones/lab.example.zone").path)
        control:
          token_file: \(dir.appendingPathComponent("token").path)
        checks:
          primary: { type: http, port: \(isolated ? deadPort : port), path: /healthz, interval: 500ms, timeout: 500ms, fall: 2, rise: 2 }
          standby: { type: http, port: \(port), path: /healthz, interval: 500ms, timeout: 500ms, fall: 2, rise: 2 }
        pools:
          primary: { checks: [primary], members: [\(primary.address)] }
          standby: { checks: [standby], members: [\(standby.address)] }
        services:
          www.lab.example: { policy: failover, pools: [primary, standby], ttl: 30, degraded_ttl: 5 }
        fleet:
          name: test
          vantage: site-\(name)
          quorum: majority
          on_store_loss: \(onStoreLoss)
          lease_ttl: 3s
          etcd:
            endpoints: [\(etcd.endpoints.joined(separator: ", "))]
            request_timeout: 500ms
        """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @discardableResult
    func start(_ name: String, isolated: Bool = false, onStoreLoss: String = "local") throws -> GtmdServer {
        let cfg = try config(name, isolated: isolated, onStoreLoss: onStoreLoss)
        let s = try GtmdServer([
            "--config", cfg, "--node", name,
            "--state-file", dir.appendingPathComponent("\(name)-state.json").path,
        ])
        nodes[name] = s
        return s
    }

    func answer(_ name: String) throws -> [String] {
        try dig("www.lab.example", "A", port: nodes[name]!.port).answerData
    }

    func status(_ name: String) throws -> [String: Any] {
        let r = try nodes[name]!.control("GET", "/status")
        return (try JSONSerialization.jsonObject(with: Data(r.body.utf8)) as? [String: Any]) ?? [:]
    }

    func fleet(_ name: String) throws -> [String: Any] { try status(name)["fleet"] as? [String: Any] ?? [:] }

    func members(_ name: String) throws -> [String] {
        ((try fleet(name)["members"] as? [[String: Any]]) ?? []).compactMap { $0["node"] as? String }.sorted()
    }

    func override(_ name: String, _ body: String) throws -> HTTPResponse {
        try nodes[name]!.control("POST", "/v1/overrides", headers: ["Authorization": "Bearer \(token)"], body: body)
    }

    /// Polls until every named node answers `addresses`; returns when each got there (seconds from the call).
    @discardableResult
    func waitAll(_ names: [String], answer addresses: [String], within bound: Double) throws -> [String: Double] {
        let start = Date()
        var at: [String: Double] = [:]
        try waitFor(
            "\(names) answer \(addresses)\n"
                + names.map { "\($0): \(nodes[$0]!.log.suffix(3000))" }.joined(separator: "\n"),
            timeout: bound,
            interval: 0.02
        ) {
            for n in names where at[n] == nil {
                if try answer(n) == addresses { at[n] = Date().timeIntervalSince(start) }
            }
            return at.count == names.count
        }
        return at
    }

    deinit {
        for s in nodes.values { s.stop() }
        etcd.stop()
    }
}

@Suite(
    .serialized,
    .enabled(if: EtcdCluster.binary != nil, "etcd is not installed (scripts/deps.sh installs etcd-server)")
)
struct FleetProcesses {
    /// One isolated site does not fail the fleet over; the primary down for everyone switches every node.
    /// The console's fleet view in headless Chromium against one real node and one real etcd: member, vantage,
    /// the vantage's verdict per target, quorum, mode, store health, and the store mode as a `fleet` event.
    @Test func consoleShowsTheFleet() throws {
        let lab = try FleetLab()
        let node = try lab.start("a")
        try waitFor("a in the fleet", timeout: 15) { try lab.members("a") == ["a"] }
        let vantage = try #require(try lab.fleet("a")["vantage"] as? String)
        let artifacts = Repo.root.appendingPathComponent(".build/artifacts")
        try FileManager.default.createDirectory(at: artifacts, withIntermediateDirectories: true)
        let shot = artifacts.appendingPathComponent("console-fleet.png").path
        try? FileManager.default.removeItem(atPath: shot)
        let r = try run(
            "/usr/bin/env",
            [
                "python3", Repo.root.appendingPathComponent("Tests/tools/console_fleet.py").path,
                "--url", "http://127.0.0.1:\(node.controlPort!)/", "--node", "a", "--vantage", vantage,
                "--screenshot", shot,
            ],
            timeout: 120
        )
        #expect(r.status == 0, "stdout:\n\(r.stdout)\nstderr:\n\(r.stderr)\nlog:\n\(node.log.suffix(3000))")
        #expect(r.stdout.contains("RESULT"))
        #expect(FileManager.default.fileExists(atPath: shot), "the screenshot is kept as an artifact")
        // The same event through the API with the strict kind filter.
        let events = try node.control("GET", "/v1/events?kind=fleet")
        let list = (try JSONSerialization.jsonObject(with: Data(events.body.utf8)) as? [String: Any])?["events"]
        let kinds = (list as? [[String: Any]] ?? []).compactMap { $0["kind"] as? String }
        #expect(events.status == 200 && !kinds.isEmpty && kinds.allSatisfy { $0 == "fleet" }, "\(events.body)")
    }

    @Test func oneDecisionForTheFleet() throws {
        let lab = try FleetLab()
        try lab.start("b")
        try lab.start("c")
        try waitFor("b and c in the fleet", timeout: 15) { try lab.members("b") == ["b", "c"] }
        // a joins an established fleet (a node starting alone has only its own vantage to go by).
        try lab.start("a", isolated: true)
        let all = ["a", "b", "c"]
        try waitFor("three members", timeout: 15) { try lab.members("b") == all }
        // a's own probes see the primary down; with quorum majority it still answers the primary.
        try waitFor("a's own probe sees the primary down", timeout: 10) {
            let targets = try lab.fleet("a")["targets"] as? [[String: Any]] ?? []
            return targets.contains {
                ($0["target"] as? String)?.hasPrefix("primary/") == true && ($0["local"] as? Bool) == false
            }
        }
        for n in all { #expect(try lab.answer(n) == [lab.primary.address], "node \(n)") }
        #expect(!lab.nodes["a"]!.log.contains("failover switch"), "\(lab.nodes["a"]!.log)")
        // The primary goes down for everyone: every node switches.
        lab.primary.kill()
        let at = try lab.waitAll(all, answer: [lab.standby.address], within: 10)
        let skew = (at.values.max() ?? 0) - (at.values.min() ?? 0)
        print("fleet: switch times \(at)")
        if skew > 0.6 {
            for n in all {
                print(
                    "LOG \(n):\n"
                        + lab.nodes[n]!.log.split(separator: "\n").filter {
                            $0.contains("fleet") || $0.contains("switch") || $0.contains("health:")
                        }.suffix(25).joined(separator: "\n")
                )
            }
        }
        print(
            "fleet: all switched; switch skew between nodes \(String(format: "%.0f", skew * 1000)) ms (poll granularity ~20 ms per node)"
        )
        // The goal (under 1 s) is the lab's figure; here a single lost dig query (2 s timeout) under CI load would
        // read as skew, so the bound is looser.
        #expect(skew < 2.5)
        // /metrics has the fleet's series.
        let metrics = try lab.nodes["b"]!.control("GET", "/metrics").body
        #expect(metrics.contains("gtmd_fleet_store_connected 1"), "\(metrics)")
        #expect(
            metrics.contains("gtmd_fleet_vantage_up{target=\"primary/\(lab.primary.address)\",vantage=\"site-a\"} 0"),
            "\(metrics)"
        )
        #expect(metrics.contains("gtmd_fleet_writes_total{kind=\"observation\"}"), "\(metrics)")
        // gtmd status prints the fleet view.
        let cli = try run(GtmdServer.binary, ["status", "--control", "127.0.0.1:\(lab.nodes["b"]!.controlPort!)"])
        #expect(
            cli.stdout.contains("fleet test: node b at site-b, quorum majority, mode fleet"),
            "\(cli.stdout + cli.stderr)"
        )
        #expect(cli.stdout.contains("member a at site-a"), "\(cli.stdout)")
    }

    /// An override set on one node is answered by every node; its clearing too.
    @Test func sharedOverride() throws {
        let lab = try FleetLab()
        for n in ["a", "b", "c"] { try lab.start(n) }
        try lab.waitAll(["a", "b", "c"], answer: [lab.primary.address], within: 10)
        let set = Date()
        let r = try lab.override(
            "a",
            "{\"scope\":\"pool\",\"target\":\"primary\",\"action\":\"down\",\"note\":\"drill\"}"
        )
        #expect(r.status == 200, "\(r.body)")
        let at = try lab.waitAll(["a", "b", "c"], answer: [lab.standby.address], within: 5)
        print(
            "fleet: override on a answered by b in \(Int((at["b"]! + 0) * 1000)) ms, c in \(Int(at["c"]! * 1000)) ms (from \(set))"
        )
        // The goal (under 1 s) is the fleet lab's figure (lab/fleet.sh); dig polls on a starved CI machine only
        // bound it by waitAll's 5 s.
        #expect(
            try lab.etcd.keys(prefix: "/gtmd/test/overrides/").keys.sorted() == ["/gtmd/test/overrides/pool/primary"]
        )
        let del = try lab.nodes["c"]!.control(
            "DELETE",
            "/v1/overrides?scope=pool&target=primary",
            headers: ["Authorization": "Bearer \(lab.token)"]
        )
        #expect(del.status == 200, "\(del.body)")
        try lab.waitAll(["a", "b", "c"], answer: [lab.primary.address], within: 5)
        // Bad records under the prefix are left out, each with "key: what is wrong" (in /status and the log); the
        // answers do not change.
        func put(_ key: String, _ value: String) throws {
            _ = try lab.etcd.call(
                "/v3/kv/put",
                ["key": Data(key.utf8).base64EncodedString(), "value": Data(value.utf8).base64EncodedString()]
            )
        }
        try put(
            "/gtmd/test/overrides/pool/nosuch",
            "{\"scope\":\"pool\",\"target\":\"nosuch\",\"action\":\"down\",\"setAt\":\"2026-01-01T00:00:00Z\"}"
        )
        try put("/gtmd/test/members/x", "not json")
        try put("/gtmd/test/stray", "1")
        let expected = [
            "/gtmd/test/members/x: not a member record",
            "/gtmd/test/overrides/pool/nosuch: no pool 'nosuch' (pools: primary, standby)",
            "/gtmd/test/stray: not a key of the fleet's layout",
        ]
        try waitFor("b lists the bad records", timeout: 10) {
            let problems = (try lab.fleet("b")["problems"] as? [String]) ?? []
            return expected.allSatisfy { e in problems.contains { $0.hasPrefix(e) } }
        }
        #expect(
            lab.nodes["b"]!.log.contains(
                "fleet: shared override left out problem=\"/gtmd/test/overrides/pool/nosuch: no pool"
            ),
            "\(lab.nodes["b"]!.log)"
        )
        #expect(
            lab.nodes["b"]!.log.contains(
                "fleet: record left out fleet.node=b problem=\"/gtmd/test/members/x: not a member record"
            ),
            "\(lab.nodes["b"]!.log)"
        )
        for n in ["a", "b", "c"] { #expect(try lab.answer(n) == [lab.primary.address]) }
        let metrics = try lab.nodes["c"]!.control("GET", "/metrics").body
        #expect(metrics.contains("gtmd_fleet_records_left_out 3"), "\(metrics)")
        // An offline edit of a fleet node's state file would be replaced by the fleet's overrides: refused.
        let offline = try run(
            GtmdServer.binary,
            [
                "override", "pool", "primary", "down", "--config", lab.dir.appendingPathComponent("a.yaml").path,
                "--state-file", lab.dir.appendingPathComponent("offline-state.json").path,
            ]
        )
        #expect(offline.status == 1 && offline.stderr.contains("is a node of fleet 'test'"), "\(offline.stderr)")
    }

    /// etcd gone: nodes keep answering, report local mode, and come back to the fleet without a flap;
    /// a node restarted meanwhile serves the cached shared override.
    @Test func storeLossAndReturn() throws {
        let lab = try FleetLab()
        for n in ["a", "b"] { try lab.start(n) }
        try lab.waitAll(["a", "b"], answer: [lab.primary.address], within: 10)
        #expect(try lab.override("a", "{\"scope\":\"pool\",\"target\":\"primary\",\"action\":\"down\"}").status == 200)
        try lab.waitAll(["a", "b"], answer: [lab.standby.address], within: 5)
        let switchesBefore = lab.nodes["a"]!.log.components(separatedBy: "failover switch").count
        lab.etcd.kill(0)
        try waitFor("b reports the store lost", timeout: 10) {
            let f = try lab.fleet("b")
            return (f["mode"] as? String) == "local" && ((f["store"] as? [String: Any])?["connected"] as? Bool) == false
        }
        #expect(lab.nodes["b"]!.log.contains("fleet: store unreachable; still answering"))
        // Still answering, with the shared override.
        for _ in 0..<10 { #expect(try lab.answer("b") == [lab.standby.address]) }
        // A set while the store is down is refused (it would not reach the fleet).
        #expect(try lab.override("b", "{\"scope\":\"pool\",\"target\":\"standby\",\"action\":\"down\"}").status == 503)
        // b restarts without etcd: it serves the override from its state file.
        lab.nodes["b"]!.stop()
        try lab.start("b")
        #expect(try lab.answer("b") == [lab.standby.address])
        try lab.etcd.start(0)
        try waitFor("b back in the fleet", timeout: 20) { (try lab.fleet("b")["mode"] as? String) == "fleet" }
        try waitFor("a back in the fleet", timeout: 20) { (try lab.fleet("a")["mode"] as? String) == "fleet" }
        #expect(try lab.answer("a") == [lab.standby.address])
        #expect(try lab.answer("b") == [lab.standby.address])
        #expect(
            lab.nodes["a"]!.log.components(separatedBy: "failover switch").count == switchesBefore,
            "no flap: \(lab.nodes["a"]!.log)"
        )
    }

    /// A node killed without a goodbye: its lease expires and its observations leave the quorum.
    @Test func deadNodeLeavesTheQuorum() throws {
        let lab = try FleetLab()
        try lab.start("a", isolated: true)
        try lab.start("b", isolated: true)
        try lab.start("c")
        // Two of three vantages see the primary down: the fleet is on the standby.
        try lab.waitAll(["a", "b", "c"], answer: [lab.standby.address], within: 15)
        lab.nodes["b"]!.signal(SIGKILL)
        let killed = Date()
        try waitFor("b evicted", timeout: 15) { try lab.members("c") == ["a", "c"] }
        let evicted = Date().timeIntervalSince(killed)
        print("fleet: dead node evicted after \(String(format: "%.1f", evicted)) s (lease_ttl 3 s)")
        #expect(evicted < 15, "a 3 s lease")
        // 1 of 2 vantages see it down: not a majority; the fleet goes back to the primary.
        try lab.waitAll(["a", "c"], answer: [lab.primary.address], within: 10)
    }
}
