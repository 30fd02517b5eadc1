import AsyncHTTPClient
import ConfigText
import DNSWire
import FoundationEssentials
import Glibc
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL
import Synchronization

/// Where and how to reach etcd. Credentials are file paths; their contents are read when needed and
/// never logged or kept in a printable value.
public struct EtcdOptions: Sendable {
    public var endpoints: [String]
    public var requestTimeout: Duration = .seconds(2)
    public var caFile: String? = nil
    public var certFile: String? = nil
    public var keyFile: String? = nil
    public var usernameFile: String? = nil
    public var passwordFile: String? = nil
    public init(endpoints: [String]) { self.endpoints = endpoints }
}

/// One key and its value as etcd holds it.
public struct EtcdKeyValue: Sendable, Hashable {
    public var key: String
    public var value: Data
    public var modRevision: Int64
    public var lease: Int64
    public init(key: String, value: Data, modRevision: Int64 = 0, lease: Int64 = 0) {
        self.key = key
        self.value = value
        self.modRevision = modRevision
        self.lease = lease
    }
}

/// A change seen by a watch.
public struct EtcdEvent: Sendable, Hashable {
    public enum Kind: Sendable, Hashable { case put, delete }
    public var kind: Kind
    public var kv: EtcdKeyValue
    public init(kind: Kind, kv: EtcdKeyValue) {
        self.kind = kind
        self.kv = kv
    }
}

public enum EtcdError: Error, CustomStringConvertible, Sendable {
    /// No member answered (each one's problem, in order tried).
    case unavailable([String])
    /// A member answered with a gRPC status (code, message).
    case server(code: Int, message: String)
    /// The watch's start revision was compacted away; resume with a full read.
    case compacted(Int64)
    case leaseExpired(Int64)
    case credentials(String)
    case malformed(String)

    public var description: String {
        switch self {
        case .unavailable(let p): return "no etcd member reachable (\(p.joined(separator: "; ")))"
        case .server(let c, let m): return "etcd: \(m) (code \(c))"
        case .compacted(let r): return "etcd: watch revision compacted (oldest kept: \(r))"
        case .leaseExpired(let id): return "etcd: lease \(id) expired"
        case .credentials(let m): return "etcd credentials: \(m)"
        case .malformed(let m): return "etcd: unexpected reply: \(m)"
        }
    }
}

/// etcd v3 through its JSON gateway (`/v3/...`) over AsyncHTTPClient: range, put, delete, leases and
/// watch as a streaming reply. Requests go to the member that last answered and fail over to the next
/// one on connection errors, timeouts and `Unavailable`; with username/password it authenticates once
/// and again when the token is refused.
public final class EtcdClient: Sendable {
    public let options: EtcdOptions
    let http: HTTPClient
    let logger: Logger
    private let preferred = Mutex<Int>(0)
    private let token = Mutex<String?>(nil)

