import FoundationEssentials

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// What a check does: open a TCP connection, or send one HTTP(S) request.
public enum CheckKind: String, Sendable, Hashable, CaseIterable {
    /// A TCP connect; success is a pass.
    case tcp
    /// One HTTP/1.1 request over plain TCP.
    case http
    /// One HTTP/1.1 request over TLS.
    case https

    /// The port used when neither the check nor its endpoint names one (nil for `tcp`: it must name one).
    public var defaultPort: Int? {
        switch self {
        case .tcp: nil
        case .http: 80
        case .https: 443
        }
    }
}

/// The HTTP method of an http/https check.
public enum HTTPCheckMethod: String, Sendable, Hashable, CaseIterable {
    case get = "GET"
    case head = "HEAD"
}

/// The defaults a check gets when the configuration says nothing (documented in README.md).
public enum CheckDefaults {
    public static let interval: Duration = .seconds(5)
    public static let timeout: Duration = .seconds(2)
    public static let rise = 2
    public static let fall = 3
    /// Used when `fastInterval` is nil: `interval / 5`, clamped to 100 ms ... 1 s (1 s for the default interval).
    public static func fastInterval(forInterval interval: Duration) -> Duration {
        min(max(interval / 5, .milliseconds(100)), .seconds(1))
    }
    /// The most body bytes an http(s) check reads when it looks for `expectBody`.
    public static let bodyLimit = 64 * 1024
    public static let path = "/"
    public static let expectStatus = StatusRanges.successAndRedirects
    public static let certExpiryWarning: Duration = .seconds(14 * 86_400)
    /// The version in the default User-Agent.
    public static let version = "0.1.0"
    /// `gtmd-health/<version>`, sent unless the check's headers set a User-Agent.
    public static let userAgent = "gtmd-health/\(version)"
}

/// Problems found while parsing a check option (status ranges, endpoints).
public struct HealthSpecError: Error, Sendable, Hashable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// A set of HTTP status codes: single codes and inclusive ranges, e.g. `200-399,404`.
public struct StatusRanges: Sendable, Hashable, CustomStringConvertible {
    public var ranges: [ClosedRange<Int>]

    public init(_ ranges: [ClosedRange<Int>]) { self.ranges = ranges }

    /// `200-399`: what most load balancers call healthy.
    public static let successAndRedirects = StatusRanges([200...399])

    /// Parses `"200"`, `"200-399"`, `"200-399, 404"`. Codes must lie in 100...599.
    public init(parsing text: String) throws(HealthSpecError) {
        var out: [ClosedRange<Int>] = []
        let items = text.split(separator: ",", omittingEmptySubsequences: false)
        for raw in items {
            let item = raw.trimmingSpaces
            guard !item.isEmpty else {
                throw HealthSpecError("expected status '\(text)': empty item")
            }
            let bounds = item.split(separator: "-", omittingEmptySubsequences: false).map { $0.trimmingSpaces }
            guard bounds.count <= 2, let lo = Int(bounds[0]), let hi = Int(bounds.last!) else {
                throw HealthSpecError("expected status '\(text)': '\(item)' is not a code or a range like 200-399")
            }
            guard (100...599).contains(lo), (100...599).contains(hi) else {
                throw HealthSpecError("expected status '\(text)': codes must be within 100-599")
            }
            guard lo <= hi else {
                throw HealthSpecError("expected status '\(text)': range \(lo)-\(hi) is reversed")
            }
            out.append(lo...hi)
        }
        self.ranges = out
    }

    public func contains(_ code: Int) -> Bool {
        ranges.contains { $0.contains(code) }
    }

    /// The canonical text, which `init(parsing:)` reads back.
    public var description: String {
        ranges.map { $0.lowerBound == $0.upperBound ? "\($0.lowerBound)" : "\($0.lowerBound)-\($0.upperBound)" }
            .joined(separator: ",")
    }
}

