import DNSWire
import Foundation
import TestSupport
import Testing

/// A UDP socket bound to a chosen loopback source address (any 127.x works on Linux), for floods.
final class SourceSocket {
    let fd: Int32
    var dest = sockaddr_in()

    init(source: String, port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { throw TestError.failed("socket: errno \(errno)") }
        var rcv: Int32 = 4 << 20
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, socklen_t(MemoryLayout<Int32>.size))
        var src = sockaddr_in()
        src.sin_family = sa_family_t(AF_INET)
        inet_pton(AF_INET, source, &src.sin_addr)
        let rc = withUnsafePointer(to: &src) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard rc == 0 else {
            close(fd)
            throw TestError.failed("bind \(source): errno \(errno)")
        }
        dest.sin_family = sa_family_t(AF_INET)
        dest.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, "127.0.0.1", &dest.sin_addr)
    }

    deinit { close(fd) }

    func send(_ packet: [UInt8]) {
        _ = withUnsafePointer(to: &dest) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                sendto(fd, packet, packet.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
    }

    /// Every datagram that arrives until nothing has come for `quiet` seconds (at most `limit`).
    func drain(quiet: Double, limit: Int = 100_000) -> [[UInt8]] {
        var out: [[UInt8]] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        while out.count < limit {
            guard poll(&pfd, 1, Int32(quiet * 1000)) == 1 else { break }
            let n = recv(fd, &buf, buf.count, 0)
            if n > 0 { out.append(Array(buf[0..<n])) }
        }
        return out
    }

    /// One query, one reply (nil after `timeout` seconds).
    func exchange(_ packet: [UInt8], timeout: Double = 1) -> [UInt8]? {
        send(packet)
        return drain(quiet: timeout, limit: 1).first
    }
}

/// Writes a config serving the lab zone with the given `server.rrl` block; returns its path.
func rateLimitConfig(_ rrl: String) throws -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gtmd-rrl-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    let zone = Repo.root.appendingPathComponent("zones/lab.example.zone").path
    let text = """
        server:
          udp_workers: 1
        \(rrl)
        zones:
          - origin: lab.example
            file: \(zone)
        """
    let path = dir.appendingPathComponent("gtmd.yaml").path
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    return path
}

/// Response rate limiting against the real binary: `server.rrl` with loopback not exempt.
@Suite struct RateLimitAgainstTheBinary {
    static let flood = 400

    @Test func floodOfIdenticalQueriesIsLimitedWithSlipsAndTCPAndOthersStillAnswered() throws {
        let config = try rateLimitConfig(
            """
              rrl:
                responses_per_second: 10
                window: 1s
                slip: 2
                exempt: []
            """
        )
        let server = try GtmdServer(["--config", config])
        let flooder = try SourceSocket(source: "127.0.0.1", port: server.port)
        var q = QueryBuilder("mail.lab.example", RRType.A, edns: 1232)
        let start = Date()
        for i in 0..<Self.flood {
            q.id = UInt16(i)
            flooder.send(q.bytes)
            if i % 50 == 49 { usleep(1_000) }  // keep the socket buffers from overflowing
        }
        let replies = flooder.drain(quiet: 0.5)
        let elapsed = Date().timeIntervalSince(start)
        let parsed = replies.compactMap { LdnsRR.parsePacket($0) }
        #expect(parsed.count == replies.count, "every reply parses")
        let full = parsed.filter { !$0.tc && $0.answer.count == 1 }
        let slips = parsed.filter { $0.tc }
        // Burst of 10 (rate × window) plus 10 per second of the flood, with 1 s of slack.
        let allowed = 10 + Int((elapsed + 1) * 10)
        #expect(
            full.count >= 10 && full.count <= allowed,
            "full answers: \(full.count), allowed \(allowed) in \(elapsed) s"
        )
        #expect(slips.count > 0, "some excess replies slip")
        for s in slips {
            #expect(s.answer.isEmpty && s.authority.isEmpty && s.rcode == 0, "a slip is an empty TC=1 reply: \(s.text)")
            #expect(s.edns != nil, "a slip keeps the OPT")
        }
        // slip 2: about every second excess reply is truncated, the rest are dropped.
        let excess = Self.flood - full.count
        #expect(slips.count >= excess / 2 - 20 && slips.count <= excess / 2 + 20, "slips \(slips.count) of \(excess)")
        #expect(replies.count < Self.flood)
        // /metrics counts what was withheld (counters are published per batch: poll).
        try waitFor("rrl metrics", timeout: 5, interval: 0.1) {
            let m = try server.control("GET", "/metrics").body
            func value(_ action: String) -> Int? {
                m.split(separator: "\n").first {
                    $0.hasPrefix("gtmd_rrl_responses_total") && $0.contains("action=\"\(action)\"")
                }
                .flatMap { Int(Double($0.split(separator: " ").last ?? "") ?? -1) }
            }
            return (value("slip") ?? -1) >= slips.count && slips.count > 0
                && (value("drop") ?? 0) + slips.count + full.count >= Self.flood * 9 / 10
        }