    public init(options: EtcdOptions, logger: Logger) throws {
        precondition(!options.endpoints.isEmpty, "at least one etcd endpoint")
        self.options = options
        self.logger = logger
        var config = HTTPClient.Configuration()
        if options.endpoints.contains(where: { $0.hasPrefix("https:") }) || options.certFile != nil {
            var tls = TLSConfiguration.makeClientConfiguration()
            do {
                if let ca = options.caFile {
                    tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(Self.expand(ca)))
                }
                if let cert = options.certFile, let key = options.keyFile {
                    tls.certificateChain = try NIOSSLCertificate.fromPEMFile(Self.expand(cert)).map { .certificate($0) }
                    tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: Self.expand(key), format: .pem))
                }
            } catch {
                throw EtcdError.credentials("cannot load the TLS files: \(error)")
            }
            config.tlsConfiguration = tls
        }
        config.timeout = .init(connect: .milliseconds(Int64(Self.millis(options.requestTimeout))), read: nil)
        config.connectionPool = .init(idleTimeout: .seconds(30))
        self.http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
    }

    public func shutdown() async {
        try? await http.shutdown()
    }

    deinit {
        // A client dropped without shutdown() (an error path) still releases its connections.
        try? http.syncShutdown()
    }

    static func millis(_ d: Duration) -> Int {
        Int(d.components.seconds) * 1000 + Int(d.components.attoseconds / 1_000_000_000_000_000)
    }

    /// `${CREDENTIALS_DIRECTORY}/name` → the systemd credentials folder (LoadCredential=).
    static func expand(_ path: String) -> String {
        let key = "${CREDENTIALS_DIRECTORY}"
        guard path.hasPrefix(key) else { return path }
        let dir = ProcessEnvironment.current["CREDENTIALS_DIRECTORY"] ?? ""
        return dir + path.dropFirst(key.count)
    }

    /// The file's first line, without the line end. The text is a secret: errors name the file only.
    static func secret(_ path: String) throws -> String {
        let p = expand(path)
        guard let data = FileManager.default.contents(atPath: p), let text = String(data: data, encoding: .utf8) else {
            throw EtcdError.credentials("cannot read \(p)")
        }
        let line = text.split(separator: "\n", omittingEmptySubsequences: false).first.map(String.init) ?? ""
        let value = line.hasSuffix("\r") ? String(line.dropLast()) : line
        if value.isEmpty { throw EtcdError.credentials("\(p) is empty") }
        return value
    }

    // MARK: - KV

    /// Every key under `prefix` and the store's revision at the time of the read.
    public func range(prefix: String) async throws -> (revision: Int64, kvs: [EtcdKeyValue]) {
        let reply = try await call(
            "/v3/kv/range",
            ["key": Self.b64(prefix), "range_end": Self.b64(Self.prefixEnd(prefix))]
        )
        let rev = Self.int64(Self.header(reply)["revision"]) ?? 0
        let kvs = try (reply["kvs"] as? [[String: Any]] ?? []).map(Self.keyValue)
        return (rev, kvs)
    }

    /// Sets a key (under a lease when given); returns the new revision.
    @discardableResult
    public func put(_ key: String, _ value: Data, lease: Int64? = nil) async throws -> Int64 {
        var body: [String: Any] = ["key": Self.b64(key), "value": value.base64EncodedString()]
        if let lease { body["lease"] = String(lease) }
        let reply = try await call("/v3/kv/put", body)
        return Self.int64(Self.header(reply)["revision"]) ?? 0
    }

    /// Sets several keys in one transaction (etcd allows 128 operations per transaction by default).
    @discardableResult
    public func putAll(_ items: [(String, Data)], lease: Int64? = nil) async throws -> Int64 {
        let ops: [[String: Any]] = items.map { k, v in
            var put: [String: Any] = ["key": Self.b64(k), "value": v.base64EncodedString()]
            if let lease { put["lease"] = String(lease) }
            return ["request_put": put]
        }
        let reply = try await call("/v3/kv/txn", ["success": ops])
        return Self.int64(Self.header(reply)["revision"]) ?? 0
    }

    /// Deletes one key; returns how many were deleted.
    @discardableResult
    public func delete(_ key: String) async throws -> Int {
        let reply = try await call("/v3/kv/deleterange", ["key": Self.b64(key)])
        return Int(Self.int64(reply["deleted"]) ?? 0)
    }

    /// Deletes every key under a prefix; returns how many were deleted.
    @discardableResult
    public func delete(prefix: String) async throws -> Int {
        let reply = try await call(
            "/v3/kv/deleterange",
            ["key": Self.b64(prefix), "range_end": Self.b64(Self.prefixEnd(prefix))]
        )
        return Int(Self.int64(reply["deleted"]) ?? 0)
    }

    // MARK: - Leases

    public func grantLease(ttl: Int) async throws -> Int64 {
        let reply = try await call("/v3/lease/grant", ["TTL": ttl])
        guard let id = Self.int64(reply["ID"]), id != 0 else { throw EtcdError.malformed("lease grant without an ID") }
        return id
    }

    /// Renews a lease once; returns its remaining TTL in seconds. Throws `leaseExpired` when it is gone.
    @discardableResult
    public func keepAlive(lease: Int64) async throws -> Int {
        let reply: [String: Any]
        do { reply = try await call("/v3/lease/keepalive", ["ID": String(lease)]) } catch EtcdError.server(let code, _)
            where code == 5
        {
            throw EtcdError.leaseExpired(lease)  // NotFound: "requested lease not found"
        }
        let result = reply["result"] as? [String: Any] ?? reply
        guard let ttl = Self.int64(result["TTL"]), ttl > 0 else { throw EtcdError.leaseExpired(lease) }
        return Int(ttl)
    }

    public func revoke(lease: Int64) async throws {
        _ = try await call("/v3/lease/revoke", ["ID": String(lease)])
    }

    // MARK: - Watch

    /// Streams the changes under `prefix` from `startRevision` on, handing each batch with the revision it
    /// brings the reader to. Returns when the member ends the stream; throws `compacted` when the start
    /// revision is gone (read everything again, then watch from the read's revision + 1).
    public func watch(
        prefix: String,
        startRevision: Int64,
        onBatch: (_ revision: Int64, _ events: [EtcdEvent]) async -> Void
    ) async throws {
        let body: [String: Any] = [
            "create_request": [
                "key": Self.b64(prefix), "range_end": Self.b64(Self.prefixEnd(prefix)),
                "start_revision": String(startRevision), "progress_notify": true,
            ]
        ]
        let (endpoint, response) = try await open("/v3/watch", body, deadline: .distantFuture)
        var pending = Data()
        var created = false
        for try await chunk in response.body {
            pending.append(contentsOf: chunk.readableBytesView)
            while let nl = pending.firstIndex(of: UInt8(ascii: "\n")) {
                let line = pending[pending.startIndex..<nl]
                pending = Data(pending[(nl + 1)...])
                guard !line.isEmpty else { continue }
                guard let obj = JSONText.object(line) else {
                    throw EtcdError.malformed("watch line is not JSON")
                }
                if let err = obj["error"] as? [String: Any] {
                    throw EtcdError.server(
                        code: Int(Self.int64(err["grpc_code"] ?? err["code"]) ?? 2),
                        message: "\(err["message"] ?? "watch error")"
                    )
                }
                guard let result = obj["result"] as? [String: Any] else { continue }
                if let compact = Self.int64(result["compact_revision"]), compact > 0 {
                    throw EtcdError.compacted(compact)
                }
                if (result["canceled"] as? Bool) == true {
                    throw EtcdError.server(
                        code: 1,
                        message: "watch canceled: \(result["cancel_reason"] ?? "no reason given")"
                    )
                }
                if (result["created"] as? Bool) == true {
                    created = true
                    continue
                }
                let rev = Self.int64(Self.header(result)["revision"]) ?? 0
                let events = try (result["events"] as? [[String: Any]] ?? []).map { e -> EtcdEvent in
                    let kind: EtcdEvent.Kind = (e["type"] as? String) == "DELETE" ? .delete : .put
                    return EtcdEvent(kind: kind, kv: try Self.keyValue(e["kv"] as? [String: Any] ?? [:]))
                }
                await onBatch(rev, events)
            }
        }
        if !created { throw EtcdError.unavailable(["\(endpoint): the watch ended before it was created"]) }
    }

    // MARK: - Transport

    /// One unary call with failover: members are tried in turn, starting with the one that last answered.
    func call(_ path: String, _ body: [String: Any]) async throws -> [String: Any] {
        let n = options.endpoints.count
        let start = preferred.withLock { $0 }
        var problems: [String] = []
        for attempt in 0..<n {
            let i = (start + attempt) % n
            let endpoint = options.endpoints[i]
            var reauthenticated = false
            while true {
                do {
                    let reply = try await unary(endpoint: endpoint, path: path, body: body)
                    if attempt > 0 {
                        preferred.withLock { $0 = i }
                        logger.info("etcd: now using another member", metadata: ["etcd.endpoint": "\(endpoint)"])
                    }
                    return reply
                } catch EtcdError.server(let code, let message) where code == 16 && !reauthenticated && hasCredentials {
                    // Unauthenticated: the token expired or the member restarted; authenticate and retry once.
                    _ = message
                    token.withLock { $0 = nil }
                    reauthenticated = true
                    continue
                } catch EtcdError.server(let code, let message) where code == 14 {
                    problems.append("\(endpoint): \(message)")
                } catch let e as EtcdError {
                    throw e
                } catch is CancellationError {
                    throw CancellationError()
                } catch {
                    problems.append("\(endpoint): \(Self.describe(error))")
                }
                break
            }
        }
        throw EtcdError.unavailable(problems)
    }

    var hasCredentials: Bool { options.usernameFile != nil && options.passwordFile != nil }

    func unary(endpoint: String, path: String, body: [String: Any]) async throws -> [String: Any] {
        let timeout = TimeAmount.milliseconds(Int64(Self.millis(options.requestTimeout)))
        var request = HTTPClientRequest(url: endpoint + path)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        if let t = try await authToken(endpoint: endpoint) { request.headers.add(name: "Authorization", value: t) }
        request.body = .bytes(ByteBuffer(bytes: try JSONText.data(body)))
        let response = try await http.execute(request, timeout: timeout)
        let bytes = try await response.body.collect(upTo: 64 << 20)
        let data = Data(bytes.readableBytesView)
        let obj = JSONText.object(data)
        if response.status != .ok {
            let code = Int(Self.int64(obj?["code"]) ?? (response.status == .serviceUnavailable ? 14 : 2))
            throw EtcdError.server(code: code, message: obj?["message"] as? String ?? "HTTP \(response.status.code)")
        }
        guard let obj else { throw EtcdError.malformed("\(path): not a JSON object") }
        if let err = obj["error"] as? [String: Any] {
            throw EtcdError.server(
                code: Int(Self.int64(err["grpc_code"] ?? err["code"]) ?? 2),
                message: "\(err["message"] ?? "error")"
            )
        }
        return obj
    }

    /// Opens a streaming call (the watch) on the first member that accepts it.
    func open(_ path: String, _ body: [String: Any], deadline: NIODeadline) async throws -> (String, HTTPClientResponse)
    {
        let n = options.endpoints.count
        let start = preferred.withLock { $0 }
        var problems: [String] = []
        for attempt in 0..<n {
            let endpoint = options.endpoints[(start + attempt) % n]
            do {
                var request = HTTPClientRequest(url: endpoint + path)
                request.method = .POST
                request.headers.add(name: "Content-Type", value: "application/json")
                if let t = try await authToken(endpoint: endpoint) {
                    request.headers.add(name: "Authorization", value: t)
                }
                request.body = .bytes(ByteBuffer(bytes: try JSONText.data(body)))
                let response = try await http.execute(request, deadline: deadline)
                if response.status == .ok { return (endpoint, response) }
                if response.status == .unauthorized { token.withLock { $0 = nil } }
                problems.append("\(endpoint): HTTP \(response.status.code)")
            } catch is CancellationError {
                throw CancellationError()
            } catch let e as EtcdError {
                if case .credentials = e { throw e }
                problems.append("\(endpoint): \(e)")
            } catch {
                problems.append("\(endpoint): \(Self.describe(error))")
            }
        }
        throw EtcdError.unavailable(problems)
    }

    /// The auth token, authenticating on `endpoint` when there is none yet (nil without credentials).
    func authToken(endpoint: String) async throws -> String? {
        guard let userFile = options.usernameFile, let passFile = options.passwordFile else { return nil }
        if let t = token.withLock({ $0 }) { return t }
        let name = try Self.secret(userFile)
        let password = try Self.secret(passFile)
        var request = HTTPClientRequest(url: endpoint + "/v3/auth/authenticate")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(
            ByteBuffer(bytes: try JSONText.data(["name": name, "password": password]))
        )
        let response = try await http.execute(
            request,
            timeout: .milliseconds(Int64(Self.millis(options.requestTimeout)))
        )
        let bytes = try await response.body.collect(upTo: 1 << 20)
        let obj = JSONText.object(bytes.readableBytesView)
        guard response.status == .ok, let t = obj?["token"] as? String, !t.isEmpty else {
            let message = obj?["message"] as? String ?? "HTTP \(response.status.code)"
            if response.status == .serviceUnavailable { throw EtcdError.server(code: 14, message: message) }
            throw EtcdError.credentials("authentication as the user in \(Self.expand(userFile)) refused: \(message)")
        }
        token.withLock { $0 = t }
        return t
    }

    static func describe(_ error: any Error) -> String {
        if let e = error as? HTTPClientError { return "\(e)" }
        return "\(error)"
    }

    // MARK: - JSON helpers

    static func b64(_ s: String) -> String { Data(s.utf8).base64EncodedString() }

    /// The smallest key after every key that starts with `prefix` (etcd's range end for a prefix).
    static func prefixEnd(_ prefix: String) -> String {
        var bytes = Array(prefix.utf8)
        while let last = bytes.last {
            if last < 0xFF {
                bytes[bytes.count - 1] = last + 1
                return String(decoding: bytes, as: UTF8.self)
            }
            bytes.removeLast()
        }
        return "\0"
    }

    static func header(_ obj: [String: Any]) -> [String: Any] { obj["header"] as? [String: Any] ?? [:] }

    /// int64 values come as JSON strings from the gateway (and as numbers from some versions).
    static func int64(_ v: Any?) -> Int64? {
        if let s = v as? String { return Int64(s) }
        if let n = v as? Int64 { return n }
        if let d = v as? Double, d.rounded() == d, abs(d) < 9.2e18 { return Int64(d) }
        return nil
    }

    static func keyValue(_ kv: [String: Any]) throws -> EtcdKeyValue {
        guard let k = kv["key"] as? String, let kd = Data(base64Encoded: k), let key = String(data: kd, encoding: .utf8)
        else {
            throw EtcdError.malformed("a key without base64 text")
        }
        let value = (kv["value"] as? String).flatMap { Data(base64Encoded: $0) } ?? Data()
        return EtcdKeyValue(
            key: key,
            value: value,
            modRevision: int64(kv["mod_revision"]) ?? 0,
            lease: int64(kv["lease"]) ?? 0
        )
    }
}
