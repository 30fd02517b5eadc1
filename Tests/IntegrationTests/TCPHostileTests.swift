import DNSWire
import Foundation
import TestSupport
import Testing

/// A TCP connection from a chosen loopback source address, non-blocking after connect.
final class RawTCP {
    let fd: Int32

    init(source: String, port: Int) throws {
        let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard s >= 0 else { throw TestError.failed("socket: errno \(errno)") }
        var src = sockaddr_in()
        var dst = sockaddr_in()
        src.sin_family = sa_family_t(AF_INET)
        inet_pton(AF_INET, source, &src.sin_addr)
        dst.sin_family = sa_family_t(AF_INET)
        inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr)
        dst.sin_port = in_port_t(UInt16(port).bigEndian)
        let ok =
            withUnsafePointer(to: &src) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(s, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            } == 0
            && withUnsafePointer(to: &dst) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(s, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            } == 0
        guard ok else {
            let e = errno
            close(s)
            throw TestError.failed("connect from \(source): errno \(e)")
        }
        _ = fcntl(s, F_SETFL, fcntl(s, F_GETFL) | O_NONBLOCK)
        fd = s
    }

    deinit { close(fd) }

    /// Bytes the kernel accepted (0 when the send buffer is full).
    @discardableResult
    func send(_ bytes: [UInt8]) -> Int {
        max(0, bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) })
    }

    /// True once the server has closed the connection (EOF or reset); reads and discards pending data.
    func isClosedByPeer() -> Bool {
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = recv(fd, &buf, buf.count, 0)
            if n == 0 { return true }
            if n < 0 { return errno != EAGAIN && errno != EWOULDBLOCK }
        }
    }
}

/// gtmd's resident set size in KiB (from /proc).
func rssKiB(_ pid: Int32) -> Int {
    guard let s = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
        let line = s.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") })
    else { return -1 }
    return Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]) ?? -1
}

/// Hostile TCP clients against the real binary: slow-loris connections, idle ones, and a client that
/// pipelines queries without reading the replies. Normal UDP and TCP clients must keep being answered.
@Suite(.serialized) struct HostileTCPAgainstTheBinary {
    let server: GtmdServer

    init() throws {
        let config = try rateLimitConfig(
            """
              rrl: off
              tcp:
                max_connections: 200
                max_connections_per_client: 30
                idle_timeout: 1s
                query_timeout: 1500ms
            """
        )
        server = try GtmdServer(["--config", config])
    }

    /// `wait`: dig's timeout in seconds (a loaded CI machine answers slower than a quiet one).
    func normalClientsAreAnswered(_ context: String, wait: Int = 2) throws {
        let udp = try dig("mail.lab.example", port: server.port, ["+time=\(wait)"])
        #expect(udp.status == "NOERROR" && udp.answerData == ["192.0.2.25"], "UDP \(context): \(udp)")
        let tcp = try dig("mail.lab.example", port: server.port, ["+tcp", "+time=\(wait)"])
        #expect(tcp.status == "NOERROR" && tcp.answerData == ["192.0.2.25"], "TCP \(context): \(tcp)")
    }

    @Test func slowLorisConnectionsDoNotBlockOthersAndAreClosedByTheQueryTimeout() throws {
        // 4 networks × 25 connections, each holding half a query and trickling one byte now and then.
        var loris: [RawTCP] = []
        for net in 1...4 {
            for _ in 0..<25 { loris.append(try RawTCP(source: "127.0.\(net).1", port: server.port)) }
        }
        let query = QueryBuilder("mail.lab.example", RRType.A).bytes
        let framed = [UInt8(query.count >> 8), UInt8(query.count & 0xFF)] + query
        for c in loris { c.send(Array(framed.prefix(4))) }
        let start = Date()
        var trickled = 4
        // While they trickle (faster than the idle timeout), normal clients are answered at once.
        while Date().timeIntervalSince(start) < 1.0 {
            for c in loris { c.send([framed[trickled]]) }
            trickled += 1
            try normalClientsAreAnswered("during the slow-loris attack")
            usleep(200_000)
        }
        // The query timeout (1.5 s from the first byte) closes every one of them, trickling or not.
        try waitFor("slow-loris connections closed", timeout: 5, interval: 0.1) {
            loris.allSatisfy { $0.isClosedByPeer() }
        }
        #expect(Date().timeIntervalSince(start) >= 1.0)
        try normalClientsAreAnswered("after the attack")
    }

    @Test func idleConnectionsAreClosed() throws {
        let idle = (0..<20).compactMap { _ in try? RawTCP(source: "127.0.5.1", port: server.port) }
        #expect(idle.count == 20)
        let elapsed = try waitFor("idle connections closed", timeout: 5, interval: 0.1) {
            idle.allSatisfy { $0.isClosedByPeer() }
        }
        #expect(elapsed >= 0.8, "closed after \(elapsed) s; idle_timeout is 1 s")
        try normalClientsAreAnswered("after idle connections")
    }

    @Test func pipeliningWithoutReadingIsNotBufferedWithoutBound() throws {
        let before = rssKiB(server.process.processIdentifier)
        // 30 connections from 30 addresses push queries for large answers and never read a reply.
        // (Before reads were capped at 4 × 4 KiB per burst, 8 such clients grew gtmd by 41 MiB and 30
        // made other TCP clients time out.)
        let clients = try (1...30).map { try RawTCP(source: "127.0.6.\($0)", port: server.port) }
        var q = QueryBuilder("big.lab.example", RRType.TXT)
        var burst: [UInt8] = []
        for i in 0..<1000 {
            q.id = UInt16(i)
            let b = q.bytes
            burst += [UInt8(b.count >> 8), UInt8(b.count & 0xFF)] + b
        }
        // Push for up to 3 s; the kernel accepts more only while gtmd keeps reading.
        var accepted = 0
        var stalls = 0
        let start = Date()
        while Date().timeIntervalSince(start) < 3, accepted < 400 << 20 {
            var sent = 0
            for c in clients { sent += c.send(burst) }
            accepted += sent
            if sent == 0 {
                stalls += 1
                usleep(10_000)
            }
        }
        let after = rssKiB(server.process.processIdentifier)
        #expect(stalls > 0, "gtmd never stopped reading: \(accepted) bytes accepted")
        // What the kernel holds in socket buffers (a few MiB per connection) is all that piles up.
        #expect(accepted / clients.count < 16 << 20, "\(accepted) bytes accepted from clients that read nothing")
        // Under ASan freed memory sits in quarantine, so RSS says nothing there (scripts/sanitize.sh sets this).
        if ProcessInfo.processInfo.environment["GTMD_SANITIZER"] != "address" {
            #expect(after - before < 24 * 1024, "RSS grew from \(before) KiB to \(after) KiB")
        }
        try normalClientsAreAnswered("while clients do not read their replies", wait: 5)
    }
}
