import ConfigText
import DNSWire
import FoundationEssentials
import HealthModel
import Policy

/// A listen address: host literal (IPv4 or IPv6) and port. UDP and TCP are served on each.
public struct ListenAddress: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `127.0.0.1:5300`, `[::1]:5300` (and bare `::1` with `defaultPort`).
    public static func parse(_ text: String, defaultPort: Int? = nil) -> ListenAddress? {
        var host = text
        var portText: Substring? = nil
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            host = String(text[text.index(after: text.startIndex)..<close])
            let rest = text[text.index(after: close)...]
            if rest.hasPrefix(":") { portText = rest.dropFirst() } else if !rest.isEmpty { return nil }
        } else if text.filter({ $0 == ":" }).count == 1, let colon = text.firstIndex(of: ":") {
            host = String(text[..<colon])
            portText = text[text.index(after: colon)...]
        }
        guard IPAddress.parse(host) != nil else { return nil }
        let port: Int
        if let p = portText {
            guard let v = Int(p), (0...65535).contains(v) else { return nil }
            port = v
        } else if let d = defaultPort {
            port = d
        } else {
            return nil
        }
        return ListenAddress(host: host, port: port)
    }
    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// A zone to serve: its origin and master file (path resolved against the config file's folder).
public struct ZoneSource: Sendable, Hashable {
    public var origin: DNSName
    public var file: String
    /// The zone's `dnssec:` section; nil = served unsigned.
    public var dnssec: DnssecSettings?
    public init(origin: DNSName, file: String, dnssec: DnssecSettings? = nil) {
        self.origin = origin
        self.file = file
        self.dnssec = dnssec
    }
}

/// Server options (the `server:` section).
public struct ServerSettings: Sendable, Equatable {
    public var listen: [ListenAddress] = [ListenAddress(host: "127.0.0.1", port: 5300)]
    public var ednsBufferSize: Int = 1232
    public var nsid: [UInt8]? = nil
    /// Text for `version.bind`; nil hides the version (REFUSED).
    public var version: String? = nil
    public var identity: String? = nil
    public var udpWorkers: Int = 0
    /// SO_RCVBUF/SO_SNDBUF of each UDP socket in bytes (0 = the kernel default); clamped by rmem_max/wmem_max.
    public var udpSocketBuffer: Int = 4 << 20
    public var tcpMaxConnections: Int = 512
    public var tcpMaxConnectionsPerClient: Int = 32
    public var tcpIdleTimeout: Duration = .seconds(10)
    public var tcpQueryTimeout: Duration = .seconds(5)
    /// `server.rrl` (RateLimit.swift).
    public var rateLimit = RateLimitSettings()
    public init() {}
}

/// The validated gtmd configuration. Invariant: every value is in range and every zone origin is unique.
public struct GtmdConfig: Sendable {
    public var file: String
    public var server = ServerSettings()
    public var zones: [ZoneSource] = []
    public var checks: [String: CheckSpec] = [:]
    public var health = HealthSettings()
    public var pools: [PoolConfig] = []
    public var services: [ServiceConfig] = []
    /// Regions in config order; a client region is an index into this list.
    public var regions: [Region] = []
    /// Where clients are (nil when no regions are configured).
    public var locator: Locator? = nil
    /// Where overrides are kept across restarts (relative paths resolved against the config's folder).
    public var stateFile: String? = nil
    public var control = ControlSettings()
    /// `fleet:` (FleetConfig.swift); nil: a single node, exactly as without a fleet.
    public var fleet: FleetSettings? = nil
    public init(file: String) { self.file = file }

    /// Every health target: one per pool member with checks.
    public func probeTargets() -> [ProbeTarget] {
        pools.flatMap { pool in
            pool.members.filter { !$0.checks.isEmpty }.map { m in
                ProbeTarget(
                    id: m.targetID,
                    address: m.address?.description ?? "0.0.0.0",
                    checks: m.checks,
                    initialState: health.initialStateUp
                )
            }
        }
    }
}

