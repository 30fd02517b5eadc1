import Foundation
import TestSupport
import Testing

/// The fleet lab (lab/fleet.sh) in CI, fast profile (scenarios 1-4): three sites in network namespaces, each
/// with a real etcd member and the real gtmd, and a real unbound in front of the three nodes; the primary region
/// down for all, one site cut from the primary, an override set on one node, one and then every etcd member
/// killed. Runs as root where network namespaces are allowed and etcd and unbound are installed; otherwise it is
/// skipped and says why.
enum FleetLabEnvironment {
    static let unavailable: String? = {
        if getuid() != 0 { return "the fleet lab needs root (ip netns, veth)" }
        guard let ip = LabEnvironment.tool("ip") else { return "the fleet lab needs 'ip' (iproute2)" }
        if EtcdCluster.binary == nil { return "the fleet lab needs etcd (scripts/deps.sh installs etcd-server)" }
        if LabEnvironment.tool("python3") == nil { return "the fleet lab needs python3" }
        if LabEnvironment.tool("unbound") == nil || LabEnvironment.tool("unbound-checkconf") == nil {
            return "the fleet lab needs unbound (scripts/deps.sh installs it)"
        }
        let probe = "gtfleet-probe\(getpid())"
        guard let add = try? run(ip, ["netns", "add", probe], timeout: 10) else { return "'ip netns add' hung" }
        if add.status != 0 { return "this machine does not allow network namespaces (\(add.stderr))" }
        _ = try? run(ip, ["netns", "del", probe], timeout: 10)
        return nil
    }()

    static var available: Bool {
        if let why = unavailable {
            FileHandle.standardError.write(Data("FleetLab skipped: \(why)\n".utf8))
            return false
        }
        return true
    }
}

@Suite struct FleetLabRun {
    @Test(
        .enabled(if: FleetLabEnvironment.available, "needs root, network namespaces and etcd (reason on stderr)"),
        .timeLimit(.minutes(5))
    )
    func fastProfile() throws {
        let r = try run(
            Repo.root.appendingPathComponent("lab/fleet.sh").path,
            ["--profile", "fast", "--gtmd", GtmdServer.binary],
            timeout: 280
        )
        let line = r.stdout.split(separator: "\n").last.map(String.init) ?? ""
        let fig = try #require(
            try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
            "no JSON line:\n\(r.stdout)\n\(r.stderr)"
        )
        print("fleet lab: \(line)")
        #expect(r.status == 0 && fig["ok"] as? Bool == true, "\(line)\n\(r.stderr)")
        #expect(fig["dig_check"] as? Bool == true, "dig through the lab's client namespace: \(line)")
        // 1. Every node switched; the goal for the skew is under 1 s.
        #expect((fig["all_down_skew_ms"] as? Int ?? .max) < 1000, "\(line)")
        // ... and the resolver in front of them (cache capped at 1 s) followed within the cap plus unbound's
        // whole-second clock and a loaded machine's slack after the last node.
        let resolverSwitch = try #require(fig["resolver_switch_ms"] as? Int, "\(line)")
        let resolverLag = try #require(fig["resolver_after_nodes_ms"] as? Int, "\(line)")
        #expect(resolverSwitch > 0 && resolverLag < 5000, "\(line)")
        // 2. One site cut from the primary: no fleet node switches; the same site's node without the fleet does.
        #expect(fig["partition_false_switches"] as? Int == 0, "\(line)")
        #expect(fig["partition_false_switches_without_fleet"] as? Int == 1, "\(line)")
        // The resolver, which asked the cut node too, never got the standby.
        #expect(fig["resolver_false_answers"] as? Int == 0, "\(line)")
        #expect((fig["resolver_partition_answers"] as? Int ?? 0) > 50, "the client kept asking the resolver: \(line)")
        #expect(((fig["resolver_partition_replies"] as? [String: Int])?["s1"] ?? 0) >= 1, "s1 was asked: \(line)")
        // 3. An override set on node A is answered by B and C (goal under 1 s).
        #expect((fig["override_propagation_ms"] as? Int ?? .max) < 1000, "\(line)")
        // 4. One member killed: nothing changes; all killed: every query answered, every node on its own probes;
        // members back: no flap.
        #expect(fig["one_member_killed_changes"] as? Int == 0, "\(line)")
        #expect((fig["store_loss_queries"] as? Int ?? 0) > 100, "the client kept asking: \(line)")
        #expect(fig["store_loss_unanswered"] as? Int == 0, "\(line)")
        #expect(
            fig["store_loss_modes"] as? [String: String] == ["s1": "local", "s2": "local", "s3": "local"],
            "\(line)"
        )
        #expect(fig["store_loss_flaps"] as? Int == 0, "\(line)")
    }
}
