import Fleet
import Foundation
import Logging
import Synchronization
import TestSupport
import Testing

/// The etcd client against real etcd members on loopback: KV, leases, watch resume and compaction,
/// member failover, username/password authentication and TLS client certificates.
@Suite(
    .serialized,
    .enabled(if: EtcdCluster.binary != nil, "etcd is not installed (scripts/deps.sh installs etcd-server)")
)
struct EtcdClientTests {
    static let logger = Logger(label: "test")

    func client(_ endpoints: [String], configure: (inout EtcdOptions) -> Void = { _ in }) throws -> EtcdClient {
        var o = EtcdOptions(endpoints: endpoints)
        o.requestTimeout = .seconds(1)
        configure(&o)
        return try EtcdClient(options: o, logger: Self.logger)
    }

    @Test func putRangeDelete() async throws {
        let etcd = try EtcdCluster()
        let c = try client(etcd.endpoints)
        let r1 = try await c.put("/gtmd/t/a", Data("1".utf8))
        try await c.put("/gtmd/t/b/c", Data("2".utf8))
        try await c.put("/gtmd/u", Data("outside".utf8))
        let (rev, kvs) = try await c.range(prefix: "/gtmd/t/")
        #expect(rev > r1)
        #expect(kvs.map(\.key).sorted() == ["/gtmd/t/a", "/gtmd/t/b/c"])
        #expect(kvs.first { $0.key == "/gtmd/t/a" }?.value == Data("1".utf8))
        #expect(try await c.delete("/gtmd/t/a") == 1)
        #expect(try await c.delete(prefix: "/gtmd/t/") == 1)
        #expect(try await c.range(prefix: "/gtmd/t/").kvs.isEmpty)
        #expect(try await c.range(prefix: "/gtmd/u").kvs.count == 1)
        await c.shutdown()
    }