public enum ConfigLoader {
    public static let maxBytes = 4 << 20

    /// Reads and validates a config file; returns every problem found.
    public static func load(path: String) -> Result<GtmdConfig, ConfigProblems> {
        let data: Data
        switch readBounded(path: path, maxBytes: maxBytes) {
        case .success(let d): data = d
        case .failure(let p): return .failure(ConfigProblems([p]))
        }
        guard let text = String(data: data, encoding: .utf8) else {
            return .failure(ConfigProblems([ConfigProblem(file: path, line: nil, path: "", message: "not UTF-8 text")]))
        }
        return parse(text, file: path, baseDirectory: FilePaths.directory(of: path))
    }

    public static func parse(_ text: String, file: String, baseDirectory: String) -> Result<GtmdConfig, ConfigProblems>
    {
        let node: Node?
        do {
            // Every plain scalar stays a string: YAMLReader reads the text and says what is wrong with it.
            node = try Node.compose(text)
        } catch {
            return .failure(ConfigProblems([yamlProblem(error, file: file)]))
        }
        let r = YAMLReader(file: file)
        var config = GtmdConfig(file: file)
        guard let root = r.mapping(node ?? Node.mapping(Node.Mapping([])), "", allowed: topLevelKeys) else {
            return .failure(ConfigProblems(r.problems))
        }
        if let s = r.mapping(root["server"], "server", allowed: serverKeys) {
            readServer(s, r, &config.server)
        }
        if let zs = r.sequence(root["zones"], "zones") {
            var seen: [DNSName: String] = [:]
            for (i, z) in zs.enumerated() {
                let p = "zones[\(i)]"
                guard let m = r.mapping(z, p, allowed: zoneKeys) else { continue }
                guard let originText = r.string(m["origin"], "\(p).origin") else {
                    r.problem(z, "\(p).origin", "missing (the zone's name, e.g. lab.example)")
                    continue
                }
                guard let fileText = r.string(m["file"], "\(p).file") else {
                    r.problem(z, "\(p).file", "missing (the zone's master file)")
                    continue
                }
                let origin: DNSName
                do { origin = try DNSName(absolute: originText) } catch {
                    r.problem(m["origin"], "\(p).origin", "\(error)")
                    continue
                }
                if let prev = seen[origin.lowercased] {
                    r.problem(m["origin"], "\(p).origin", "zone \(origin) is already defined at \(prev)")
                    continue
                }
                seen[origin.lowercased] = p
                let resolved =
                    FilePaths.resolve(fileText, in: baseDirectory)
                if !FilePaths.exists(resolved) {
                    r.problem(m["file"], "\(p).file", "'\(resolved)' does not exist")
                }
                let dnssec = parseDnssec(m["dnssec"], "\(p).dnssec", r, baseDirectory: baseDirectory)
                config.zones.append(ZoneSource(origin: origin, file: resolved, dnssec: dnssec))
            }
        }
        readRegions(root, r, &config)
        config.checks = parseChecks(root["checks"], r, baseDirectory: baseDirectory)
        config.health = parseHealth(root["health"], r)
        checkReferences(pools: parsePools(root["pools"], r), services: parseServices(root["services"], r), r, &config)
        readGeo(root, r, &config, baseDirectory: baseDirectory)
        readControl(root, r, &config.control, baseDirectory: baseDirectory)
        readFleet(root, r, &config.fleet, baseDirectory: baseDirectory)
        if let v = r.string(root["state_file"], "state_file") {
            config.stateFile = FilePaths.resolve(v, in: baseDirectory)
        }
        return r.problems.isEmpty ? .success(config) : .failure(ConfigProblems(r.problems))
    }

