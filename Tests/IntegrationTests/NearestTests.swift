import Foundation
import TestSupport
import Testing

/// Two regions on fresh loopback addresses (backends at .11 and .12), client rules for .2/.3 and ECS
/// networks, a home-made .mmdb, and the real gtmd answering dig.
final class NearestLab {
    let net: String
    let a: HealthBackend
    let b: HealthBackend
    let dir: URL
    let config: String
    let server: GtmdServer
    var addrA: String { "\(net)11" }
    var addrB: String { "\(net)12" }

    /// `dnssec`: lab.example is served signed (`keys: auto`).
    init(dnssec: Bool = false) throws {
        let net = LoopbackNet.fresh()
        self.net = net
        let port = try LoopbackNet.freePort(on: ["\(net)11", "\(net)12"])
        a = try HealthBackend(address: "\(net)11", port: port)
        b = try HealthBackend(address: "\(net)12", port: port)
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("gtmd-near-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let mmdb = try makeMMDB([
            ("198.51.100.0/24", ["country": ["iso_code": "IE"], "location": ["latitude": 50.0, "longitude": 8.0]]),
            ("203.0.113.0/24", ["location": ["latitude": 49.0, "longitude": 9.0]]),
        ])
        config = dir.appendingPathComponent("gtmd.yaml").path
        try """
        server:
          listen: ["127.0.0.1:0"]
        zones:
          - origin: lab.example
            file: \(Repo.root.appendingPathComponent("zones/lab.example.zone").path)\(dnssec ? "\n    dnssec: { keys: auto }" : "")
        checks:
          healthz: { type: http, port: \(port), path: /healthz, interval: 1s, timeout: 1s, fall: 2, rise: 2 }
        pools:
          pa: { region: region-a, checks: [healthz], members: [\(net)11] }
          pb: { region: region-b, checks: [healthz], members: [\(net)12] }
        services:
          near.lab.example: { policy: nearest, pools: [pa, pb], ttl: 30, degraded_ttl: 5 }
          blind.lab.example: { policy: nearest, pools: [pa, pb], ecs: ignore }
          www.lab.example: { policy: failover, pools: [pa, pb] }
        regions:
          region-a: { latitude: 50.11, longitude: 8.68 }
          region-b: { latitude: 53.35, longitude: -6.26 }
        geo:
          default_region: region-a
          networks:
            region-a: [\(net)2/32, 10.1.0.0/16, 10.2.128.0/17, "2001:db8:a::/48"]
            region-b: [\(net)3/32, 10.2.0.0/16, "2001:db8:b::/48"]
          database: \(mmdb)
          countries: { region-b: [IE] }
        """.write(toFile: config, atomically: true, encoding: .utf8)
        server = try GtmdServer(["--config", config])
    }

    func ask(_ name: String = "near.lab.example", from source: String? = nil, subnet: String? = nil) throws -> DigResult
    {
        var extra: [String] = []
        if let source { extra += ["-b", source] }
        if let subnet { extra += ["+subnet=\(subnet)"] }
        return try dig(name, "A", port: server.port, extra)
    }

    deinit { server.stop() }
}

/// The `; CLIENT-SUBNET: 10.2.3.0/24/16` line of dig's OPT section as (source prefix, scope).
func ecsEcho(_ r: DigResult) -> (network: String, source: Int, scope: Int)? {
    guard let line = r.opt.first(where: { $0.contains("CLIENT-SUBNET") }) else { return nil }
    let parts = line.split(separator: " ").last!.split(separator: "/")
    guard parts.count == 3, let s = Int(parts[1]), let sc = Int(parts[2]) else { return nil }
    return (String(parts[0]), s, sc)
}

@Suite(.serialized) struct NearestRegion {
    @Test func sourceAddressPicksTheRegion() throws {
        let lab = try NearestLab()
        try waitFor("first answers", timeout: 10) { try lab.ask().answerData == [lab.addrA] }
        #expect(try lab.ask(from: "\(lab.net)2").answerData == [lab.addrA])
        #expect(try lab.ask(from: "\(lab.net)3").answerData == [lab.addrB])
        // Nobody's rule: the default region.
        #expect(try lab.ask(from: "\(lab.net)4").answerData == [lab.addrA])
        // Every region healthy, answers on the first pool: the healthy TTL.
        #expect(try lab.ask(from: "\(lab.net)3").answer.first?.contains("\t30\t") == true)
        // No ECS in the query: none in the answer.
        #expect(ecsEcho(try lab.ask(from: "\(lab.net)3")) == nil)
    }

