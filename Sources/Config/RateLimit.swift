import ConfigText

/// Response rate limiting (`server.rrl`), in the spirit of BIND's and Knot's RRL: per client network,
/// at most `responsesPerSecond` identical UDP responses (same question name, type and rcode) per second;
/// the excess is dropped, every `slip`-th excess reply is sent empty with TC=1 so real clients retry over
/// TCP. On by default; loopback (127.0.0.0/8, ::1) is exempt unless `exempt` is given.
public struct RateLimitSettings: Sendable, Hashable {
    /// 0 = off.
    public var responsesPerSecond = 20
    /// Seconds of unused rate a network may save up (burst = responses_per_second × window).
    public var window = 5
    /// Every N-th limited reply is sent truncated (TC=1); 0 = drop them all, 1 = truncate them all.
    public var slip = 2
    public var ipv4Prefix = 24
    public var ipv6Prefix = 56
    /// Never limited. nil = loopback only (127.0.0.0/8 and ::1).
    public var exempt: [IPNetwork]? = nil
    /// Buckets per UDP worker thread (32 bytes each), a power of two is used.
    public var tableSize = 16384
    public init() {}
}

extension ConfigLoader {
    static let rateLimitKeys: Set<String> = [
        "responses_per_second", "window", "slip", "ipv4_prefix", "ipv6_prefix", "exempt", "table_size",
    ]

    /// Reads `server.rrl` (a mapping, or `off` / `false` to turn rate limiting off).
    static func readRateLimit(_ node: Node?, _ r: YAMLReader, _ out: inout RateLimitSettings) {
        guard let node else { return }
        if case .scalar(let s) = node, ["off", "false", "no"].contains(s.string.lowercased()) {
            out.responsesPerSecond = 0
            return
        }
        guard let m = r.mapping(node, "server.rrl", allowed: rateLimitKeys) else { return }
        let p = "server.rrl"
        if let v = r.int(m["responses_per_second"], "\(p).responses_per_second", range: 0...1_000_000) {
            out.responsesPerSecond = v
        }
        if let v = r.duration(m["window"], "\(p).window", range: .seconds(1)...(.seconds(3600))) {
            out.window = Int(v.components.seconds)
        }
        if let v = r.int(m["slip"], "\(p).slip", range: 0...10) { out.slip = v }
        if let v = r.int(m["ipv4_prefix"], "\(p).ipv4_prefix", range: 8...32) { out.ipv4Prefix = v }
        if let v = r.int(m["ipv6_prefix"], "\(p).ipv6_prefix", range: 16...128) { out.ipv6Prefix = v }
        if let v = r.int(m["table_size"], "\(p).table_size", range: 1024...(1 << 24)) { out.tableSize = v }
        if let list = r.stringList(m["exempt"], "\(p).exempt") {
            var nets: [IPNetwork] = []
            for (i, text) in list.enumerated() {
                switch IPNetwork.parse(text) {
                case .success(let n): nets.append(n)
                case .failure(let e): r.problem(m["exempt"], "\(p).exempt[\(i)]", e.description)
                }
            }
            out.exempt = nets
        }
    }
}
