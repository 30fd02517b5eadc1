import Foundation
import TestSupport
import Testing

/// The control API of the real binary: /metrics, /status, /explain, /v1/overrides, /healthz, /readyz.
@Suite struct ControlAPI {
    var failoverBound: Double { FailoverLab.fall * FailoverLab.interval + FailoverLab.timeout + 0.5 }

    func metrics(_ lab: FailoverLab) throws -> [String: Double] {
        let r = try lab.server.control("GET", "/metrics")
        #expect(r.status == 200)
        #expect(r.headers["content-type"]?.hasPrefix("text/plain") == true)
        return try parsePrometheus(r.body)
    }

    func json(_ r: HTTPResponse) throws -> [String: Any] {
        guard let o = try JSONSerialization.jsonObject(with: Data(r.body.utf8)) as? [String: Any] else {
            throw TestError.failed("not a JSON object: \(r.body)")
        }
        return o
    }

    @Test func metricsCountQueriesAndFailover() throws {
        let lab = try FailoverLab()
        let www = "service=\"www.lab.example.\""
        var m = try metrics(lab)
        #expect(m["gtmd_build_info{version=\"0.1.0\"}"] == 1)
        #expect(m["gtmd_ready"] == 1)
        #expect(m["gtmd_failover_switches_total{\(www)}"] == 0)
        #expect(m["gtmd_service_pool{\(www),pool=\"primary\"}"] == 1)
        #expect(m["gtmd_service_ttl_seconds{\(www)}"] == 30)
        #expect(m["gtmd_target_up{target=\"primary/\(lab.primaries[0].address)\"}"] == 1)
        #expect((m["gtmd_probes_total{target=\"primary/\(lab.primaries[0].address)\",check=\"healthz\"}"] ?? 0) >= 1)
        #expect(
            m["gtmd_probe_latency_seconds{target=\"primary/\(lab.primaries[0].address)\",check=\"healthz\"}"] != nil
        )
        let aUDP = "gtmd_dns_queries_total{protocol=\"udp\",type=\"A\"}"
        let txtTCP = "gtmd_dns_queries_total{protocol=\"tcp\",type=\"TXT\"}"
        let refused = "gtmd_dns_responses_total{protocol=\"udp\",rcode=\"REFUSED\"}"
        let (a0, t0, r0) = (m[aUDP] ?? -1, m[txtTCP] ?? -1, m[refused] ?? -1)
        #expect(a0 >= 0 && t0 >= 0 && r0 >= 0, "series present before any query")
        for _ in 0..<3 { _ = try lab.answer() }
        _ = try dig("big.lab.example", "TXT", port: lab.server.port, ["+tcp"])
        _ = try dig("example.com", "A", port: lab.server.port)
        // Client names never become labels.
        try waitFor("query counters move", timeout: 5) {
            let m = try metrics(lab)
            return m[aUDP] == a0 + 4 && m[txtTCP] == t0 + 1 && m[refused] == r0 + 1
        }
        #expect(try lab.server.control("GET", "/metrics").body.contains("example.com") == false)
        let generation = m["gtmd_answer_table_generation"] ?? 0

