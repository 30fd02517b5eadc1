import Answers
import CSockets
import HealthModel
import Server
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Starts a server with an empty answer table (every IN query is REFUSED) on 127.0.0.1 (and ::1 when `ipv6`), runs `body`, stops it.
private func withServer(
    _ options: ServerOptions = ServerOptions(udpWorkersPerAddress: 2),
    ipv6: Bool = false,
    _ body: (DNSServer, [ListenEndpoint]) throws -> Void
) throws {
    var endpoints = [ListenEndpoint(host: "127.0.0.1", port: 0)]
    if ipv6 { endpoints.append(ListenEndpoint(host: "::1", port: 0)) }
    let server = DNSServer(endpoints: endpoints, store: AnswerStore(AnswerTable.empty()), options: options)
    let bound = try server.start()
    defer { server.stop() }
    try body(server, bound)
}

/// Checks the reply of an empty table to `makeQuery(id:)`: same id, QR set, rcode REFUSED.
private func expectStubReply(_ reply: [UInt8]?, id: UInt16, sourceLocation: SourceLocation = #_sourceLocation) {
    guard let reply else {
        Issue.record("no reply for id \(id)", sourceLocation: sourceLocation)
        return
    }
    #expect(reply.count >= 12, sourceLocation: sourceLocation)
    guard reply.count >= 12 else { return }
    #expect(messageID(reply) == id, sourceLocation: sourceLocation)
    #expect(reply[2] & 0x80 != 0, "QR set", sourceLocation: sourceLocation)
    #expect(reply[3] & 0x0F == 5, "rcode REFUSED", sourceLocation: sourceLocation)
}

@Suite struct UDPTests {
    @Test func answersOnEveryEndpoint() throws {
        let v6 = ipv6LoopbackAvailable()
        try withServer(ServerOptions(udpWorkersPerAddress: 2), ipv6: v6) { _, bound in
            #expect(bound.count == (v6 ? 2 : 1))
            for (i, ep) in bound.enumerated() {
                #expect(ep.port > 0)
                let client = try UDPClient(host: ep.host, port: ep.port)
                let id = UInt16(0x1000 + i)
                try client.send(makeQuery(id: id))
                expectStubReply(client.receive(deadlineMs: nowMs() + 2000), id: id)
            }
        }
    }

    @Test func manyQueriesFromOneSocketAreAllAnswered() throws {
        try withServer(ServerOptions(udpWorkersPerAddress: 2, udpBatchSize: 32)) { server, bound in
            let client = try UDPClient(host: bound[0].host, port: bound[0].port)
            let waves = 3
            let perWave = 100
            for wave in 0..<waves {
                let ids = (0..<perWave).map { UInt16(wave * perWave + $0) }
                for id in ids { try client.send(makeQuery(id: id)) }
                var seen = Set<UInt16>()
                let deadline = nowMs() + 3000
                var reads = 0
                while seen.count < perWave && reads < perWave * 2 {
                    reads += 1
                    guard let reply = client.receive(deadlineMs: deadline) else { break }
                    expectStubReply(reply, id: messageID(reply))
                    seen.insert(messageID(reply))
                }
                #expect(seen == Set(ids), "wave \(wave): \(seen.count)/\(perWave) answered")
            }
            #expect(eventually { server.counters().queries >= waves * perWave })
        }
    }

    /// UDP listeners never set DF and ignore the path MTU that ICMP reports (anyone can forge it to have
    /// answers fragmented): IP_PMTUDISC_OMIT / IPV6_PMTUDISC_OMIT, as the kernel reports it back.
    @Test(arguments: [
        ("127.0.0.1", Int(IPPROTO_IP), Int(IP_MTU_DISCOVER)), ("::1", Int(IPPROTO_IPV6), Int(IPV6_MTU_DISCOVER)),
    ])
    func udpListenersIgnorePathMTU(_ host: String, _ level: Int, _ option: Int) throws {
        let fd = gtmd_udp_socket(host, 0, 0, 0)
        try #require(fd >= 0, "socket on \(host): errno \(-fd)")
        defer { close(fd) }
        var value: Int32 = -1
        var length = socklen_t(MemoryLayout<Int32>.size)
        #expect(getsockopt(fd, Int32(level), Int32(option), &value, &length) == 0)
        #expect(value == 5)  // IP_PMTUDISC_OMIT, IPV6_PMTUDISC_OMIT
    }

    /// On a wildcard socket the reply must leave from the address the query was sent to: a query to
    /// 127.0.0.2 (from 127.0.0.1) is answered from 127.0.0.2, or the connected client would not accept it.
    @Test func wildcardRepliesFromTheQueriedAddress() throws {
        let server = DNSServer(
            endpoints: [ListenEndpoint(host: "0.0.0.0", port: 0)],
            store: AnswerStore(AnswerTable.empty()),
            options: ServerOptions(udpWorkersPerAddress: 1)
        )
        let bound = try server.start()
        defer { server.stop() }
        for (i, host) in ["127.0.0.2", "127.0.0.1"].enumerated() {
            let client = try UDPClient(host: host, port: bound[0].port)
            try client.send(makeQuery(id: UInt16(60 + i)))
            expectStubReply(client.receive(deadlineMs: nowMs() + 2000), id: UInt16(60 + i))
        }
    }

