import Config
import Fleet
import Foundation
import Logging
import Synchronization
import TestSupport
import Testing

/// Fleet nodes (in this process) against a real etcd: transitions-only writes, the shared decision,
/// shared overrides, store loss and return, a dead node's lease expiry, the local cache.
@Suite(
    .serialized,
    .enabled(if: EtcdCluster.binary != nil, "etcd is not installed (scripts/deps.sh installs etcd-server)")
)
struct FleetNodeTests {
    final class Node: Sendable {
        let fleet: FleetNode
        let task: Task<Void, Never>
        init(
            _ etcd: EtcdCluster,
            node: String,
            vantage: String? = nil,
            quorum: FleetQuorum = .majority,
            onStoreLoss: StoreLossMode = .local,
            cache: String? = nil,
            leaseTTL: Int = 3
        ) throws {
            var s = FleetSettings(name: "t", endpoints: etcd.endpoints, node: node, vantage: vantage)
            s.quorum = quorum
            s.onStoreLoss = onStoreLoss
            s.leaseTTL = leaseTTL
            s.requestTimeout = .milliseconds(500)
            let f = try FleetNode(
                settings: s,
                options: FleetNode.options(s),
                cacheFile: cache,
                logger: Logger(label: node)
            ) {}
            fleet = f
            task = Task { await f.run() }
        }
        func stop() async {
            task.cancel()
            await task.value
        }
    }

