import Answers
import Geo
import Testing

@testable import Server

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A server with an empty table (every query REFUSED) behind RRL of 5/s, window 1 s, no exemptions,
/// and a UDP client of it.
func limitedServer(slip: Int) throws -> (DNSServer, UDPClient) {
    let rrl = RateLimitOptions(responsesPerSecond: 5, window: 1, slip: slip, exempt: [])
    let server = DNSServer(
        endpoints: [ListenEndpoint(host: "127.0.0.1", port: 0)],
        store: AnswerStore(AnswerTable.empty()),
        options: ServerOptions(udpWorkersPerAddress: 1, rateLimit: rrl)
    )
    let bound = try server.start()
    do { return (server, try UDPClient(host: bound[0].host, port: bound[0].port)) } catch {
        server.stop()
        throw error
    }
}

@Suite struct RateLimitTests {
    /// The limiter's table is calloc'd: an empty bucket must be all zero bytes.
    @Test func anEmptyBucketIsAllZeroBytes() {
        withUnsafeBytes(of: ResponseRateLimiter.Bucket()) { bytes in #expect(bytes.allSatisfy { $0 == 0 }) }
    }

    /// An empty table (every query REFUSED) behind RRL of 5/s with no exemptions: a burst of 100
    /// identical queries gets 5 answers, every excess reply is either dropped or slipped (slip 2), and
    /// `counters()` reports both.
    @Test func burstIsLimitedAndCounted() throws {
        let (server, client) = try limitedServer(slip: 2)
        defer { server.stop() }
        let sent = 100
        for id in 0..<sent { try client.send(makeQuery(id: UInt16(id))) }
        var full = 0
        var slipped = 0
        var reads = 0
        let deadline = nowMs() + 1500
        while reads < sent, let reply = client.receive(deadlineMs: min(deadline, nowMs() + 300)) {
            reads += 1
            if reply[2] & 0x02 != 0 { slipped += 1 } else { full += 1 }
            #expect(reply[3] & 0x0F == 5, "the slip keeps the rcode (REFUSED)")
        }
        #expect(full >= 5 && full <= 8, "full replies: \(full)")
        #expect(slipped >= 40 && slipped <= 50, "slipped replies: \(slipped)")
        var c = server.counters()
        let polls = nowMs() + 3000
        while c.rrlDropped + c.rrlSlipped + full < sent && nowMs() < polls {
            usleep(5_000)
            c = server.counters()
        }
        #expect(c.rrlSlipped == slipped)
        #expect(
            c.rrlDropped + c.rrlSlipped + full == sent,
            "\(c.rrlDropped) dropped + \(c.rrlSlipped) slipped + \(full)"
        )
    }

    @Test func exemptNetworksAreNotLimited() throws {
        let rrl = RateLimitOptions(responsesPerSecond: 1, window: 1, slip: 0)  // loopback exempt (default)
        let server = DNSServer(
            endpoints: [ListenEndpoint(host: "127.0.0.1", port: 0)],
            store: AnswerStore(AnswerTable.empty()),
            options: ServerOptions(udpWorkersPerAddress: 1, rateLimit: rrl)
        )
        let bound = try server.start()
        defer { server.stop() }
        let client = try UDPClient(host: bound[0].host, port: bound[0].port)
        for id in 0..<50 {
            try client.send(makeQuery(id: UInt16(id)))
            #expect(client.receive(deadlineMs: nowMs() + 2000) != nil)
        }
        #expect(server.counters().rrlDropped == 0)
    }

    @Test(
        arguments: [
            ([10, 1, 2, 3], 24, "10.1.2.0/24"), ([10, 1, 2, 3], 8, "10.0.0.0/8"), ([10, 1, 2, 3], 32, "10.1.2.3/32"),
            ([0x20, 0x01, 0x0d, 0xb8, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], 56, "2001:db8:102:300::/56"),
            ([0x20, 0x01, 0x0d, 0xb8, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], 72, "2001:db8:102:304:500::/72"),
        ] as [([UInt8], Int, String)]
    )
    func networksMaskTheirAddress(_ bytes: [UInt8], _ prefix: Int, _ text: String) {
        let address: IPAddress = bytes.count == 4 ? .v4(bytes) : .v6(bytes)
        #expect(IPNetwork(address: address, length: prefix).description == text)
    }
}

@Suite struct RateLimitIdentityTests {
    /// Errors (here REFUSED for names outside every zone) share one bucket per network whatever the
    /// name, so a flood of random names is limited too.
    @Test func refusedRepliesForRandomNamesShareABucket() throws {
        let (server, client) = try limitedServer(slip: 0)
        defer { server.stop() }
        for id in 0..<60 {
            var q: [UInt8] = [UInt8(id >> 8), UInt8(id & 0xFF), 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]
            let label = Array("r\(id)".utf8)
            q += [UInt8(label.count)] + label + [7] + Array("example".utf8) + [3] + Array("com".utf8) + [0, 0, 1, 0, 1]
            try client.send(q)
        }
        var replies = 0
        while replies < 60, client.receive(deadlineMs: nowMs() + 400) != nil { replies += 1 }
        #expect(replies >= 5 && replies <= 8, "\(replies) replies to 60 random names")
    }
}