    @Test func oversizedAndShortDatagramsAreDropped() throws {
        try withServer { server, bound in
            let client = try UDPClient(host: bound[0].host, port: bound[0].port)
            var big = makeQuery(id: 7)
            big += [UInt8](repeating: 0, count: 6000 - big.count)
            try client.send(big)
            try client.send([1, 2, 3, 4, 5])
            try client.send(makeQuery(id: 8))
            // Only the well-formed query is answered (datagrams on one socket stay in order).
            expectStubReply(client.receive(deadlineMs: nowMs() + 2000), id: 8)
            #expect(client.receive(deadlineMs: nowMs() + 100) == nil)
            #expect(eventually { server.counters().dropped >= 2 })
        }
    }
}

@Suite struct TCPTests {
    @Test func pipelinedQueriesAreAnsweredInOrder() throws {
        let v6 = ipv6LoopbackAvailable()
        try withServer(ServerOptions(udpWorkersPerAddress: 1), ipv6: v6) { _, bound in
            for ep in bound {
                let conn = try TCPClient(host: ep.host, port: ep.port)
                // Ten queries in one write.
                var burst: [UInt8] = []
                for id in 0..<10 {
                    let q = makeQuery(id: UInt16(100 + id))
                    burst += [UInt8(q.count >> 8), UInt8(q.count & 0xFF)] + q
                }
                try conn.send(burst)
                let deadline = nowMs() + 3000
                for id in 0..<10 {
                    expectStubReply(conn.receiveFramed(deadlineMs: deadline), id: UInt16(100 + id))
                }
                // A query split across writes, on the same connection.
                let q = makeQuery(id: 555)
                try conn.send([0, UInt8(q.count)] + q[0..<5])
                usleep(20_000)
                try conn.send(Array(q[5...]))
                expectStubReply(conn.receiveFramed(deadlineMs: nowMs() + 2000), id: 555)
            }
        }
    }

    @Test func droppedQueryClosesAfterEarlierReplies() throws {
        try withServer(ServerOptions(udpWorkersPerAddress: 1)) { _, bound in
            let conn = try TCPClient(host: bound[0].host, port: bound[0].port)
            var response = makeQuery(id: 9)
            response[2] |= 0x80  // QR set: the responder drops it
            try conn.sendFramed(makeQuery(id: 1))
            try conn.sendFramed(response)
            expectStubReply(conn.receiveFramed(deadlineMs: nowMs() + 2000), id: 1)
            #expect(conn.waitForClose(deadlineMs: nowMs() + 2000))
        }
    }

    @Test func zeroLengthMessageCloses() throws {
        try withServer(ServerOptions(udpWorkersPerAddress: 1)) { _, bound in
            let conn = try TCPClient(host: bound[0].host, port: bound[0].port)
            try conn.send([0, 0])
            #expect(conn.waitForClose(deadlineMs: nowMs() + 2000))
        }
    }

    @Test func idleConnectionIsClosed() throws {
        let options = ServerOptions(udpWorkersPerAddress: 1, tcpIdleTimeout: .milliseconds(300))
        try withServer(options) { _, bound in
            let conn = try TCPClient(host: bound[0].host, port: bound[0].port)
            try conn.sendFramed(makeQuery(id: 3))
            let start = nowMs()
            expectStubReply(conn.receiveFramed(deadlineMs: start + 2000), id: 3)
            #expect(conn.waitForClose(deadlineMs: start + 3000))
            #expect(nowMs() - start >= 200, "closed too early")
        }
    }

    @Test func slowQueryIsClosed() throws {
        let options = ServerOptions(
            udpWorkersPerAddress: 1,
            tcpIdleTimeout: .seconds(30),
            tcpQueryTimeout: .milliseconds(300)
        )
        try withServer(options) { _, bound in
            let conn = try TCPClient(host: bound[0].host, port: bound[0].port)
            let start = nowMs()
            try conn.send([0])  // first byte of a length prefix, then nothing
            #expect(conn.waitForClose(deadlineMs: start + 3000))
            #expect(nowMs() - start >= 200, "closed too early")
        }
    }

    @Test func totalConnectionCap() throws {
        let options = ServerOptions(udpWorkersPerAddress: 1, tcpMaxConnections: 2, tcpMaxConnectionsPerClient: 10)
        try withServer(options) { _, bound in
            let ep = bound[0]
            var first: TCPClient? = try TCPClient(host: ep.host, port: ep.port)
            let second = try TCPClient(host: ep.host, port: ep.port)
            for (i, c) in [first!, second].enumerated() {
                try c.sendFramed(makeQuery(id: UInt16(i)))
                expectStubReply(c.receiveFramed(deadlineMs: nowMs() + 2000), id: UInt16(i))
            }
            let third = try TCPClient(host: ep.host, port: ep.port)
            #expect(third.waitForClose(deadlineMs: nowMs() + 2000), "third connection must be closed")
            // Closing one frees a slot (released asynchronously, so retry within a bound).
            first = nil
            var accepted = false
            for attempt in 0..<50 where !accepted {
                let c = try TCPClient(host: ep.host, port: ep.port)
                try c.sendFramed(makeQuery(id: UInt16(200 + attempt)))
                accepted = c.receiveFramed(deadlineMs: nowMs() + 1000) != nil
                if !accepted { usleep(20_000) }
            }
            #expect(accepted)
            _ = first
        }
    }