    static func readServer(_ s: [String: Node], _ r: YAMLReader, _ out: inout ServerSettings) {
        if let list = r.stringList(s["listen"], "server.listen") {
            var addrs: [ListenAddress] = []
            for (i, text) in list.enumerated() {
                if let a = ListenAddress.parse(text, defaultPort: 53) {
                    addrs.append(a)
                } else {
                    r.problem(
                        s["listen"],
                        "server.listen[\(i)]",
                        "'\(text)' is not an address:port (examples: 127.0.0.1:5300, [::1]:5300)"
                    )
                }
            }
            if list.isEmpty { r.problem(s["listen"], "server.listen", "needs at least one address") }
            out.listen = addrs
        }
        if let v = r.int(s["edns_buffer_size"], "server.edns_buffer_size", range: 512...4096) { out.ednsBufferSize = v }
        if let v = r.string(s["nsid"], "server.nsid") {
            if v.hasPrefix("hex:") {
                let hex = Array(v.dropFirst(4))
                var bytes: [UInt8] = []
                var ok = hex.count % 2 == 0
                var i = 0
                while ok && i < hex.count {
                    if let b = UInt8(String(hex[i...i + 1]), radix: 16) { bytes.append(b) } else { ok = false }
                    i += 2
                }
                if ok && !bytes.isEmpty && bytes.count <= 512 {
                    out.nsid = bytes
                } else {
                    r.problem(s["nsid"], "server.nsid", "'\(v)' is not hex:<1-512 bytes in hex>")
                }
            } else if !v.isEmpty && v.utf8.count <= 512 {
                out.nsid = Array(v.utf8)
            } else {
                r.problem(s["nsid"], "server.nsid", "must be 1-512 bytes of text or hex:<hex>")
            }
        }
        if let v = s["version"] {
            if case .scalar(let sc) = v, ["false", "no", "off"].contains(sc.string.lowercased()) {
                out.version = nil
            } else if let t = r.string(v, "server.version") {
                out.version = t
            }
        }
        if let v = r.string(s["identity"], "server.identity") { out.identity = v }
        // Served as CH TXT: bounded so the answer always fits a DNS message.
        for (key, text) in [("version", out.version), ("identity", out.identity)] where (text?.utf8.count ?? 0) > 1024 {
            r.problem(s[key], "server.\(key)", "is \(text!.utf8.count) bytes; at most 1024")
            if key == "version" { out.version = nil } else { out.identity = nil }
        }
        if let v = r.int(s["udp_workers"], "server.udp_workers", range: 0...64) { out.udpWorkers = v }
        if let v = r.int(s["udp_socket_buffer"], "server.udp_socket_buffer", range: 0...(256 << 20)) {
            out.udpSocketBuffer = v
        }
        readRateLimit(s["rrl"], r, &out.rateLimit)
        if let t = r.mapping(s["tcp"], "server.tcp", allowed: tcpKeys) {
            if let v = r.int(t["max_connections"], "server.tcp.max_connections", range: 1...100_000) {
                out.tcpMaxConnections = v
            }
            if let v = r.int(
                t["max_connections_per_client"],
                "server.tcp.max_connections_per_client",
                range: 1...100_000
            ) {
                out.tcpMaxConnectionsPerClient = v
            }
            if let v = r.duration(
                t["idle_timeout"],
                "server.tcp.idle_timeout",
                range: .milliseconds(100)...(.seconds(3600))
            ) {
                out.tcpIdleTimeout = v
            }
            if let v = r.duration(
                t["query_timeout"],
                "server.tcp.query_timeout",
                range: .milliseconds(100)...(.seconds(600))
            ) {
                out.tcpQueryTimeout = v
            }
        }
    }

    static func yamlProblem(_ e: YAMLError, file: String) -> ConfigProblem {
        ConfigProblem(
            file: file,
            line: e.line,
            path: "",
            message: (e.kind == .syntax ? "YAML syntax: " : "YAML: ") + e.problem
        )
    }
}