/// One health check of a target (a pool member). Plain values: the Config target maps YAML onto it.
///
/// The address probed is the target's address, unless `endpoint` names another one.
public struct CheckSpec: Sendable, Hashable {
    /// Unique within its target; appears in logs, status and the `gtmd probe` table.
    public var name: String
    public var kind: CheckKind
    /// Port on the target's address; nil: the endpoint's port, else 80 (http) / 443 (https). A tcp check must have one.
    public var port: Int?
    /// Request path (and query) of http/https checks.
    public var path: String
    public var method: HTTPCheckMethod
    /// Host header; nil: the endpoint's host name, else the probed address (with the port when not the scheme's default).
    public var host: String?
    /// Extra request headers. A `User-Agent` here replaces the default `gtmd-health/<version>`.
    public var headers: [String: String]
    /// Status codes that pass.
    public var expectStatus: StatusRanges
    /// When set, the body (its first `bodyLimit` bytes) must contain this text.
    public var expectBody: String?
    /// The most body bytes read when looking for `expectBody`.
    public var bodyLimit: Int
    /// Limit for one whole probe: connect, TLS handshake, request and response.
    public var timeout: Duration
    /// Time between probe starts while the state is settled.
    public var interval: Duration
    /// Time between probe starts while the state is in doubt; nil: `CheckDefaults.fastInterval(forInterval:)`.
    public var fastInterval: Duration?
    /// Consecutive passes that bring a down check up.
    public var rise: Int
    /// Consecutive failures that take an up check down.
    public var fall: Int
    /// https: verify the certificate chain and name (default). Off: any certificate is accepted.
    public var tlsVerify: Bool
    /// https: a PEM file of CA certificates trusted *instead of* the system's roots for this check.
    public var caFile: String?
    /// https: SNI and the name the certificate must match; nil: the Host header's name (none for an IP address,
    /// in which case the certificate must carry the IP address).
    public var sni: String?
    /// https: a certificate expiring within this window puts a warning in status (the check still passes).
    public var certExpiryWarning: Duration
    /// Probe somewhere other than the target's address: `address:port`, `[v6]:port`, `host:port`,
    /// or a URL `http(s)://host[:port][/path]` (its scheme must match `kind`; its path replaces `path`).
    public var endpoint: String?

    public init(
        name: String,
        kind: CheckKind,
        port: Int? = nil,
        path: String = CheckDefaults.path,
        method: HTTPCheckMethod = .get,
        host: String? = nil,
        headers: [String: String] = [:],
        expectStatus: StatusRanges = CheckDefaults.expectStatus,
        expectBody: String? = nil,
        bodyLimit: Int = CheckDefaults.bodyLimit,
        timeout: Duration = CheckDefaults.timeout,
        interval: Duration = CheckDefaults.interval,
        fastInterval: Duration? = nil,
        rise: Int = CheckDefaults.rise,
        fall: Int = CheckDefaults.fall,
        tlsVerify: Bool = true,
        caFile: String? = nil,
        sni: String? = nil,
        certExpiryWarning: Duration = CheckDefaults.certExpiryWarning,
        endpoint: String? = nil
    ) {
        self.name = name
        self.kind = kind
        self.port = port
        self.path = path
        self.method = method
        self.host = host
        self.headers = headers
        self.expectStatus = expectStatus
        self.expectBody = expectBody
        self.bodyLimit = bodyLimit
        self.timeout = timeout
        self.interval = interval
        self.fastInterval = fastInterval
        self.rise = rise
        self.fall = fall
        self.tlsVerify = tlsVerify
        self.caFile = caFile
        self.sni = sni
        self.certExpiryWarning = certExpiryWarning
        self.endpoint = endpoint
    }

    /// The fast interval in force (the explicit one, else derived from `interval`).
    public var effectiveFastInterval: Duration {
        fastInterval ?? CheckDefaults.fastInterval(forInterval: interval)
    }

