import DNSWire
import Foundation
import Testing
import TestSupport

/// Sends one datagram to the server and returns the reply (nil = nothing within the timeout).
func udpExchange(_ packet: [UInt8], port: Int, timeout: Double = 0.5) -> [UInt8]? {
    let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var tv = timeval(tv_sec: 0, tv_usec: Int(timeout * 1_000_000))
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    var sa = sockaddr_in()
    sa.sin_family = sa_family_t(AF_INET)
    sa.sin_port = in_port_t(UInt16(port).bigEndian)
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr)
    let sent = withUnsafePointer(to: &sa) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            sendto(fd, packet, packet.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
        }
    }
    guard sent == packet.count else { return nil }
    var buf = [UInt8](repeating: 0, count: 65536)
    let n = recv(fd, &buf, buf.count, 0)
    return n > 0 ? Array(buf[0..<n]) : nil
}

struct Malformed: Sendable, CustomTestStringConvertible {
    var label: String
    var packet: [UInt8]
    /// nil = must be dropped (no reply).
    var rcode: UInt16?
    var testDescription: String { label }
}

let header: [UInt8] = [0xAB, 0xCD, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]
let wwwQuestion: [UInt8] = QueryBuilder("www.lab.example", RRType.A).bytes[12...].map { $0 }

/// Hostile packets against the real binary: each gets its rcode or is dropped, and normal queries are
/// answered right after every one of them.
@Suite struct MalformedPacketsAgainstTheBinary {
    static let cases: [Malformed] = {
        var c: [Malformed] = []
        c.append(Malformed(label: "11-byte datagram", packet: Array(header.prefix(11)), rcode: nil))
        var qr = QueryBuilder("www.lab.example", RRType.A).bytes; qr[2] |= 0x80
        c.append(Malformed(label: "QR=1", packet: qr, rcode: nil))
        c.append(Malformed(label: "compression loop in the question", packet: header + [0xC0, 0x0C, 0, 1, 0, 1], rcode: 1))
        c.append(Malformed(label: "forward pointer in the question", packet: header + [0xC0, 0x20, 0, 1, 0, 1] + Array(repeating: 0, count: 20), rcode: 1))
        c.append(Malformed(label: "label over 63 bytes", packet: header + [64] + Array(repeating: 0x61, count: 64) + [0, 0, 1, 0, 1], rcode: 1))
        var long = header
        for _ in 0..<5 { long += [60] + Array(repeating: 0x62, count: 60) }
        c.append(Malformed(label: "name over 255 bytes", packet: long + [0, 0, 1, 0, 1], rcode: 1))
        c.append(Malformed(label: "truncated question", packet: Array((header + wwwQuestion).prefix(20)), rcode: 1))
        var counts = header + wwwQuestion; counts[7] = 3   // ANCOUNT 3, no records
        c.append(Malformed(label: "wrong counts", packet: counts, rcode: 1))
        var q2 = header + wwwQuestion; q2[5] = 2
        c.append(Malformed(label: "QDCOUNT 2", packet: q2, rcode: 1))
        var dupOpt = QueryBuilder("www.lab.example", RRType.A, edns: 1232)
        let once = dupOpt.bytes
        var twice = once + dupOpt.opt; twice[11] = 2
        c.append(Malformed(label: "duplicate OPT", packet: twice, rcode: 1))
        dupOpt.ednsOptions = [(8, [0, 1, 24, 0, 10, 1, 1, 7])]   // 10.1.1.7/24: bits past the prefix
        c.append(Malformed(label: "ECS with bits past the source prefix", packet: dupOpt.bytes, rcode: 1))
        var badFamily = QueryBuilder("www.lab.example", RRType.A, edns: 1232)
        badFamily.ednsOptions = [(8, [0, 3, 8, 0, 10])]
        c.append(Malformed(label: "ECS with an unknown family", packet: badFamily.bytes, rcode: 1))
        var optLen = QueryBuilder("www.lab.example", RRType.A, edns: 1232).bytes
        optLen[optLen.count - 1] = 200   // OPT rdlength past the end
        c.append(Malformed(label: "OPT rdata past the end", packet: optLen, rcode: 1))
        c.append(Malformed(label: "oversized datagram (5000 bytes)", packet: header + wwwQuestion + Array(repeating: 0, count: 5000), rcode: nil))
        return c
    }()

    let server: GtmdServer
    init() throws { server = try GtmdServer(["--config", "config/lab.yaml"]) }

    @Test(arguments: cases)
    func hostilePacket(_ c: Malformed) throws {
        let reply = udpExchange(c.packet, port: server.port)
        if let want = c.rcode {
            let r = try #require(reply, "no reply")
            let p = try #require(LdnsRR.parsePacket(r), "reply does not parse: \(r)")
            #expect(p.rcode == want, "\(p.text)")
            #expect(p.id == 0xABCD || c.packet[0] != 0xAB || p.id == UInt16(c.packet[0]) << 8 | UInt16(c.packet[1]))
        } else {
            #expect(reply == nil, "expected a drop, got \(reply ?? [])")
        }
        // The server still answers a normal query at once.
        let ok = try #require(udpExchange(QueryBuilder("www.lab.example", RRType.A).bytes, port: server.port))
        #expect(LdnsRR.parsePacket(ok)?.rcode == 0)
    }

    @Test func floodOfGarbageThenNormalAnswers() throws {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<1_000 {
            let n = Int.random(in: 0...600, using: &rng)
            let junk = (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }
            _ = udpExchange(junk, port: server.port, timeout: 0.001)
        }
        let r = try dig("www.lab.example", port: server.port)
        #expect(r.status == "NOERROR", "\(r)")
        #expect(server.process.isRunning)
    }
}
