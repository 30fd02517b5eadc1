import Foundation
import TestSupport
import Testing

/// The disaster-recovery lab (lab/drlab.py) in CI: network namespaces, a real unbound as the clients'
/// resolver, the real gtmd, region backends; the fast profile with a 10 s healthy TTL and three
/// scenarios (stop a backend, black-hole a region, cut its link). Runs only as root on a machine that
/// allows network namespaces and has unbound and tc; otherwise it is skipped and says why.
enum LabEnvironment {
    static let scenarios = ["stop", "blackhole", "cut"]

    /// nil when the lab can run here, else why not.
    static let unavailable: String? = {
        if getuid() != 0 { return "the DR lab needs root (ip netns, veth, tc)" }
        for name in ["ip", "tc", "unbound", "python3"] where LabEnvironment.tool(name) == nil {
            return "the DR lab needs '\(name)' (scripts/deps.sh installs iproute2, unbound, python3)"
        }
        let ip = LabEnvironment.tool("ip")!
        let probe = "gtlab-probe\(getpid())"
        guard let add = try? run(ip, ["netns", "add", probe], timeout: 10) else {
            return "'ip netns add' did not finish"
        }
        if add.status != 0 {
            return
                "this machine does not allow network namespaces (ip netns add: \(add.stderr.trimmingCharacters(in: .whitespacesAndNewlines)))"
        }
        let veth = try? run(
            ip,
            ["-n", probe, "link", "add", "name", "lab0", "type", "veth", "peer", "name", "lab1"],
            timeout: 10
        )
        _ = try? run(ip, ["netns", "del", probe], timeout: 10)
        if veth?.status != 0 {
            return "this machine does not allow veth pairs (\(veth?.stderr ?? "ip link add failed"))"
        }
        return nil
    }()

    /// The first executable `name` in the usual system folders.
    static func tool(_ name: String) -> String? {
        ["/usr/sbin", "/usr/bin", "/sbin", "/bin"].map { "\($0)/\(name)" }
            .first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    static var available: Bool {
        if let why = unavailable {
            FileHandle.standardError.write(Data("LabTests skipped: \(why)\n".utf8))
            return false
        }
        return true
    }
}

@Suite struct DRLab {
    @Test(
        .enabled(
            if: LabEnvironment.available,
            "needs root, network namespaces, unbound and tc (see the skip reason on stderr)"
        ),
        .timeLimit(.minutes(5))
    )
    func fastProfileFailsOverWithinTheFormulasBound() throws {
        let json = FileManager.default.temporaryDirectory.appendingPathComponent("drlab-\(UUID().uuidString).json").path
        defer { try? FileManager.default.removeItem(atPath: json) }
        let r = try run(
            LabEnvironment.tool("python3")!,
            [
                Repo.root.appendingPathComponent("lab/drlab.py").path, "run",
                "--profile", "fast", "--ttl", "10",
                "--scenarios", LabEnvironment.scenarios.joined(separator: ","),
                "--gtmd", GtmdServer.binary, "--json", json,
            ],
            timeout: 280
        )
        #expect(r.status == 0, "drlab run failed:\n\(r.stderr)")
        let doc = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as? [String: Any]
        )
        let results = try #require(doc["results"] as? [[String: Any]])
        #expect(results.map { $0["scenario"] as? String } == LabEnvironment.scenarios, "\(r.stderr)")
        for res in results {
            let scenario = res["scenario"] as? String ?? "?"
            for client in ["gtmd", "resolver"] {
                let m = try #require(res[client] as? [String: Any], "\(scenario)/\(client)")
                let at = "\(scenario) via \(client): \(m)"
                // The client moved to the standby region (r2), within detection + publish (+ TTL in the cache).
                let rto = try #require(m["rto"] as? Double, "no answer pointed at the standby: \(at)")
                #expect(rto <= (m["bound"] as? Double ?? 0), "RTO over the formula's bound: \(at)")
                #expect(m["standby"] as? [String] == ["10.77.12.2"], "\(at)")
                // No client was sent to the dead region once detection + TTL had passed.
                #expect(m["dead_after_bound"] as? Int == 0, "\(at)")
                #expect((m["queries"] as? Int ?? 0) > 50, "the client loop kept asking: \(at)")
                // Failback to r1 after restore, within rise detection + publish (+ degraded TTL).
                let back = try #require(m["back"] as? Double, "never back on r1: \(at)")
                #expect(back <= (m["back_bound"] as? Double ?? 0), "\(at)")
            }
            let direct = try #require(res["gtmd"] as? [String: Any])
            #expect(
                direct["ttl_before"] as? Int == 10 && direct["ttl_standby"] as? Int == 5,
                "gtmd served the healthy TTL before and the degraded TTL after the switch: \(direct)"
            )
            #expect(direct["flips"] as? Int == 1, "one switch, no flapping back to the dead region: \(direct)")
        }
    }
}