    @Test func ecsPicksTheRegionWithTheRuleScope() throws {
        let lab = try NearestLab()
        let cases: [(subnet: String, answer: String, scope: Int)] = [
            // 10.2/16 holds the more specific 10.2.128/17: 16 bits cannot tell them apart, scope 17 says so
            // (RFC 7871 §7.2.1: a scope longer than the source asks for more bits).
            ("10.2.0.0/16", lab.addrB, 17),
            // 10.2/16 holds the more specific 10.2.128/17 (region-a): the region-b answer only holds for 10.2.0.0/17.
            ("10.2.3.0/24", lab.addrB, 17),
            ("10.1.77.0/24", lab.addrA, 16),
            // Inside 10.2/16 but also inside the more specific 10.2.128/17: that rule, scope 17.
            ("10.2.200.0/24", lab.addrA, 17),
            // A /32 is capped to /24 before use: the echo keeps the client's /32, scope from the rule.
            ("10.2.3.4/32", lab.addrB, 17),
            ("2001:db8:b:100::/56", lab.addrB, 48),
            ("2001:db8:a::/48", lab.addrA, 48),
            // The database: by country (IE → region-b), and by coordinates (nearest: region-a).
            ("198.51.100.0/24", lab.addrB, 24),
            ("203.0.113.0/24", lab.addrA, 24),
        ]
        for c in cases {
            let r = try lab.ask(subnet: c.subnet)
            #expect(r.answerData == [c.answer], "\(c.subnet): \(r)")
            let e = ecsEcho(r)
            #expect(e?.scope == c.scope, "\(c.subnet): \(r.opt)")
            #expect(e.map { "\($0.network)/\($0.source)" } == c.subnet, "\(c.subnet): \(r.opt)")
        }
        // The source address says region-b, the ECS says region-a: ECS wins.
        #expect(try lab.ask(from: "\(lab.net)3", subnet: "10.1.0.0/16").answerData == [lab.addrA])
        // ECS source prefix 0: the client asked not to be located by it: the source address decides, scope 0.
        let zero = try lab.ask(from: "\(lab.net)3", subnet: "0.0.0.0/0")
        #expect(zero.answerData == [lab.addrB] && ecsEcho(zero)?.scope == 0)
        // A service that ignores ECS: located by the source, scope 0 (the answer holds for the whole resolver).
        let blind = try lab.ask("blind.lab.example", from: "\(lab.net)2", subnet: "10.2.3.0/24")
        #expect(blind.answerData == [lab.addrA] && ecsEcho(blind)?.scope == 0, "\(blind)")
        // Answers that do not depend on the client: scope 0.
        let www = try lab.ask("www.lab.example", subnet: "10.2.3.0/24")
        #expect(www.answerData == [lab.addrA] && ecsEcho(www)?.scope == 0)
        #expect(ecsEcho(try lab.ask("chain.lab.example", subnet: "10.2.3.0/24"))?.scope == 0)
        // (ECS with bits beyond the source prefix: FORMERR, in MalformedTests.)
    }

    /// The scope of an answer never covers an address the rules send elsewhere: a /32 source is used
    /// beyond the /24 cap as far as a /32 rule needs (issue 14).
    @Test func ecsScopeCoversOnlyTheRulesRegion() throws {
        let lab = try NearestLab()
        try waitFor("first answers", timeout: 10) { try lab.ask().answerData == [lab.addrA] }
        let cases: [(subnet: String, answer: String, scope: Int)] = [
            ("\(lab.net)3/32", lab.addrB, 32),
            ("\(lab.net)2/32", lab.addrA, 32),
            // Nobody's rule, next to the /32 rules: the default region, for the /30 around it only.
            ("\(lab.net)5/32", lab.addrA, 30),
            // A /24 source cannot tell the /32 rules apart: scope 25 asks for more bits.
            ("\(lab.net)0/24", lab.addrA, 25),
        ]
        for c in cases {
            let r = try lab.ask(subnet: c.subnet)
            #expect(r.answerData == [c.answer], "\(c.subnet): \(r)")
            #expect(ecsEcho(r)?.scope == c.scope, "\(c.subnet): \(r.opt)")
        }
    }