    /// Human-readable problems; empty when the check can run. Does not look at the target's address
    /// (see `ProbeTarget.validate()`), but does check that `caFile` is readable.
    public func validate() -> [String] {
        var p: [String] = []
        if name.isEmpty { p.append("check name must not be empty") }
        if let port, !(1...65_535).contains(port) { p.append("port \(port) must be within 1-65535") }
        if timeout <= .zero { p.append("timeout \(formatDuration(timeout)) must be positive") }
        if interval <= .zero { p.append("interval \(formatDuration(interval)) must be positive") }
        if timeout > .zero, interval > .zero, timeout > interval {
            p.append("timeout \(formatDuration(timeout)) must not exceed interval \(formatDuration(interval))")
        }
        if let f = fastInterval {
            if f <= .zero { p.append("fast_interval \(formatDuration(f)) must be positive") }
            if f > interval {
                p.append("fast_interval \(formatDuration(f)) must not exceed interval \(formatDuration(interval))")
            }
        }
        if !(1...100).contains(rise) { p.append("rise \(rise) must be within 1-100") }
        if !(1...100).contains(fall) { p.append("fall \(fall) must be within 1-100") }
        if certExpiryWarning < .zero { p.append("cert_expiry_warning must not be negative") }

        var endpointPort: Int?
        var endpointPath: String?
        if let endpoint {
            switch ProbeEndpoint.parse(endpoint) {
            case .success(let e):
                endpointPort = e.port
                endpointPath = e.path
                if let scheme = e.scheme, scheme != kind {
                    p.append(
                        "endpoint '\(endpoint)': scheme \(scheme.rawValue) does not match check type \(kind.rawValue)"
                    )
                }
                if e.scheme != nil, kind == .tcp {
                    p.append("endpoint '\(endpoint)': a tcp check takes address:port, not a URL")
                }
            case .failure(let e):
                p.append(e.message)
            }
        }
        if kind == .tcp, port == nil, endpointPort == nil {
            p.append("a tcp check needs a port (or an endpoint address:port)")
        }

        if kind == .tcp {
            if expectBody != nil { p.append("expect_body does not apply to a tcp check") }
            if !headers.isEmpty { p.append("headers do not apply to a tcp check") }
        } else {
            let effectivePath = endpointPath ?? path
            if !effectivePath.hasPrefix("/") { p.append("path '\(effectivePath)' must start with /") }
            if effectivePath.contains(where: { $0 == " " || $0.isNewline }) {
                p.append("path '\(effectivePath)' must not contain spaces or line breaks")
            }
            if expectStatus.ranges.isEmpty { p.append("expected status must name at least one code") }
            for r in expectStatus.ranges
            where !(100...599).contains(r.lowerBound) || !(100...599).contains(r.upperBound) {
                p.append("expected status \(r.lowerBound)-\(r.upperBound) must lie within 100-599")
            }
            if bodyLimit < 1 || bodyLimit > 16 * 1024 * 1024 {
                p.append("body_limit \(bodyLimit) must be within 1-16777216 bytes")
            }
            if let b = expectBody {
                if b.isEmpty { p.append("expect_body must not be empty") }
                if b.utf8.count > bodyLimit {
                    p.append("expect_body (\(b.utf8.count) bytes) is longer than body_limit \(bodyLimit)")
                }
                if method == .head { p.append("expect_body needs method GET (a HEAD response has no body)") }
            }
            for (k, v) in headers {
                if k.isEmpty || !k.unicodeScalars.allSatisfy(isTokenChar) {
                    p.append("header name '\(k)' is not a valid HTTP token")
                }
                if v.unicodeScalars.contains(where: { $0 == "\r" || $0 == "\n" }) {
                    p.append("header '\(k)' value must not contain line breaks")
                }
                if ["host", "content-length", "transfer-encoding", "connection"].contains(k.lowercased()) {
                    p.append("header '\(k)' is managed by the prober (use host for Host)")
                }
            }
            if let h = host, h.isEmpty || h.unicodeScalars.contains(where: { $0 == "\r" || $0 == "\n" || $0 == " " }) {
                p.append("host '\(h)' must be a non-empty name without spaces")
            }
        }
        if kind != .https {
            if caFile != nil { p.append("ca_file applies to https checks only") }
            if sni != nil { p.append("sni applies to https checks only") }
            if !tlsVerify { p.append("tls_verify applies to https checks only") }
        } else {
            if let caFile, access(caFile, R_OK) != 0 {
                p.append("ca_file '\(caFile)' is not readable")
            }
            if let sni, sni.isEmpty || isIPLiteral(sni) {
                p.append("sni '\(sni)' must be a host name (no SNI is sent for IP addresses)")
            }
        }
        return p
    }
}

/// One monitored thing: usually a pool member. Up only when ALL its checks are up.
public struct ProbeTarget: Sendable, Hashable {
    /// Stable key in snapshots and changes, e.g. `"pool/member"`.
    public var id: String
    /// The member's IPv4 or IPv6 address (a literal).
    public var address: String
    public var checks: [CheckSpec]
    /// Counted as up (true, default) or down while the target has no verdict yet; status shows it as unknown.
    public var initialState: Bool

    public init(id: String, address: String, checks: [CheckSpec], initialState: Bool = true) {
        self.id = id
        self.address = address
        self.checks = checks
        self.initialState = initialState
    }

    /// Human-readable problems, each naming the target and (where it applies) the check.
    public func validate() -> [String] {
        var p: [String] = []
        let label = "target '\(id)'"
        if id.isEmpty { p.append("target id must not be empty") }
        if !isIPLiteral(address) { p.append("\(label): address '\(address)' is not an IPv4 or IPv6 address") }
        if checks.isEmpty { p.append("\(label): has no checks") }
        var seen = Set<String>()
        for c in checks {
            if !seen.insert(c.name).inserted { p.append("\(label): check name '\(c.name)' is used twice") }
            for problem in c.validate() { p.append("\(label) check '\(c.name)': \(problem)") }
        }
        return p
    }

    /// Problems in a whole set of targets (each target's, and duplicate ids).
    public static func validate(_ targets: [ProbeTarget]) -> [String] {
        var p: [String] = []
        var seen = Set<String>()
        for t in targets {
            if !seen.insert(t.id).inserted { p.append("target id '\(t.id)' is used twice") }
            p += t.validate()
        }
        return p
    }
}

// MARK: - Endpoint override parsing

