import Foundation

/// A real etcd cluster (Debian's `etcd` binary) of 1-3 members on 127.0.0.1, on ports checked free, with
/// data folders in a fresh temporary folder. Members can be killed and restarted; `stop()` (and deinit)
/// kills every member and removes the folder.
public final class EtcdCluster: @unchecked Sendable {  // used from one test at a time
    public struct Member {
        public var name: String
        public var clientPort: Int
        public var peerPort: Int
        public var url: String { "http://127.0.0.1:\(clientPort)" }
    }
    public let members: [Member]
    public let folder: String
    private var processes: [Int: Process] = [:]
    public var endpoints: [String] { members.map(\.url) }

    /// Where etcd is, or nil (tests then say why they are skipped).
    public static var binary: String? {
        ["/usr/bin/etcd", "/usr/local/bin/etcd"].first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    public init(size: Int = 1) throws {
        guard let bin = Self.binary else {
            throw TestError.failed("etcd is not installed (scripts/deps.sh installs etcd-server)")
        }
        folder = NSTemporaryDirectory() + "gtmd-etcd-\(getpid())-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        var ms: [Member] = []
        var used = Set<Int>()
        for i in 0..<size {
            var c = 0
            var p = 0
            repeat { c = try LoopbackNet.freePort(on: ["127.0.0.1"]) } while used.contains(c)
            used.insert(c)
            repeat { p = try LoopbackNet.freePort(on: ["127.0.0.1"]) } while used.contains(p)
            used.insert(p)
            ms.append(Member(name: "m\(i)", clientPort: c, peerPort: p))
        }
        members = ms
        _ = bin
        for i in members.indices { try start(i) }
        try waitHealthy()
    }

    /// Starts (or restarts, keeping its data) member `i`.
    public func start(_ i: Int) throws {
        let m = members[i]
        let cluster = members.map { "\($0.name)=http://127.0.0.1:\($0.peerPort)" }.joined(separator: ",")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.binary!)
        p.arguments = [
            "--name", m.name, "--data-dir", "\(folder)/\(m.name)",
            "--listen-client-urls", m.url, "--advertise-client-urls", m.url,
            "--listen-peer-urls", "http://127.0.0.1:\(m.peerPort)",
            "--initial-advertise-peer-urls", "http://127.0.0.1:\(m.peerPort)",
            "--initial-cluster", cluster, "--initial-cluster-state", "new",
            "--initial-cluster-token", "gtmd-test-\(getpid())",
            "--heartbeat-interval", "50", "--election-timeout", "500",
            "--log-level", "error", "--logger", "zap",
        ]
        let log =
            FileHandle(forWritingAtPath: "\(folder)/\(m.name).log")
            ?? {
                FileManager.default.createFile(atPath: "\(folder)/\(m.name).log", contents: nil)
                return FileHandle(forWritingAtPath: "\(folder)/\(m.name).log")!
            }()
        log.seekToEndOfFile()
        p.standardOutput = log
        p.standardError = log
        try p.run()
        processes[i] = p
    }

    /// SIGKILL member `i` and wait until it is gone.
    public func kill(_ i: Int) {
        guard let p = processes[i] else { return }
        Foundation.kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        processes[i] = nil
    }

    /// Waits until every running member answers a linearizable read.
    public func waitHealthy(timeout: Double = 20) throws {
        for (i, m) in members.enumerated() where processes[i] != nil {
            try waitFor("etcd member \(m.name) healthy", timeout: timeout, interval: 0.1) {
                guard
                    let r = try? httpRequest(
                        "127.0.0.1",
                        m.clientPort,
                        "POST",
                        "/v3/kv/range",
                        body: "{\"key\":\"AA==\"}"
                    )
                else { return false }
                return r.status == 200
            }
        }
    }

    /// A unary JSON call to member `i` (for test set-up and checks), returning the parsed object.
    public func call(
        _ path: String,
        _ body: [String: Any],
        member i: Int = 0,
        token: String? = nil
    ) throws -> [String: Any] {
        let data = try JSONSerialization.data(withJSONObject: body)
        var headers: [String: String] = ["Content-Type": "application/json"]
        if let token { headers["Authorization"] = token }
        let r = try httpRequest(
            "127.0.0.1",
            members[i].clientPort,
            "POST",
            path,
            headers: headers,
            body: String(decoding: data, as: UTF8.self)
        )
        let obj = (try? JSONSerialization.jsonObject(with: Data(r.body.utf8))) as? [String: Any] ?? [:]
        if r.status != 200 { throw TestError.failed("etcd \(path): HTTP \(r.status): \(r.body)") }
        return obj
    }

    /// Every key under a prefix with its value as text.
    public func keys(prefix: String, member i: Int = 0) throws -> [String: String] {
        var end = Array(prefix.utf8)
        end[end.count - 1] += 1
        let obj = try call(
            "/v3/kv/range",
            [
                "key": Data(prefix.utf8).base64EncodedString(),
                "range_end": Data(end).base64EncodedString(),
            ],
            member: i
        )
        var out: [String: String] = [:]
        for kv in obj["kvs"] as? [[String: Any]] ?? [] {
            let k = String(decoding: Data(base64Encoded: kv["key"] as? String ?? "") ?? Data(), as: UTF8.self)
            out[k] = String(decoding: Data(base64Encoded: kv["value"] as? String ?? "") ?? Data(), as: UTF8.self)
        }
        return out
    }

    public func stop() {
        for i in members.indices { kill(i) }
        try? FileManager.default.removeItem(atPath: folder)
    }

    deinit { stop() }
}