    @Test func perClientConnectionCap() throws {
        let options = ServerOptions(udpWorkersPerAddress: 1, tcpMaxConnections: 10, tcpMaxConnectionsPerClient: 1)
        try withServer(options) { _, bound in
            let ep = bound[0]
            let first = try TCPClient(host: ep.host, port: ep.port)
            try first.sendFramed(makeQuery(id: 1))
            expectStubReply(first.receiveFramed(deadlineMs: nowMs() + 2000), id: 1)
            let second = try TCPClient(host: ep.host, port: ep.port)
            #expect(second.waitForClose(deadlineMs: nowMs() + 2000))
        }
    }
}

/// Deterministic pseudo-random bytes so a failure can be reproduced.
extension SplitMix64 {
    fileprivate mutating func bytes(_ n: Int) -> [UInt8] { (0..<n).map { _ in UInt8(truncatingIfNeeded: next()) } }
}

@Suite struct RobustnessTests {
    @Test func garbageNeverStopsTheServer() throws {
        try withServer { _, bound in
            let ep = bound[0]
            var rng = SplitMix64(seed: 2024)
            let udp = try UDPClient(host: ep.host, port: ep.port)
            for i in 0..<300 {
                var packet: [UInt8]
                if i % 2 == 0 {
                    packet = rng.bytes(Int(rng.next() % 600))
                } else {
                    // A real query with a few bytes flipped.
                    packet = makeQuery(id: UInt16(i))
                    for _ in 0..<3 {
                        packet[Int(rng.next() % UInt64(packet.count))] = UInt8(truncatingIfNeeded: rng.next())
                    }
                }
                try udp.send(packet)
            }
            for _ in 0..<20 {
                let conn = try TCPClient(host: ep.host, port: ep.port)
                try? conn.send(rng.bytes(1 + Int(rng.next() % 300)))
            }
            // Still serving on both transports.
            let check = try UDPClient(host: ep.host, port: ep.port)
            try check.send(makeQuery(id: 77))
            expectStubReply(check.receive(deadlineMs: nowMs() + 2000), id: 77)
            let conn = try TCPClient(host: ep.host, port: ep.port)
            try conn.sendFramed(makeQuery(id: 78))
            expectStubReply(conn.receiveFramed(deadlineMs: nowMs() + 2000), id: 78)
        }
    }
}

@Suite struct LifecycleTests {
    @Test func stopIsPromptAndFinal() throws {
        let server = DNSServer(
            endpoints: [ListenEndpoint(host: "127.0.0.1", port: 0)],
            store: AnswerStore(AnswerTable.empty()),
            options: ServerOptions(udpWorkersPerAddress: 4)
        )
        let bound = try server.start()
        #expect(throws: ServerError.self) { _ = try server.start() }
        let client = try UDPClient(host: bound[0].host, port: bound[0].port)
        try client.send(makeQuery(id: 42))
        expectStubReply(client.receive(deadlineMs: nowMs() + 2000), id: 42)

        let start = nowMs()
        server.stop()
        let elapsed = nowMs() - start
        #expect(elapsed < 1000, "stop() took \(elapsed) ms")
        server.stop()  // idempotent
        #expect(server.counters().queries >= 1)

        // Nothing answers any more.
        try? client.send(makeQuery(id: 43))
        #expect(client.receive(deadlineMs: nowMs() + 200) == nil)
        #expect(throws: SocketError.self) { _ = try TCPClient(host: bound[0].host, port: bound[0].port) }
    }

    @Test func bindFailureNamesTheAddress() throws {
        let blocker = try TCPBlocker()
        let server = DNSServer(
            endpoints: [ListenEndpoint(host: "127.0.0.1", port: blocker.port)],
            store: AnswerStore(AnswerTable.empty()),
            options: ServerOptions(udpWorkersPerAddress: 1)
        )
        do {
            _ = try server.start()
            Issue.record("start() should fail while the TCP port is taken")
            server.stop()
        } catch let error as ServerError {
            let text = "\(error)"
            #expect(text.contains("127.0.0.1:\(blocker.port)"), "\(text)")
            #expect(text.contains("TCP"), "\(text)")
            #expect(text.contains("in use"), "\(text)")
        }
        // The UDP socket bound before the TCP failure was closed again.
        #expect(canBindUDP(host: "127.0.0.1", port: blocker.port))
    }

    @Test func badAddressIsRejected() throws {
        let server = DNSServer(
            endpoints: [ListenEndpoint(host: "dns.example", port: 53)],
            store: AnswerStore(AnswerTable.empty())
        )
        do {
            _ = try server.start()
            Issue.record("start() should fail")
            server.stop()
        } catch let error as ServerError {
            #expect("\(error)".contains("dns.example"))
        }
    }
}