    /// Through a real unbound with the subnet module (ECS with the client's whole address, /32): clients
    /// .2 and .3 each get their own region, in either order, with the resolver's cache warm.
    @Test(arguments: [false, true])
    func ecsThroughUnbound(_ bFirst: Bool) throws {
        guard UnboundResolver.available else {
            Issue.record("unbound is not installed (scripts/deps.sh)")
            return
        }
        let lab = try NearestLab()
        try waitFor("first answers", timeout: 10) {
            try lab.ask(from: "\(lab.net)3").answerData == [lab.addrB]
                && lab.ask(from: "\(lab.net)2").answerData == [lab.addrA]
        }
        let resolver = try UnboundResolver(zone: "lab.example", stub: "127.0.0.1", stubPort: lab.server.port)
        func viaResolver(_ client: String) throws -> [String] {
            try dig("near.lab.example", "A", server: resolver.address, port: resolver.port, ["-b", client, "+rec"])
                .answerData
        }
        let clients =
            bFirst
            ? [("\(lab.net)3", lab.addrB), ("\(lab.net)2", lab.addrA)]
            : [("\(lab.net)2", lab.addrA), ("\(lab.net)3", lab.addrB)]
        for round in 0..<3 {
            for (client, expected) in clients {
                #expect(try viaResolver(client) == [expected], "round \(round), client \(client)\n\(resolver.log)")
            }
        }
        // A client nobody's rule names gets the default region, and the others keep theirs.
        #expect(try viaResolver("\(lab.net)4") == [lab.addrA])
        #expect(try viaResolver("\(lab.net)3") == [lab.addrB])
    }

    /// Signed: through a validating unbound (trust anchor = our DS) with ECS, each client gets its region's
    /// answer as SECURE, and after its region fails the other region's, SECURE too, never SERVFAIL.
    @Test func nearestAnswersAreSecureThroughAValidatingUnbound() throws {
        guard UnboundResolver.available else {
            Issue.record("unbound is not installed (scripts/deps.sh)")
            return
        }
        let lab = try NearestLab(dnssec: true)
        try waitFor("first answers", timeout: 10) {
            try lab.ask(from: "\(lab.net)3").answerData == [lab.addrB]
                && lab.ask(from: "\(lab.net)2").answerData == [lab.addrA]
        }
        let state = ((lab.server.readyFile as NSString).deletingLastPathComponent as NSString)
            .appendingPathComponent("state.json")
        let ds = try run(GtmdServer.binary, ["dnssec", "ds", "--config", lab.config, "--state-file", state])
        #expect(ds.status == 0, "\(ds.stderr)")
        let resolver = try UnboundResolver(
            zone: "lab.example",
            stub: "127.0.0.1",
            stubPort: lab.server.port,
            trustAnchor: ds.stdout.trimmingCharacters(in: .whitespacesAndNewlines),
            serverOptions: ["cache-max-ttl: 1", "cache-max-negative-ttl: 1"]
        )
        var statuses: Set<String> = []
        func secure(_ client: String) throws -> [String]? {
            let r = try dig(
                "near.lab.example",
                "A",
                server: resolver.address,
                port: resolver.port,
                ["-b", client, "+rec", "+dnssec"]
            )
            statuses.insert(r.status)
            guard r.flags.contains("ad") else { return nil }
            return zip(r.answerTypes, r.answerData).filter { $0.0 == "A" }.map(\.1)
        }
        #expect(try secure("\(lab.net)2") == [lab.addrA], "\(resolver.log)")
        #expect(try secure("\(lab.net)3") == [lab.addrB], "\(resolver.log)")
        lab.b.kill()
        try waitFor("region-b's client on region-a, SECURE\n\(resolver.log)", timeout: 15, interval: 0.1) {
            try secure("\(lab.net)3") == [lab.addrA]
        }
        #expect(try secure("\(lab.net)2") == [lab.addrA])
        #expect(statuses == ["NOERROR"], "\(statuses)\n\(resolver.log)")
    }