    /// Polls until `condition` holds; gives up after `timeout`, checking once more after it (a starved task
    /// must not fail a condition it never looked at).
    func eventually(
        _ what: String,
        timeout: Double = 30,
        detail: @autoclosure () -> String = "",
        _ condition: () throws -> Bool
    ) async throws {
        let start = Date()
        while Date().timeIntervalSince(start) < timeout {
            if try condition() { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        if try condition() { return }
        Issue.record("timed out: \(what) \(detail())")
        throw CancellationError()
    }

    let up = LocalVerdict(up: true, reason: "ok"), down = LocalVerdict(up: false, reason: "timeout")

    @Test func observationsAreWrittenOnTransitionsOnly() async throws {
        let etcd = try EtcdCluster()
        // A 10 s lease: on a starved machine a 3 s one can expire, and re-registering rewrites both verdicts.
        let a = try Node(etcd, node: "a", leaseTTL: 10)
        a.fleet.report(["p/1": up, "p/2": up])
        try await eventually("a connected and wrote both", detail: "\(a.fleet.status)") {
            a.fleet.status.writes["observation"] == 2
        }
        // The same verdicts again: nothing written.
        for _ in 0..<20 { a.fleet.report(["p/1": up, "p/2": up]) }
        a.fleet.report(["p/1": down, "p/2": up])
        try await eventually("the transition written", detail: "\(a.fleet.status)") {
            a.fleet.status.writes["observation"] == 3
        }
        let stored = try etcd.keys(prefix: "/gtmd/t/observations/a/")
        #expect(stored.count == 2)
        #expect(stored["/gtmd/t/observations/a/p/1"]?.contains("\"up\":false") == true)
        #expect(stored["/gtmd/t/observations/a/p/1"]?.contains("\"reason\":\"timeout\"") == true)
        #expect(try etcd.keys(prefix: "/gtmd/t/members/").keys.sorted() == ["/gtmd/t/members/a"])
        try await Task.sleep(for: .milliseconds(300))
        #expect(a.fleet.status.writes["observation"] == 3)
        await a.stop()
        // A stopped node revokes its lease: its keys leave at once.
        #expect(try etcd.keys(prefix: "/gtmd/t/").isEmpty)
    }

    @Test func threeVantagesShareOneDecision() async throws {
        let etcd = try EtcdCluster()
        let nodes = try ["a", "b", "c"].map { try Node(etcd, node: $0, vantage: "site-\($0)") }
        for n in nodes { n.fleet.report(["p/1": up]) }
        try await eventually("all see three members") { nodes.allSatisfy { $0.fleet.view.members.count == 3 } }
        // Site a alone loses its path: nobody switches (a's local verdict is down, the fleet's is up).
        nodes[0].fleet.report(["p/1": down])
        try await eventually("b sees a's observation") { nodes[1].fleet.view.observations["a"]?["p/1"]?.up == false }
        #expect(nodes[0].fleet.effectiveHealth(local: ["p/1": false]) == ["p/1": true])
        #expect(nodes[1].fleet.effectiveHealth(local: ["p/1": true]) == ["p/1": true])
        #expect(nodes[1].fleet.vantageVerdicts()["p/1"] == ["site-a": false, "site-b": true, "site-c": true])
        // A second site sees it down: the majority does, every node switches, including c whose probes pass.
        nodes[1].fleet.report(["p/1": down])
        let own = [false, false, true]
        try await eventually("every node decides down") {
            nodes.indices.allSatisfy { nodes[$0].fleet.effectiveHealth(local: ["p/1": own[$0]]) == ["p/1": false] }
        }
        for n in nodes { await n.stop() }
    }

    @Test func sharedOverrideReachesEveryNodeAndTheCache() async throws {
        let etcd = try EtcdCluster()
        let cache = etcd.folder + "/b.cache"
        let a = try Node(etcd, node: "a")
        let b = try Node(etcd, node: "b", cache: cache)
        try await eventually("both connected") { a.fleet.status.connected && b.fleet.status.connected }
        try await a.fleet.setOverride(id: "pool/primary", value: Data("{\"action\":\"down\"}".utf8))
        try await eventually("b has the override in its cache") {
            FleetCache(path: cache).load()?.overrides["pool/primary"] == Data("{\"action\":\"down\"}".utf8)
        }
        #expect(b.fleet.overrides["pool/primary"] != nil)
        #expect(
            try etcd.keys(prefix: "/gtmd/t/overrides/") == ["/gtmd/t/overrides/pool/primary": "{\"action\":\"down\"}"]
        )
        await b.stop()
        // b restarts while etcd is down: it still knows the override from its cache.
        etcd.kill(0)
        let b2 = try Node(etcd, node: "b", cache: cache)
        #expect(b2.fleet.overrides["pool/primary"] != nil)
        #expect(!b2.fleet.status.connected)
        await b2.stop()
        try etcd.start(0)
        try etcd.waitHealthy()
        #expect(try await a.fleet.clearOverride(id: "pool/primary"))
        await a.stop()
    }

    @Test(arguments: [StoreLossMode.local, .freeze])
    func storeLossAndReturn(_ mode: StoreLossMode) async throws {
        let etcd = try EtcdCluster()
        let a = try Node(etcd, node: "a", onStoreLoss: mode)
        let b = try Node(etcd, node: "b", onStoreLoss: mode)
        a.fleet.report(["p/1": down])
        b.fleet.report(["p/1": down])
        try await eventually("both connected, a sees b's verdict") {
            a.fleet.status.connected && b.fleet.status.connected && a.fleet.view.observations["b"]?["p/1"]?.up == false
        }
        #expect(a.fleet.effectiveHealth(local: ["p/1": false]) == ["p/1": false])
        etcd.kill(0)
        try await eventually("a notices the loss") { !a.fleet.status.connected }
        // a's probes now pass: local follows them, freeze keeps the last fleet verdict.
        let expected = mode == .local
        #expect(a.fleet.status.mode == (mode == .local ? .local : .frozen))
        #expect(a.fleet.effectiveHealth(local: ["p/1": true]) == ["p/1": expected])
        a.fleet.report(["p/1": up])
        try etcd.start(0)
        try await eventually("a reconnected", timeout: 20) { a.fleet.status.connected && a.fleet.status.mode == .fleet }
        #expect(a.fleet.status.storeLosses == 1)
        // Back with the fleet: a's new verdict is written; with a and b split 1:1 the majority is not reached.
        try await eventually("b sees a's new verdict") { b.fleet.view.observations["a"]?["p/1"]?.up == true }
        #expect(b.fleet.effectiveHealth(local: ["p/1": false]) == ["p/1": true])
        await a.stop()
        await b.stop()
    }

    @Test func deadNodesLeaseExpiresAndItsObservationsLeaveTheQuorum() async throws {
        let etcd = try EtcdCluster()
        let a = try Node(etcd, node: "a", leaseTTL: 2)
        a.fleet.report(["p/1": up])
        // A "dead" node: member and observation under a lease nobody keeps alive.
        let lease = try etcd.call("/v3/lease/grant", ["TTL": 2])["ID"] as! String
        func put(_ k: String, _ v: String) throws {
            _ = try etcd.call(
                "/v3/kv/put",
                [
                    "key": Data(k.utf8).base64EncodedString(), "value": Data(v.utf8).base64EncodedString(),
                    "lease": lease,
                ]
            )
        }
        try put("/gtmd/t/members/dead", "{\"vantage\":\"x\",\"started\":\"2026-01-01T00:00:00Z\",\"version\":\"\"}")
        try put(
            "/gtmd/t/observations/dead/p/1",
            "{\"up\":false,\"reason\":\"timeout\",\"at\":\"2026-01-01T00:00:00Z\",\"vantage\":\"x\"}"
        )
        try await eventually("a sees the dead node") { a.fleet.view.members["dead"] != nil }
        #expect(a.fleet.vantageVerdicts()["p/1"] == ["a": true, "x": false])
        let start = Date()
        try await eventually("the dead node's lease expired") {
            a.fleet.view.members["dead"] == nil && a.fleet.view.observations["dead"] == nil
        }
        #expect(Date().timeIntervalSince(start) < 10, "a 2 s lease")
        #expect(a.fleet.vantageVerdicts()["p/1"] == ["a": true])
        await a.stop()
    }

    /// A key under the prefix that is not of the layout, and keys outside it, are ignored.
    @Test func keysOutsideTheLayoutAreIgnored() {
        let k = FleetKeys(name: "t")
        #expect(k.parse("/gtmd/t/members/a") == .member(node: "a"))
        #expect(k.parse("/gtmd/t/observations/a/pool/10.0.0.1") == .observation(node: "a", target: "pool/10.0.0.1"))
        #expect(k.parse("/gtmd/t/overrides/pool/primary") == .override(id: "pool/primary"))
        for bad in [
            "/gtmd/u/members/a", "/gtmd/t/members/", "/gtmd/t/other/a", "/gtmd/t/observations/a", "/gtmd/tt/members/a",
            "/x",
        ] {
            #expect(k.parse(bad) == nil, "\(bad)")
        }
        var v = FleetView()
        let obs = Data("{\"up\":false,\"reason\":\"r\",\"at\":\"2026-01-01T00:00:00Z\",\"vantage\":\"v\"}".utf8)
        v.apply(
            keys: k,
            .init(kind: .put, kv: .init(key: "/gtmd/t/observations/ghost/p/1", value: obs, modRevision: 1, lease: 0))
        )
        // Observations of a node without a member key do not count.
        #expect(v.verdicts(quorum: .any).isEmpty)
        let changed = v.apply(
            keys: k,
            .init(kind: .put, kv: .init(key: "/gtmd/u/overrides/pool/x", value: Data(), modRevision: 2, lease: 0))
        )
        #expect(!changed)
    }
}