    @Test func leaseKeepsAndExpires() async throws {
        let etcd = try EtcdCluster()
        let c = try client(etcd.endpoints)
        let lease = try await c.grantLease(ttl: 3)
        try await c.put("/gtmd/t/leased", Data("x".utf8), lease: lease)
        #expect(try await c.range(prefix: "/gtmd/t/").kvs.first?.lease == lease)
        // Kept alive past its TTL, the key stays.
        for _ in 0..<8 {
            #expect(try await c.keepAlive(lease: lease) > 0)
            try await Task.sleep(for: .milliseconds(500))
        }
        #expect(try await c.range(prefix: "/gtmd/t/").kvs.count == 1)
        // Left alone, it expires with its key.
        let start = Date()
        while try await !c.range(prefix: "/gtmd/t/").kvs.isEmpty {
            #expect(Date().timeIntervalSince(start) < 10, "leased key still there after 10 s")
            if Date().timeIntervalSince(start) > 10 { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        await #expect(throws: EtcdError.self) { try await c.keepAlive(lease: lease) }
        await c.shutdown()
    }

    /// Collects watch batches for the tests.
    final class Seen: Sendable {
        let events = Mutex<[(Int64, EtcdEvent)]>([])
        func add(_ rev: Int64, _ es: [EtcdEvent]) { events.withLock { $0 += es.map { (rev, $0) } } }
        var keys: [String] { events.withLock { $0.map { "\($0.1.kind == .put ? "put" : "del") \($0.1.kv.key)" } } }
    }

    /// Polls until `condition` holds; gives up after `timeout`, checking once more after it (a starved task
    /// must not fail a condition it never looked at).
    func eventually(_ what: String, timeout: Double = 30, _ condition: () async throws -> Bool) async throws {
        let start = Date()
        while Date().timeIntervalSince(start) < timeout {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        if try await condition() { return }
        Issue.record("timed out: \(what)")
        throw CancellationError()
    }

    @Test func watchFromRevisionSeesPastAndFutureChanges() async throws {
        let etcd = try EtcdCluster()
        let c = try client(etcd.endpoints)
        let r1 = try await c.put("/gtmd/t/a", Data("1".utf8))
        try await c.put("/gtmd/t/a", Data("2".utf8))
        let seen = Seen()
        let task = Task { try await c.watch(prefix: "/gtmd/t/", startRevision: r1 + 1) { seen.add($0, $1) } }
        try await eventually("the past put") { seen.keys == ["put /gtmd/t/a"] }
        try await c.put("/gtmd/other", Data())
        try await c.delete("/gtmd/t/a")
        try await eventually("the delete") { seen.keys == ["put /gtmd/t/a", "del /gtmd/t/a"] }
        task.cancel()
        _ = await task.result
        await c.shutdown()
    }

    @Test func watchFromCompactedRevisionSaysSo() async throws {
        let etcd = try EtcdCluster()
        let c = try client(etcd.endpoints)
        let r1 = try await c.put("/gtmd/t/a", Data("1".utf8))
        let r2 = try await c.put("/gtmd/t/a", Data("2".utf8))
        _ = try etcd.call("/v3/kv/compaction", ["revision": String(r2)])
        do {
            try await c.watch(prefix: "/gtmd/t/", startRevision: r1) { _, _ in }
            Issue.record("the watch from a compacted revision did not fail")
        } catch EtcdError.compacted(let oldest) {
            #expect(oldest == r2)
        }
        await c.shutdown()
    }

    /// Three members; the client's first endpoint is killed: calls and a resumed watch go on through the others.
    @Test func failoverAcrossMembers() async throws {
        let etcd = try EtcdCluster(size: 3)
        let c = try client(etcd.endpoints)
        try await c.put("/gtmd/t/before", Data())
        let seen = Seen()
        let watch = Task {
            var next: Int64 = 1
            for _ in 0..<20 where !Task.isCancelled {
                do {
                    try await c.watch(prefix: "/gtmd/t/", startRevision: next) { rev, es in
                        seen.add(rev, es)
                        next = rev + 1
                    }
                } catch is CancellationError { return } catch {}
                try? await Task.sleep(for: .milliseconds(50))
            }
        }
        try await eventually("watch saw the first key") { seen.keys.contains("put /gtmd/t/before") }
        etcd.kill(0)
        try await c.put("/gtmd/t/after", Data())
        #expect(try await c.range(prefix: "/gtmd/t/").kvs.count == 2)
        try await eventually("resumed watch saw the key written after the kill") {
            seen.keys.contains("put /gtmd/t/after")
        }
        #expect(seen.keys.filter { $0 == "put /gtmd/t/before" }.count == 1, "resumed from the next revision, no replay")
        etcd.kill(1)
        etcd.kill(2)
        await #expect(throws: EtcdError.self) { try await c.put("/gtmd/t/none", Data()) }
        watch.cancel()
        _ = await watch.result
        await c.shutdown()
    }

    @Test func usernamePasswordFromFiles() async throws {
        let etcd = try EtcdCluster()
        for args in [
            ["user", "add", "root:rootpw"], ["role", "add", "gtmd-t"],
            ["role", "grant-permission", "gtmd-t", "readwrite", "/gtmd/t/", "--prefix=true"],
            ["user", "add", "gtmd:s3cret"], ["user", "grant-role", "gtmd", "gtmd-t"], ["auth", "enable"],
        ] {
            let r = try run("/usr/bin/env", ["ETCDCTL_API=3", "etcdctl", "--endpoints", etcd.endpoints[0]] + args)
            #expect(r.status == 0, "etcdctl \(args): \(r.stderr)")
        }
        let dir = etcd.folder
        try "gtmd\n".write(toFile: "\(dir)/user", atomically: true, encoding: .utf8)
        try "s3cret\n".write(toFile: "\(dir)/pass", atomically: true, encoding: .utf8)
        try "wrong\n".write(toFile: "\(dir)/badpass", atomically: true, encoding: .utf8)
        let c = try client(etcd.endpoints) {
            $0.usernameFile = "\(dir)/user"
            $0.passwordFile = "\(dir)/pass"
        }
        try await c.put("/gtmd/t/a", Data("1".utf8))
        #expect(try await c.range(prefix: "/gtmd/t/").kvs.count == 1)
        // The role covers the prefix only.
        do {
            try await c.put("/gtmd/other", Data())
            Issue.record("write outside the role's prefix accepted")
        } catch EtcdError.server(let code, _) {
            #expect(code == 7)
        }
        await c.shutdown()
        let bad = try client(etcd.endpoints) {
            $0.usernameFile = "\(dir)/user"
            $0.passwordFile = "\(dir)/badpass"
        }
        do {
            try await bad.put("/gtmd/t/a", Data())
            Issue.record("wrong password accepted")
        } catch EtcdError.credentials(let m) {
            #expect(!m.contains("wrong"), "the password must not appear in errors: \(m)")
        }
        await bad.shutdown()
    }

    @Test func tlsClientCertificate() async throws {
        let dir = NSTemporaryDirectory() + "gtmd-etcd-tls-\(getpid())-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func openssl(_ args: [String]) throws {
            let r = try run("/usr/bin/openssl", args)
            if r.status != 0 { throw TestError.failed("openssl \(args): \(r.stderr)") }
        }
        try openssl([
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
            "-subj", "/CN=gtmd test CA", "-keyout", "\(dir)/ca.key", "-out", "\(dir)/ca.pem",
        ])
        // The member's certificate is also a client one: etcd's JSON gateway dials the member's own gRPC with it.
        for (name, ext) in [
            ("server", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth"),
            ("client", "extendedKeyUsage=clientAuth"),
        ] {
            try ext.write(toFile: "\(dir)/\(name).ext", atomically: true, encoding: .utf8)
            try openssl([
                "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj", "/CN=\(name)",
                "-keyout", "\(dir)/\(name).key", "-out", "\(dir)/\(name).csr",
            ])
            try openssl([
                "x509", "-req", "-in", "\(dir)/\(name).csr", "-CA", "\(dir)/ca.pem", "-CAkey", "\(dir)/ca.key",
                "-CAcreateserial", "-days", "2", "-extfile", "\(dir)/\(name).ext", "-out", "\(dir)/\(name).pem",
            ])
        }
        let port = try LoopbackNet.freePort(on: ["127.0.0.1"])
        let peer = try LoopbackNet.freePort(on: ["127.0.0.1"])
        let p = Process()
        p.executableURL = URL(fileURLWithPath: EtcdCluster.binary!)
        p.arguments = [
            "--name", "tls", "--data-dir", "\(dir)/data",
            "--listen-client-urls", "https://127.0.0.1:\(port)", "--advertise-client-urls", "https://127.0.0.1:\(port)",
            "--listen-peer-urls", "http://127.0.0.1:\(peer)", "--initial-advertise-peer-urls",
            "http://127.0.0.1:\(peer)",
            "--initial-cluster", "tls=http://127.0.0.1:\(peer)",
            "--cert-file", "\(dir)/server.pem", "--key-file", "\(dir)/server.key",
            "--client-cert-auth", "--trusted-ca-file", "\(dir)/ca.pem", "--log-level", "error", "--logger", "zap",
        ]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        defer {
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
        }
        let endpoint = "https://127.0.0.1:\(port)"
        let c = try client([endpoint]) {
            $0.caFile = "\(dir)/ca.pem"
            $0.certFile = "\(dir)/client.pem"
            $0.keyFile = "\(dir)/client.key"
        }
        var last = ""
        try await eventually("TLS member answers (\(last))", timeout: 20) {
            do {
                try await c.put("/gtmd/t/tls", Data("1".utf8))
                return true
            } catch {
                last = "\(error)"
                return false
            }
        }
        #expect(try await c.range(prefix: "/gtmd/t/").kvs.count == 1)
        await c.shutdown()
        // Without a client certificate the member refuses the connection.
        let anon = try client([endpoint]) { $0.caFile = "\(dir)/ca.pem" }
        await #expect(throws: EtcdError.self) { try await anon.put("/gtmd/t/x", Data()) }
        await anon.shutdown()
    }
}