    @Test func locateCommandExplains() throws {
        let lab = try NearestLab()
        let r = try run(GtmdServer.binary, ["locate", "--config", lab.config, "127.0.0.1", "--ecs", "10.2.3.0/24"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("network rule 10.2.0.0/16 -> region region-b, ECS scope /17"), "\(r.stdout)")
        #expect(
            r.stdout.contains("pools in order (distance):\n    pb (region region-b, 0 km): available"),
            "\(r.stdout)"
        )
        #expect(r.stdout.contains("answer now: \(lab.addrB) ttl 30"), "\(r.stdout)")
        let db = try run(GtmdServer.binary, ["locate", "--config", lab.config, "198.51.100.9", "--no-probe"])
        #expect(db.stdout.contains("country IE (network /24) -> region region-b"), "\(db.stdout)")
        lab.b.kill()
        let down = try run(GtmdServer.binary, ["locate", "--config", lab.config, "\(lab.net)3"])
        #expect(down.stdout.contains("pb (region region-b, 0 km): unavailable"), "\(down.stdout)")
        #expect(down.stdout.contains("answer now: \(lab.addrA) ttl 5"), "\(down.stdout)")
        let bad = try run(GtmdServer.binary, ["locate", "--config", lab.config, "10.0.0.1", "--ecs", "10.2.3.4/24"])
        #expect(bad.status == 2 && bad.stdout.contains("bits set beyond /24"), "\(bad.stdout)")
    }

    @Test func explainSaysWhereTheClientIs() throws {
        let lab = try NearestLab()
        lab.b.kill()
        try waitFor("region-b clients moved", timeout: 6, interval: 0.1) {
            try lab.ask(from: "\(lab.net)3").answerData == [lab.addrA]
        }
        let r = try lab.server.control("GET", "/explain?name=near.lab.example&type=A&client=127.0.0.1&ecs=10.2.3.0/24")
        #expect(r.status == 200, "\(r.body)")
        let e = try #require(try JSONSerialization.jsonObject(with: Data(r.body.utf8)) as? [String: Any])
        let loc = try #require(e["location"] as? [String: Any])
        #expect(loc["rule"] as? String == "network rule 10.2.0.0/16", "\(loc)")
        #expect(loc["client_region"] as? String == "region-b" || loc["clientRegion"] as? String == "region-b", "\(loc)")
        #expect(
            (loc["detail"] as? String)?.contains("by ECS 10.2.3.0/24; ECS scope /17; pool order by distance") == true,
            "\(loc)"
        )
        let pools = (e["pools"] as? [[String: Any]] ?? []).map {
            ($0["name"] as? String ?? "", $0["available"] as? Bool, $0["chosen"] as? Bool)
        }
        #expect(pools.map(\.0) == ["pb", "pa"] && pools[0].1 == false && pools[1].2 == true, "\(pools)")
        #expect(e["answer"] as? [String] == ["A \(lab.addrA)"] && e["ttl"] as? Int == 5, "\(e)")
        #expect((e["reason"] as? String)?.contains("client region region-b") == true, "\(e)")
        let metrics = try lab.server.control("GET", "/metrics").body
        #expect(
            metrics.contains(#"gtmd_service_region_pool{service="near.lab.example.",region="region-b",pool="pa"} 1"#)
                || metrics.contains(
                    #"gtmd_service_region_pool{pool="pa",region="region-b",service="near.lab.example."} 1"#
                ),
            "\(metrics)"
        )
        #expect(metrics.contains("gtmd_service_region_pool{") && !metrics.contains("127.0.0.1\""))
        // A region-a client keeps region-a; its TTL is the degraded one because its backup pool (pb) is down,
        // as with failover (any member of the service's pools down).
        let a = try #require(
            try JSONSerialization.jsonObject(
                with: Data(try lab.server.control("GET", "/explain?name=near.lab.example&client=\(lab.net)2").body.utf8)
            ) as? [String: Any]
        )
        #expect(a["answer"] as? [String] == ["A \(lab.addrA)"] && a["ttl"] as? Int == 5, "\(a)")
        #expect((a["ttl_reason"] as? String)?.contains("a member is down") == true, "\(a)")
    }
}
