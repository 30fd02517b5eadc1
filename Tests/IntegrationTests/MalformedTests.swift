import DNSWire
import Foundation
import TestSupport
import Testing

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
        var qr = QueryBuilder("www.lab.example", RRType.A).bytes
        qr[2] |= 0x80
        c.append(Malformed(label: "QR=1", packet: qr, rcode: nil))
        c.append(
            Malformed(label: "compression loop in the question", packet: header + [0xC0, 0x0C, 0, 1, 0, 1], rcode: 1)
        )
        c.append(
            Malformed(
                label: "forward pointer in the question",
                packet: header + [0xC0, 0x20, 0, 1, 0, 1] + Array(repeating: 0, count: 20),
                rcode: 1
            )
        )
        c.append(
            Malformed(
                label: "label over 63 bytes",
                packet: header + [64] + Array(repeating: 0x61, count: 64) + [0, 0, 1, 0, 1],
                rcode: 1
            )
        )
        var long = header
        for _ in 0..<5 { long += [60] + Array(repeating: 0x62, count: 60) }
        c.append(Malformed(label: "name over 255 bytes", packet: long + [0, 0, 1, 0, 1], rcode: 1))
        c.append(Malformed(label: "truncated question", packet: Array((header + wwwQuestion).prefix(20)), rcode: 1))
        var counts = header + wwwQuestion
        counts[7] = 3  // ANCOUNT 3, no records
        c.append(Malformed(label: "wrong counts", packet: counts, rcode: 1))
        var q2 = header + wwwQuestion
        q2[5] = 2
        c.append(Malformed(label: "QDCOUNT 2", packet: q2, rcode: 1))
        var dupOpt = QueryBuilder("www.lab.example", RRType.A, edns: 1232)
        let once = dupOpt.bytes
        var twice = once + dupOpt.opt
        twice[11] = 2
        c.append(Malformed(label: "duplicate OPT", packet: twice, rcode: 1))
        dupOpt.ednsOptions = [(8, [0, 1, 24, 0, 10, 1, 1, 7])]  // 10.1.1.7/24: bits past the prefix
        c.append(Malformed(label: "ECS with bits past the source prefix", packet: dupOpt.bytes, rcode: 1))
        var badFamily = QueryBuilder("www.lab.example", RRType.A, edns: 1232)
        badFamily.ednsOptions = [(8, [0, 3, 8, 0, 10])]
        c.append(Malformed(label: "ECS with an unknown family", packet: badFamily.bytes, rcode: 1))
        var optLen = QueryBuilder("www.lab.example", RRType.A, edns: 1232).bytes
        optLen[optLen.count - 1] = 200  // OPT rdlength past the end
        c.append(Malformed(label: "OPT rdata past the end", packet: optLen, rcode: 1))
        c.append(Malformed(label: "header only, QDCOUNT 1", packet: header, rcode: 1))
        var qd0 = header + wwwQuestion
        qd0[5] = 0
        c.append(Malformed(label: "QDCOUNT 0", packet: qd0, rcode: 1))
        var ar1 = header + wwwQuestion
        ar1[11] = 1  // ARCOUNT 1, record cut after its owner and type
        c.append(Malformed(label: "truncated additional record", packet: ar1 + [0, 0, 1, 0], rcode: 1))
        var rdlen = header + wwwQuestion
        rdlen[11] = 1
        c.append(
            Malformed(
                label: "additional record rdata past the end",
                packet: rdlen + [0, 0, 1, 0, 1, 0, 0, 0, 60, 0, 9, 1, 2],
                rcode: 1
            )
        )
        var optOwner = header + wwwQuestion
        optOwner[11] = 1
        c.append(
            Malformed(
                label: "OPT owner not the root (compressed)",
                packet: optOwner + [0xC0, 0x0C, 0, 41, 4, 0xD0, 0, 0, 0, 0, 0, 0],
                rcode: 1
            )
        )
        var cutOption = QueryBuilder("www.lab.example", RRType.A, edns: 1232)
        cutOption.ednsOptions = [(3, [])]
        var cutBytes = cutOption.bytes
        cutBytes[cutBytes.count - 5] = 3  // rdlength 3: option header cut
        c.append(Malformed(label: "OPT option header cut short", packet: Array(cutBytes.dropLast()), rcode: 1))
        var optionPast = QueryBuilder("www.lab.example", RRType.A, edns: 1232)
        optionPast.ednsOptions = [(12, [0, 0])]
        var pastBytes = optionPast.bytes
        pastBytes[pastBytes.count - 3] = 40  // option length 40 > rdata
        c.append(Malformed(label: "OPT option length past the rdata", packet: pastBytes, rcode: 1))
        for (label, ecs) in [
            ("ECS IPv4 source prefix 33", [0, 1, 33, 0, 10, 1, 1, 7, 0] as [UInt8]),
            ("ECS IPv6 source prefix 129", [0, 2, 129, 0] + Array(repeating: 0x20, count: 17)),
            ("ECS scope prefix set in a query", [0, 1, 24, 8, 10, 1, 1]),
            ("ECS address longer than the prefix", [0, 1, 8, 0, 10, 0]),
            ("ECS address shorter than the prefix", [0, 1, 24, 0, 10]),
            ("ECS option shorter than 4 bytes", [0, 1]),
        ] {
            var b = QueryBuilder("www.lab.example", RRType.A, edns: 1232)
            b.ednsOptions = [(8, ecs)]
            c.append(Malformed(label: label, packet: b.bytes, rcode: 1))
        }
        var twoECS = QueryBuilder("www.lab.example", RRType.A, edns: 1232)
        twoECS.ednsOptions = [(8, [0, 1, 24, 0, 10, 1, 1]), (8, [0, 1, 24, 0, 10, 1, 2])]
        c.append(Malformed(label: "two ECS options", packet: twoECS.bytes, rcode: 1))
        var padded = QueryBuilder("www.lab.example", RRType.A, edns: 1232)
        padded.ednsOptions = [(12, Array(repeating: 0, count: 3000))]  // large but well-formed OPT: answered
        c.append(Malformed(label: "3000-byte padding option (well-formed)", packet: padded.bytes, rcode: 0))
        var badVers = QueryBuilder("www.lab.example", RRType.A, edns: 1232)
        badVers.ednsVersion = 1
        c.append(Malformed(label: "EDNS version 1", packet: badVers.bytes, rcode: 16))
        // QTYPE OPT: NODATA, as NSD and Knot answer it (issue 14).
        c.append(
            Malformed(
                label: "OPT as the question type",
                packet: QueryBuilder("www.lab.example", RRType.OPT).bytes,
                rcode: 0
            )
        )
        // TSIG with a key gtmd does not have (it has none): NOTAUTH (RFC 8945 §5.2.2).
        let tsigRdata =
            (try! DNSName("hmac-sha256.")).wire + [0, 0, 0x6B, 0x0A, 0x3D, 0x2F, 1, 44, 0, 0, 0xAB, 0xCD, 0, 0, 0, 0]
        let tsig =
            QueryBuilder("www.lab.example", RRType.A).bytes.enumerated().map { $0.offset == 11 ? 1 : $0.element }
            + (try! DNSName("k.")).wire + [0, 250, 0, 255, 0, 0, 0, 0, 0, UInt8(tsigRdata.count)] + tsigRdata
        c.append(Malformed(label: "TSIG with an unknown key", packet: tsig, rcode: 9))
        c.append(Malformed(label: "AXFR over UDP", packet: QueryBuilder("lab.example", RRType.AXFR).bytes, rcode: 5))
        c.append(Malformed(label: "IXFR", packet: QueryBuilder("lab.example", RRType.IXFR).bytes, rcode: 5))
        c.append(
            Malformed(label: "name outside our zones", packet: QueryBuilder("example.com", RRType.A).bytes, rcode: 5)
        )
        var notify = QueryBuilder("lab.example", RRType.SOA)
        notify.flags = 0x2000  // opcode NOTIFY
        c.append(Malformed(label: "opcode NOTIFY", packet: notify.bytes, rcode: 4))
        var update = QueryBuilder("lab.example", RRType.SOA)
        update.flags = 0x2800  // opcode UPDATE
        c.append(Malformed(label: "opcode UPDATE", packet: update.bytes, rcode: 4))
        c.append(
            Malformed(
                label: "oversized datagram (5000 bytes)",
                packet: header + wwwQuestion + Array(repeating: 0, count: 5000),
                rcode: nil
            )
        )
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
            #expect(!p.ra, "no recursion offered")
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