        lab.primaries[0].kill()
        try lab.waitForAnswer([lab.standby.address], within: failoverBound)
        m = try metrics(lab)
        #expect(m["gtmd_failover_switches_total{\(www)}"] == 1)
        #expect(m["gtmd_service_pool{\(www),pool=\"standby\"}"] == 1)
        #expect(m["gtmd_service_pool{\(www),pool=\"primary\"}"] == 0)
        #expect(m["gtmd_service_ttl_seconds{\(www)}"] == 5)
        #expect(m["gtmd_target_up{target=\"primary/\(lab.primaries[0].address)\"}"] == 0)
        #expect(
            (m["gtmd_health_state_changes_total{target=\"primary/\(lab.primaries[0].address)\",check=\"healthz\"}"] ?? 0)
                >= 2
        )
        #expect((m["gtmd_answer_table_generation"] ?? 0) > generation)
        // Time from the first failed probe to the switch: about (fall - 1) fast intervals (200 ms), under the bound.
        let detection = m["gtmd_failover_detection_seconds{\(www)}"] ?? -1
        #expect(detection > 0 && detection < failoverBound, "detection \(detection)")
        // The answer served before the switch had TTL 30: clients may keep the dead primary that long.
        #expect(m["gtmd_failover_stale_ttl_seconds{\(www)}"] == 30)
    }

    @Test func statusDuringAFailoverAndHealthEndpoints() throws {
        let lab = try FailoverLab()
        #expect(try lab.server.control("GET", "/healthz").status == 200)
        #expect(try lab.server.control("GET", "/readyz").status == 200)
        var s = try json(try lab.server.control("GET", "/status"))
        var svc = (s["services"] as? [[String: Any]])?.first
        #expect(svc?["pool"] as? String == "primary")
        #expect(svc?["answer"] as? [String] == [lab.primaries[0].address])

        lab.primaries[0].kill()
        // While the primary fails: the check counts failures before the switch.
        try waitFor("status shows the primary failing and the switch", timeout: failoverBound + 1) {
            s = try json(try lab.server.control("GET", "/status"))
            svc = (s["services"] as? [[String: Any]])?.first
            return svc?["pool"] as? String == "standby"
        }
        #expect(svc?["ttl"] as? Int == 5)
        #expect(svc?["degraded"] as? Bool == true)
        // The current reason is the latest decision's ("primary unavailable ..." at the switch, "standby is the
        // first available pool" on any later publish); the switch keeps its reason in last_failover.
        #expect(
            (svc?["reason"] as? String).map {
                $0.contains("primary unavailable") || $0.contains("standby is the first available pool")
            } == true,
            "\(svc ?? [:])"
        )
        #expect(svc?["switches"] as? Int == 1)
        let last = svc?["last_failover"] as? [String: Any]
        #expect(last?["from"] as? String == "primary" && last?["stale_ttl"] as? Int == 30, "\(last ?? [:])")
        #expect((last?["reason"] as? String)?.contains("primary unavailable") == true, "\(last ?? [:])")
        let pools = s["pools"] as? [[String: Any]] ?? []
        let primary = pools.first { $0["name"] as? String == "primary" }
        #expect(primary?["available"] as? Bool == false)
        let member = (primary?["members"] as? [[String: Any]])?.first
        #expect(member?["health"] as? String == "down" && member?["up"] as? Bool == false, "\(member ?? [:])")
        let check = (member?["checks"] as? [[String: Any]])?.first
        #expect(check?["last_ok"] as? Bool == false)
        #expect((check?["consecutive_failures"] as? Int ?? 0) >= 2 && check?["fall"] as? Int == 2, "\(check ?? [:])")
        #expect((check?["last_reason"] as? String)?.contains("refused") == true, "\(check ?? [:])")

        // The CLI reads the same API.
        let r = try run(GtmdServer.binary, ["status", "--control", "127.0.0.1:\(lab.server.controlPort!)"])
        #expect(
            r.status == 0 && r.stdout.contains("service www.lab.example.") && r.stdout.contains("pool standby"),
            "\(r.stdout)\(r.stderr)"
        )
        // Unknown endpoints and methods.
        #expect(try lab.server.control("GET", "/nope").status == 404)
        #expect(try lab.server.control("POST", "/status").status == 405)
    }

    @Test func explainADegradedService() throws {
        let lab = try FailoverLab()
        lab.primaries[0].kill()
        try lab.waitForAnswer([lab.standby.address], within: failoverBound)
        let r = try lab.server.control(
            "GET",
            "/explain?name=www.lab.example&type=A&client=192.0.2.1&ecs=198.51.100.0/24"
        )
        #expect(r.status == 200, "\(r.body)")
        let e = try json(r)
        #expect(e["kind"] as? String == "service")
        #expect(e["answer"] as? [String] == ["A \(lab.standby.address)"], "\(e)")
        #expect(e["ttl"] as? Int == 5)
        #expect((e["ttl_reason"] as? String)?.contains("not on the first pool") == true, "\(e)")
        let pools = e["pools"] as? [[String: Any]] ?? []
        #expect(pools.map { $0["name"] as? String } == ["primary", "standby"])
        #expect(pools.first?["available"] as? Bool == false && pools.last?["chosen"] as? Bool == true)
        let failing = (pools.first?["members"] as? [[String: Any]])?.first?["failing"] as? [String]
        #expect(failing?.first?.contains("refused") == true, "\(pools)")
        let location = e["location"] as? [String: Any]
        #expect(location?["client"] as? String == "192.0.2.1" && location?["ecs"] as? String == "198.51.100.0/24")
        #expect(location?["detail"] as? String == "location is not used by this service (policy failover)")
        // AAAA for an IPv4-only service: no data.
        let aaaa = try json(try lab.server.control("GET", "/explain?name=www.lab.example&type=AAAA"))
        #expect(
            (aaaa["answer"] as? [String])?.isEmpty == true && (aaaa["rcode"] as? String)?.contains("no AAAA") == true,
            "\(aaaa)"
        )
        #expect(try json(try lab.server.control("GET", "/explain?name=example.com"))["rcode"] as? String == "REFUSED")
        // Bad parameters: 400 with what is wrong.
        for (query, message) in [
            ("", "missing parameter 'name'"), ("?name=www.lab.example&type=BOGUS", "type 'BOGUS'"),
            ("?name=www.lab.example&client=1.2.3", "client '1.2.3'"),
            ("?name=www.lab.example&ecs=10.0.0.0/40", "prefix must be 0...32"),
            ("?name=www.lab.example&color=red", "unknown parameter 'color'"),
            ("?name=www.lab.example&name=near.lab.example", "query parameter 'name' is given twice"),
            // Issue 13: an empty ecs was indexed without a check, a trap that stopped the server.
            ("?name=www.lab.example&ecs=", "ecs '' is not ADDRESS/PREFIX"),
        ] {
            let bad = try lab.server.control("GET", "/explain" + query)
            #expect(bad.status == 400 && bad.body.contains(message), "\(query): \(bad.status) \(bad.body)")
        }
        #expect(try lab.server.control("GET", "/healthz").status == 200, "still running")
        #expect(try lab.server.control("GET", "/status?verbose=1").status == 400)
    }

    @Test func overridesOverTheAPIWithTokens() throws {
        let token = "s3cret-\(UUID().uuidString)"
        let lab = try FailoverLab(extra: "control:\n  token_file: token", files: ["token": token + "\n"])
        let tokenPath = lab.dir.appendingPathComponent("token").path
        let body = #"{"scope": "pool", "target": "primary", "action": "down", "for": "2s", "note": "drill"}"#
        // Token rules: missing and wrong → 401, right → 200. A 401 does not say where the token file is;
        // gtmd's log does.
        var r = try lab.server.control("POST", "/v1/overrides", body: body)
        #expect(r.status == 401 && r.body.contains("Authorization"), "\(r.body)")
        #expect(!r.body.contains(tokenPath) && !r.body.contains(lab.dir.path), "\(r.body)")
        r = try lab.server.control("POST", "/v1/overrides", headers: ["Authorization": "Bearer wrong"], body: body)
        #expect(r.status == 401 && r.body.contains("wrong bearer token"), "\(r.body)")
        #expect(!r.body.contains(lab.dir.path), "\(r.body)")
        try waitFor("the token file named in the log", timeout: 5) { lab.server.log.contains(tokenPath) }
        #expect(try dig("www.lab.example", port: lab.server.port).answerData == [lab.primaries[0].address])
        // Bad bodies: 400 saying what is wrong (checked against the config).
        r = try lab.server.control(
            "POST",
            "/v1/overrides",
            headers: ["Authorization": "Bearer \(token)"],
            body: #"{"scope": "pool", "target": "nosuch", "action": "down"}"#
        )
        #expect(r.status == 400 && r.body.contains("no pool 'nosuch'"), "\(r.body)")
        r = try lab.server.control("POST", "/v1/overrides", headers: ["Authorization": "Bearer \(token)"], body: "{")
        #expect(r.status == 400 && r.body.contains("body is not valid JSON"), "\(r.body)")
        // Issue 13: a misspelt field was ignored, and `{"fro": "10m"}` became a drain without an end.
        for body in [
            #"{"fro": "10m"}"#, #"{"scope": "pool", "target": "primary", "action": "down", "fro": "10m"}"#,
        ] {
            r = try lab.server.control(
                "POST",
                "/v1/overrides",
                headers: ["Authorization": "Bearer \(token)"],
                body: body
            )
            #expect(
                r.status == 400
                    && r.body.contains("unknown field 'fro' (allowed: scope, target, action, pool, for, until, note)"),
                "\(r.body)"
            )
        }
        r = try lab.server.control(
            "POST",
            "/v1/overrides",
            headers: ["Authorization": "Bearer \(token)"],
            body: #"{"scope": "pool", "target": "primary", "action": "down", "for": 600}"#
        )
        #expect(r.status == 400 && r.body.contains("field 'for' must be a string"), "\(r.body)")
        #expect(
            (try json(try lab.server.control("GET", "/v1/overrides"))["overrides"] as? [Any])?.isEmpty == true,
            "nothing refused is in force"
        )

        r = try lab.server.control("POST", "/v1/overrides", headers: ["Authorization": "Bearer \(token)"], body: body)
        #expect(r.status == 200, "\(r.body)")
        try lab.waitForAnswer([lab.standby.address], within: 1.5)
        let list = try json(try lab.server.control("GET", "/v1/overrides"))
        let entry = (list["overrides"] as? [[String: Any]])?.first
        #expect(
            entry?["active"] as? Bool == true && (entry?["summary"] as? String)?.contains("pool primary down") == true,
            "\(list)"
        )
        // It expires by itself (2 s) and the primary answers again.
        try lab.waitForAnswer([lab.primaries[0].address], within: 4)

        // Set through the CLI (token from the config's token file), clear with DELETE.
        let cli = try run(
            GtmdServer.binary,
            [
                "override", "pin", "www.lab.example", "standby", "--config", lab.config,
                "--control", "127.0.0.1:\(lab.server.controlPort!)",
            ]
        )
        #expect(
            cli.status == 0 && cli.stdout.contains("set: service www.lab.example. pin standby"),
            "\(cli.stdout)\(cli.stderr)"
        )
        try lab.waitForAnswer([lab.standby.address], within: 1.5)
        r = try lab.server.control(
            "DELETE",
            "/v1/overrides?scope=service&target=www.lab.example",
            headers: ["Authorization": "Bearer \(token)"]
        )
        #expect(r.status == 200 && r.body.contains("\"cleared\" : 1"), "\(r.body)")
        try lab.waitForAnswer([lab.primaries[0].address], within: 1.5)
    }

    /// An override set over the API is in force when the API answers: the first query after the reply already
    /// gets the new answer (no poll in between), and from request to changed answer takes under 50 ms (median).
    @Test func anOverrideChangesTheAnswerWithin50ms() throws {
        let token = "t-\(UUID().uuidString)"
        let lab = try FailoverLab(extra: "control:\n  token_file: token", files: ["token": token])
        let auth = ["Authorization": "Bearer \(token)"]
        let (primary, standby) = (lab.primaries[0].address, lab.standby.address)
        #expect(UDPQuery.addresses("www.lab.example", port: lab.server.port) == [primary])
        var times: [Double] = []
        for _ in 0..<10 {
            for (body, want) in [
                (#"{"scope": "pool", "target": "primary", "action": "down"}"#, standby), (nil, primary),
            ] {
                let start = Date()
                let r =
                    try body.map { try lab.server.control("POST", "/v1/overrides", headers: auth, body: $0) }
                    ?? lab.server.control("DELETE", "/v1/overrides?scope=pool&target=primary", headers: auth)
                #expect(r.status == 200, "\(r.body)")
                // The first query after the reply: the answer has already changed.
                #expect(UDPQuery.addresses("www.lab.example", port: lab.server.port) == [want])
                try waitFor("www → \(want)", timeout: 1, interval: 0.001) {
                    UDPQuery.addresses("www.lab.example", port: lab.server.port) == [want]
                }
                times.append(Date().timeIntervalSince(start))
            }
        }
        let median = times.sorted()[times.count / 2]
        print(
            "override over the API -> changed answer: median \(String(format: "%.1f", median * 1000)) ms (n=\(times.count))"
        )
        #expect(median < 0.05, "median \(median * 1000) ms")
    }

    @Test func mutatingWithoutAConfiguredTokenIs403() throws {
        let lab = try FailoverLab(token: false)
        let r = try lab.server.control(
            "POST",
            "/v1/overrides",
            headers: ["Authorization": "Bearer anything"],
            body: #"{"scope": "pool", "target": "primary", "action": "down"}"#
        )
        #expect(r.status == 403 && r.body.contains("no control.token_file is configured"), "\(r.body)")
        #expect(try lab.server.control("DELETE", "/v1/overrides?scope=pool&target=primary").status == 403)
        // Not reachable: a clear error from the CLI.
        let cli = try run(GtmdServer.binary, ["status", "--control", "127.0.0.1:1"])
        #expect(cli.status != 0 && cli.stderr.contains("cannot reach the gtmd control API"), "\(cli.stderr)")
    }

    @Test func requestLimits() throws {
        let lab = try FailoverLab()
        let big = String(repeating: "x", count: 70_000)
        let r = try lab.server.control("POST", "/v1/overrides", body: big)
        #expect(r.status == 413, "\(r.status) \(r.body)")
        let headers = Dictionary(uniqueKeysWithValues: (0..<70).map { ("X-H\($0)", "v") })
        #expect(try lab.server.control("GET", "/status", headers: headers).status == 431)
        let garbage = try httpRequest("127.0.0.1", lab.server.controlPort!, "", "", raw: Array("NOT HTTP\r\n\r\n".utf8))
        #expect(garbage.status == 400)
        // Still serving.
        #expect(try lab.server.control("GET", "/healthz").status == 200)
    }
}