/// A parsed `CheckSpec.endpoint`.
package struct ProbeEndpoint: Sendable, Hashable {
    package var scheme: CheckKind?
    package var host: String
    package var port: Int?
    package var path: String?

    package static func parse(_ text: String) -> Result<ProbeEndpoint, HealthSpecError> {
        func bad(_ why: String) -> Result<ProbeEndpoint, HealthSpecError> {
            .failure(HealthSpecError("endpoint '\(text)': \(why)"))
        }
        var rest = Substring(text)
        var scheme: CheckKind?
        var path: String?
        if let r = rest.firstRange(of: "://") {
            let s = rest[..<r.lowerBound].lowercased()
            switch s {
            case "http": scheme = .http
            case "https": scheme = .https
            default: return bad("scheme must be http or https")
            }
            rest = rest[r.upperBound...]
            if let slash = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) {
                var p = String(rest[slash...])
                if p.hasPrefix("?") { p = "/" + p }
                path = p
                rest = rest[..<slash]
            }
            if rest.contains("@") { return bad("user info is not supported") }
        }
        if isIPLiteral(String(rest)), rest.contains(":") {
            // A bare IPv6 address without a port.
            return .success(ProbeEndpoint(scheme: scheme, host: String(rest), port: nil, path: path))
        }
        var host: Substring
        var portText: Substring?
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { return bad("missing ]") }
            host = rest[rest.index(after: rest.startIndex)..<close]
            let after = rest[rest.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { return bad("expected :port after ]") }
                portText = after.dropFirst()
            }
            guard isIPLiteral(String(host)), host.contains(":") else { return bad("'\(host)' is not an IPv6 address") }
        } else if let colon = rest.lastIndex(of: ":") {
            host = rest[..<colon]
            portText = rest[rest.index(after: colon)...]
        } else {
            host = rest
        }
        guard !host.isEmpty else { return bad("missing host") }
        if !isIPLiteral(String(host)) {
            let ok = host.unicodeScalars.allSatisfy {
                ($0.value >= 0x30 && $0.value <= 0x39) || ($0.value >= 0x41 && $0.value <= 0x5A)
                    || ($0.value >= 0x61 && $0.value <= 0x7A) || $0 == "-" || $0 == "."
            }
            if !ok { return bad("'\(host)' is not an address or host name") }
        }
        var port: Int?
        if let portText {
            guard let n = Int(portText), (1...65_535).contains(n) else {
                return bad("port '\(portText)' must be within 1-65535")
            }
            port = n
        }
        return .success(ProbeEndpoint(scheme: scheme, host: String(host), port: port, path: path))
    }
}

// MARK: - Small helpers

/// The host part of a Host header value (`name:port` -> `name`, `[::1]:80` -> `::1`).
package func hostName(ofHostHeader h: String) -> String {
    if h.hasPrefix("["), let close = h.firstIndex(of: "]") {
        return String(h[h.index(after: h.startIndex)..<close])
    }
    if isIPLiteral(h) { return h }
    if let colon = h.lastIndex(of: ":") { return String(h[..<colon]) }
    return h
}

/// True for IPv4 dotted quads and IPv6 literals (without brackets).
package func isIPLiteral(_ s: String) -> Bool {
    var v4 = in_addr()
    var v6 = in6_addr()
    return s.withCString { inet_pton(AF_INET, $0, &v4) == 1 || inet_pton(AF_INET6, $0, &v6) == 1 }
}

private func isTokenChar(_ c: Unicode.Scalar) -> Bool {
    switch c.value {
    case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: return true
    default: return "!#$%&'*+-.^_`|~".unicodeScalars.contains(c)
    }
}

extension Substring {
    var trimmingSpaces: Substring {
        var s = self
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return s
    }
}

/// `3s`, `1.5s`, `500ms`, `2m`, `14d`: the form used in messages and tables.
package func formatDuration(_ d: Duration) -> String {
    let (s, atto) = d.components
    let ms = s * 1000 + atto / 1_000_000_000_000_000
    if ms == 0 && atto != 0 {
        return "\(atto / 1_000_000_000_000)µs"
    }
    if atto % 1_000_000_000_000_000 == 0 {
        if ms % 86_400_000 == 0, ms != 0 { return "\(ms / 86_400_000)d" }
        if ms % 3_600_000 == 0, ms != 0 { return "\(ms / 3_600_000)h" }
        if ms % 60_000 == 0, ms != 0 { return "\(ms / 60_000)m" }
        if ms % 1000 == 0 { return "\(ms / 1000)s" }
        if ms < 1000 { return "\(ms)ms" }
    }
    let secs = Double(s) + Double(atto) / 1e18
    var t = String(secs.rounded(toPlaces: 3))
    if t.hasSuffix(".0") { t.removeLast(2) }
    return t + "s"
}

extension Double {
    func rounded(toPlaces n: Int) -> Double {
        var m = 1.0
        for _ in 0..<n { m *= 10 }
        return (self * m).rounded() / m
    }
}
