import DNSWire
import Foundation
import Synchronization
import TestSupport
import Testing

/// Sends A queries for `name` one after another over UDP until stopped; counts answers and losses
/// (no reply within a second, or a reply that is not NOERROR with an answer).
final class QueryLoop: Sendable {
    let answered = Atomic<Int>(0)
    let lost = Atomic<Int>(0)
    let stopFlag = Atomic<Bool>(false)
    let done = Atomic<Bool>(false)

    init(port: Int, name: String) {
        Thread.detachNewThread { [self] in
            defer { done.store(true, ordering: .releasing) }
            let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
            defer { close(fd) }
            var tv = timeval(tv_sec: 1, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            var sa = sockaddr_in()
            sa.sin_family = sa_family_t(AF_INET)
            sa.sin_port = in_port_t(UInt16(port).bigEndian)
            inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr)
            _ = withUnsafePointer(to: &sa) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            var id: UInt16 = 0
            var buf = [UInt8](repeating: 0, count: 4096)
            // Bounded: at most 200,000 queries (the test stops it far earlier).
            for _ in 0..<200_000 where !stopFlag.load(ordering: .acquiring) {
                id &+= 1
                var q = QueryBuilder(name, RRType.A)
                q.id = id
                let bytes = q.bytes
                _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
                var ok = false
                // Skip late replies to earlier queries.
                for _ in 0..<4 {
                    let n = recv(fd, &buf, buf.count, 0)
                    if n < 12 { break }
                    if UInt16(buf[0]) << 8 | UInt16(buf[1]) != id { continue }
                    ok = buf[3] & 0x0F == 0 && (UInt16(buf[6]) << 8 | UInt16(buf[7])) > 0
                    break
                }
                if ok { answered.add(1, ordering: .relaxed) } else { lost.add(1, ordering: .relaxed) }
                usleep(2_000)
            }
        }
    }

    func stop() throws {
        stopFlag.store(true, ordering: .releasing)
        try waitFor("query loop stops", timeout: 5) { done.load(ordering: .acquiring) }
    }
}

@Suite struct ReloadUnderLoad {
    func metrics(_ lab: FailoverLab) throws -> [String: Double] {
        try parsePrometheus(try lab.server.control("GET", "/metrics").body)
    }

    func standbyCheck(_ lab: FailoverLab) throws -> [String: Any]? {
        let s =
            try JSONSerialization.jsonObject(with: Data(try lab.server.control("GET", "/status").body.utf8))
            as? [String: Any]
        let pools = s?["pools"] as? [[String: Any]] ?? []
        let member = (pools.first { $0["name"] as? String == "standby" }?["members"] as? [[String: Any]])?.first
        var check = (member?["checks"] as? [[String: Any]])?.first
        check?["member_health"] = member?["health"]
        return check
    }

    @Test func goodAndBrokenReloadsLoseNoAnswerAndKeepProbeState() throws {
        let lab = try FailoverLab()
        let loop = QueryLoop(port: lab.server.port, name: "www.lab.example")
        // The standby dies: its state (down, failure count) must survive a reload that leaves it unchanged.
        lab.standby.kill()
        var before: [String: Any]? = nil
        try waitFor("standby down with a few probes", timeout: 10) {
            before = try standbyCheck(lab)
            return before?["member_health"] as? String == "down" && (before?["probes"] as? Int ?? 0) >= 4
        }
        let probes = before?["probes"] as? Int ?? 0

        // 1. A good reload: a new TTL (degraded: the standby is down), the same checks.
        try lab.yaml.replacingOccurrences(of: "degraded_ttl: 5", with: "degraded_ttl: 7").write(
            toFile: lab.config,
            atomically: true,
            encoding: .utf8
        )
        lab.server.signal(SIGHUP)
        try waitFor("reload ok counted", timeout: 10) { try metrics(lab)["gtmd_reloads_total{result=\"ok\"}"] == 1 }
        let kept = try standbyCheck(lab)
        #expect(
            kept?["member_health"] as? String == "down" && (kept?["probes"] as? Int ?? 0) >= probes,
            "unchanged target keeps its state: before \(before ?? [:]) after \(kept ?? [:])"
        )
        try waitFor("new TTL served", timeout: 5) { try lab.answer().answer.first?.contains("\t7\t") == true }

        // 2. A broken reload: logged, counted, and the previous config keeps serving.
        try (lab.yaml + "\nbogus_key: 1\n").write(toFile: lab.config, atomically: true, encoding: .utf8)
        lab.server.signal(SIGHUP)
        try waitFor("reload failure counted", timeout: 10) {
            try metrics(lab)["gtmd_reloads_total{result=\"failed\"}"] == 1
        }
        #expect(try lab.answer().answer.first?.contains("\t7\t") == true, "old config still served")
        #expect(lab.server.log.contains("bogus_key"), "the problem is logged with where it is")

        // 3. A changed check: its targets start fresh (probe count restarts), the standby is found down again.
        try lab.yaml.replacingOccurrences(of: "degraded_ttl: 5", with: "degraded_ttl: 7")
            .replacingOccurrences(of: "timeout: 1s", with: "timeout: 900ms").write(
                toFile: lab.config,
                atomically: true,
                encoding: .utf8
            )
        lab.server.signal(SIGHUP)
        try waitFor("second reload ok", timeout: 10) { try metrics(lab)["gtmd_reloads_total{result=\"ok\"}"] == 2 }
        let fresh = try standbyCheck(lab)
        #expect((fresh?["probes"] as? Int ?? 99) < probes, "changed target starts fresh: \(fresh ?? [:])")
        try waitFor("fresh standby check finds it down", timeout: 5) {
            try standbyCheck(lab)?["member_health"] as? String == "down"
        }

        try loop.stop()
        let answered = loop.answered.load(ordering: .relaxed)
        let lost = loop.lost.load(ordering: .relaxed)
        print("reloads under a query loop: \(answered) answered, \(lost) lost")
        #expect(answered > 100, "the loop ran: \(answered)")
        #expect(lost == 0, "no answer lost during reloads: \(lost) of \(answered + lost)")
    }
}
