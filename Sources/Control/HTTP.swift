import FoundationEssentials

/// One request to the control listener, fully read (head and body) before it is handled.
/// Invariant: `body.count <= ControlOptions.maxBodyBytes`, header names are lower-cased.
public struct ControlRequest: Sendable {
    public var method: String
    /// The path without the query string, e.g. `/v1/overrides`.
    public var path: String
    /// Query parameters, percent-decoded; a repeated key keeps its last value (and sets `queryProblem`).
    public var query: [String: String]
    /// What is wrong with the query string as such (a parameter given twice, bad percent-encoding); handlers
    /// refuse the request with it (400) before they look at the parameters.
    public var queryProblem: String?
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public init(method: String, uri: String, headers: [(name: String, value: String)] = [], body: [UInt8] = []) {
        self.method = method
        self.headers = headers.map { (name: $0.name.lowercased(), value: $0.value) }
        self.body = body
        let parts = uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        path = parts.first.map(String.init) ?? "/"
        var q: [String: String] = [:]
        var problem: String? = nil
        if parts.count > 1 {
            for pair in parts[1].split(separator: "&") {
                let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                func decode(_ s: Substring) -> String {
                    guard let d = Self.percentDecoded(s) else {
                        if problem == nil {
                            problem = "query: '\(s)' is not valid percent-encoding (UTF-8 bytes as %XX)"
                        }
                        return String(s)
                    }
                    return d
                }
                let key = decode(kv[0])
                if q[key] != nil, problem == nil { problem = "query parameter '\(key)' is given twice" }
                q[key] = kv.count > 1 ? decode(kv[1]) : ""
            }
        }
        query = q
        queryProblem = problem
    }

    public func header(_ name: String) -> String? {
        let n = name.lowercased()
        return headers.last { $0.name == n }?.value
    }

    /// The token of an `Authorization: Bearer <token>` header.
    public var bearerToken: String? {
        guard let v = header("authorization") else { return nil }
        let parts = v.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        return String(parts[1].drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }

    /// A query component decoded: `+` is a space, `%XX` a byte; nil when a `%` is not followed by two hex
    /// digits or the bytes are not UTF-8.
    static func percentDecoded(_ s: Substring) -> String? {
        func hex(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
            default: nil
            }
        }
        let bytes = Array(s.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            switch bytes[i] {
            case UInt8(ascii: "+"):
                out.append(UInt8(ascii: " "))
                i += 1
            case UInt8(ascii: "%"):
                guard i + 2 < bytes.count, let h = hex(bytes[i + 1]), let l = hex(bytes[i + 2])
                else { return nil }
                out.append(h << 4 | l)
                i += 3
            default:
                out.append(bytes[i])
                i += 1
            }
        }
        return String(validating: out, as: UTF8.self)
    }
}

/// A response: status, content type and body. Every response closes the connection. With `stream`, the body is
/// written as it comes after `body` (server-sent events) until the client goes away or the server stops.
public struct ControlResponse: Sendable {
    public var status: Int
    public var contentType: String
    public var body: [UInt8]
    public var headers: [(name: String, value: String)]
    public var stream: ControlStream? = nil

    public init(status: Int, contentType: String, body: [UInt8], headers: [(name: String, value: String)] = []) {
        self.status = status
        self.contentType = contentType
        self.body = body
        self.headers = headers
    }

    public static func text(_ status: Int, _ text: String) -> ControlResponse {
        ControlResponse(status: status, contentType: "text/plain; charset=utf-8", body: Array((text + "\n").utf8))
    }

    /// `{"error": message}` with the status.
    public static func error(_ status: Int, _ message: String) -> ControlResponse {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = (try? encoder.encode(["error": message])) ?? Data()
        return ControlResponse(status: status, contentType: "application/json", body: Array(data) + [10])
    }

    public static func json<T: Encodable>(_ value: T, status: Int = 200) -> ControlResponse {
        do {
            return ControlResponse(
                status: status,
                contentType: "application/json",
                body: Array(try ControlJSON.encoder.encode(value)) + [10]
            )
        } catch {
            return .error(500, "cannot encode the response: \(error)")
        }
    }
}

/// A body that goes on: `open` is called once the head is written, with `send` (callable from any thread, in
/// order); it returns what to call when the connection closes. `heartbeat` is written every
/// `ControlOptions.streamHeartbeat` so a vanished client is noticed.
public struct ControlStream: Sendable {
    public var open: @Sendable (_ send: @escaping @Sendable ([UInt8]) -> Void) -> (@Sendable () -> Void)
    public var heartbeat: [UInt8]
    public init(
        heartbeat: [UInt8],
        open: @escaping @Sendable (_ send: @escaping @Sendable ([UInt8]) -> Void) -> (@Sendable () -> Void)
    ) {
        self.heartbeat = heartbeat
        self.open = open
    }
}

public enum ControlJSON {
    public static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        e.dateEncodingStrategy = .iso8601
        e.keyEncodingStrategy = .convertToSnakeCase
        return e
    }()
    public static let decoder: JSONDecoder = {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .iso8601
        d.keyDecodingStrategy = .convertFromSnakeCase
        return d
    }()
}

/// What answers the requests. Called on a thread of the control listener's pool (never on an event loop),
/// so it may block briefly (file writes).
public protocol ControlHandler: Sendable {
    func handle(_ request: ControlRequest) -> ControlResponse
}

/// Bearer tokens.
public enum BearerToken {
    /// Compares in time that depends only on the lengths, not on where the strings differ.
    public static func equal(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8)
        let y = Array(b.utf8)
        var diff = UInt8(truncatingIfNeeded: x.count ^ y.count) | (x.count == y.count ? 0 : 1)
        let n = max(x.count, y.count)
        for i in 0..<n {
            diff |= (i < x.count ? x[i] : 0) ^ (i < y.count ? y[i] : 0)
        }
        return diff == 0
    }
}