        // A client that retries over TCP is answered (TCP is never limited).
        let tcp = try dig("mail.lab.example", port: server.port, ["+tcp"])
        #expect(tcp.status == "NOERROR" && tcp.answerData == ["192.0.2.25"], "\(tcp)")
        // Another network is not affected, while the flooder's own network still is.
        let other = try SourceSocket(source: "127.0.9.1", port: server.port)
        q.id = 0xBEEF
        let answer = try #require(other.exchange(q.bytes), "no answer for another network")
        let p = try #require(LdnsRR.parsePacket(answer))
        #expect(p.rcode == 0 && p.answer.count == 1 && !p.tc, "\(p.text)")
        // A different response identity from the flooding network is not limited either.
        let apex = try #require(flooder.exchange(QueryBuilder("lab.example", RRType.SOA, edns: 1232).bytes))
        #expect(LdnsRR.parsePacket(apex)?.answer.count == 1)
        // The bucket refills: after a second the flooder gets full answers again.
        try waitFor("the bucket refills", timeout: 5, interval: 0.2) {
            guard let r = flooder.exchange(q.bytes, timeout: 0.3), let p = LdnsRR.parsePacket(r) else { return false }
            return p.answer.count == 1 && !p.tc
        }
        #expect(server.stop() == 0)
    }

    @Test func nxdomainForRandomNamesIsLimitedPerZone() throws {
        let config = try rateLimitConfig(
            """
              rrl: { responses_per_second: 5, window: 1s, slip: 0, exempt: [] }
            """
        )
        let server = try GtmdServer(["--config", config])
        let flooder = try SourceSocket(source: "127.0.0.1", port: server.port)
        for i in 0..<200 {
            var q = QueryBuilder("r\(i).lab.example", RRType.A)
            q.id = UInt16(i)
            flooder.send(q.bytes)
            if i % 50 == 49 { usleep(1_000) }
        }
        let replies = flooder.drain(quiet: 0.5).compactMap { LdnsRR.parsePacket($0) }
        #expect(replies.allSatisfy { $0.rcode == 3 })
        #expect(replies.count >= 5 && replies.count <= 20, "\(replies.count) NXDOMAIN replies to 200 random names")
        // The zone's positive answers are a different identity: still answered.
        let ok = try #require(flooder.exchange(QueryBuilder("mail.lab.example", RRType.A).bytes))
        #expect(LdnsRR.parsePacket(ok)?.answer.count == 1)
        #expect(server.stop() == 0)
    }

    @Test func slipZeroDropsEverythingOverTheRate() throws {
        let config = try rateLimitConfig(
            """
              rrl: { responses_per_second: 5, window: 1, slip: 0, exempt: [192.0.2.0/24] }
            """
        )
        let server = try GtmdServer(["--config", config])
        let flooder = try SourceSocket(source: "127.0.0.1", port: server.port)
        var q = QueryBuilder("mail.lab.example", RRType.A)
        for i in 0..<200 {
            q.id = UInt16(i)
            flooder.send(q.bytes)
            if i % 50 == 49 { usleep(1_000) }
        }
        let replies = flooder.drain(quiet: 0.5).compactMap { LdnsRR.parsePacket($0) }
        #expect(replies.count >= 5 && replies.count <= 20, "\(replies.count) replies")
        #expect(replies.allSatisfy { !$0.tc })
        #expect(server.stop() == 0)
    }

    @Test func loopbackIsExemptByDefault() throws {
        // config/lab.yaml has no rrl section: on by default, loopback exempt.
        let server = try GtmdServer(["--config", "config/lab.yaml"])
        let client = try SourceSocket(source: "127.0.0.1", port: server.port)
        var q = QueryBuilder("mail.lab.example", RRType.A)
        var answered = 0
        for i in 0..<300 {
            q.id = UInt16(i)
            if let r = client.exchange(q.bytes), let p = LdnsRR.parsePacket(r), p.answer.count == 1, !p.tc {
                answered += 1
            }
        }
        #expect(answered == 300)
        #expect(server.stop() == 0)
    }
}
