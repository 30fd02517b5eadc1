import DNSWire
import FoundationEssentials

/// How many live vantage points must see a target down before the fleet counts it down.
public enum FleetQuorum: Sendable, Hashable, CustomStringConvertible {
    /// More than half of the live vantages (the default).
    case majority
    /// One vantage is enough.
    case any
    /// Every live vantage.
    case all
    /// At least this many (all of them when fewer are alive).
    case count(Int)

    public static func parse(_ text: String) -> FleetQuorum? {
        switch text.lowercased() {
        case "majority": return .majority
        case "any": return .any
        case "all": return .all
        default:
            guard let n = Int(text), n >= 1 else { return nil }
            return .count(n)
        }
    }

    public var description: String {
        switch self {
        case .majority: return "majority"
        case .any: return "any"
        case .all: return "all"
        case .count(let n): return "\(n)"
        }
    }
}

/// What a node does while the store is unreachable.
public enum StoreLossMode: String, Sendable, Hashable {
    /// Follow the node's own probes (the default).
    case local
    /// Keep the last fleet decision.
    case freeze
}

/// The `fleet:` section: gtmd nodes sharing overrides and observations through etcd.
/// Invariant: `name` is a safe key component, `endpoints` is non-empty and every URL is http(s); file paths are absolute.
public struct FleetSettings: Sendable, Hashable {
    public var name: String
    public var endpoints: [String]
    /// TLS: CA bundle to verify the members, and the client certificate and key (PEM files).
    public var caFile: String? = nil
    public var certFile: String? = nil
    public var keyFile: String? = nil
    /// Username/password authentication: each read from its own file (systemd `LoadCredential=`).
    public var usernameFile: String? = nil
    public var passwordFile: String? = nil
    /// This node's name (default: the host name); unique in the fleet.
    public var node: String
    /// Where this node probes from (a site or region label); default: the node's name.
    public var vantage: String
    public var quorum: FleetQuorum = .majority
    public var onStoreLoss: StoreLossMode = .local
    /// Time-to-live of the node's lease: its observations vanish this long after it dies.
    public var leaseTTL: Int = 10
    /// Per-request timeout towards etcd.
    public var requestTimeout: Duration = .seconds(2)

    public init(name: String, endpoints: [String], node: String, vantage: String? = nil) {
        self.name = name
        self.endpoints = endpoints
        self.node = node
        self.vantage = vantage ?? node
    }

    /// A name usable as one etcd key component: letters, digits, `.`, `_`, `-`.
    public static func isSafeName(_ s: String) -> Bool {
        !s.isEmpty && s.count <= 128 && s != "." && s != ".."
            && s.unicodeScalars.allSatisfy {
                $0.isASCII && (Character($0).isLetter || Character($0).isNumber || "._-".unicodeScalars.contains($0))
            }
    }

    /// Checks one endpoint URL (`http://127.0.0.1:2379`, `https://etcd1:2379`); returns the problem, if any.
    public static func endpointProblem(_ url: String) -> String? {
        guard let u = URL(string: url), let scheme = u.scheme, ["http", "https"].contains(scheme), u.host != nil else {
            return "'\(url)' is not an http:// or https:// URL (example: http://127.0.0.1:2379)"
        }
        if !(u.path.isEmpty || u.path == "/") { return "'\(url)': give the member's address only, without a path" }
        return nil
    }

    /// The machine's host name (the default node name).
    public static func hostName() -> String {
        let h = ProcessInfo.processInfo.hostName
        let short = h.split(separator: ".").first.map(String.init) ?? h
        return isSafeName(short) ? short : "gtmd"
    }
}

extension ConfigLoader {
    /// Reads `fleet:` (absent: no fleet, gtmd behaves as a single node).
    static func readFleet(_ root: [String: Node], _ r: YAMLReader, _ out: inout FleetSettings?, baseDirectory: String) {
        guard let node = root["fleet"] else { return }
        guard let f = r.mapping(node, "fleet", allowed: fleetKeys) else { return }
        func path(_ v: String) -> String {
            v.hasPrefix("${") ? v : FilePaths.resolve(v, in: baseDirectory)
        }
        var name = ""
        if let n = r.string(f["name"], "fleet.name") {
            if FleetSettings.isSafeName(n) {
                name = n
            } else {
                r.problem(
                    f["name"],
                    "fleet.name",
                    "'\(n)' must be letters, digits, '.', '_' or '-' (it is the key prefix /gtmd/<name>/)"
                )
            }
        } else {
            r.problem(node, "fleet.name", "missing (the fleet's name; its keys live under /gtmd/<name>/)")
        }
        var endpoints: [String] = []
        let e = r.mapping(f["etcd"], "fleet.etcd", allowed: fleetEtcdKeys)
        if f["etcd"] == nil { r.problem(node, "fleet.etcd", "missing (etcd: { endpoints: [http://127.0.0.1:2379] })") }
        if let e {
            if let list = r.stringList(e["endpoints"], "fleet.etcd.endpoints") {
                for (i, u) in list.enumerated() {
                    if let p = FleetSettings.endpointProblem(u) {
                        r.problem(e["endpoints"], "fleet.etcd.endpoints[\(i)]", p)
                    } else {
                        endpoints.append(u.hasSuffix("/") ? String(u.dropLast()) : u)
                    }
                }
                if list.isEmpty { r.problem(e["endpoints"], "fleet.etcd.endpoints", "needs at least one member URL") }
            } else if f["etcd"] != nil {
                r.problem(f["etcd"], "fleet.etcd.endpoints", "missing (the etcd members' client URLs)")
            }
        }
        var s = FleetSettings(name: name, endpoints: endpoints, node: FleetSettings.hostName())
        if let e {
            if let t = r.mapping(e["tls"], "fleet.etcd.tls", allowed: fleetTLSKeys) {
                s.caFile = r.string(t["ca_file"], "fleet.etcd.tls.ca_file").map(path)
                s.certFile = r.string(t["cert_file"], "fleet.etcd.tls.cert_file").map(path)
                s.keyFile = r.string(t["key_file"], "fleet.etcd.tls.key_file").map(path)
                if (s.certFile == nil) != (s.keyFile == nil) {
                    r.problem(
                        e["tls"],
                        "fleet.etcd.tls",
                        "cert_file and key_file go together (the client certificate and its key)"
                    )
                }
                for (k, v) in [("ca_file", s.caFile), ("cert_file", s.certFile), ("key_file", s.keyFile)] {
                    if let v, !v.hasPrefix("${"), !FilePaths.exists(v) {
                        r.problem(t[k], "fleet.etcd.tls.\(k)", "'\(v)' does not exist")
                    }
                }
            }
            if let a = r.mapping(e["auth"], "fleet.etcd.auth", allowed: fleetAuthKeys) {
                s.usernameFile = r.string(a["username_file"], "fleet.etcd.auth.username_file").map(path)
                s.passwordFile = r.string(a["password_file"], "fleet.etcd.auth.password_file").map(path)
                if s.usernameFile == nil || s.passwordFile == nil {
                    r.problem(e["auth"], "fleet.etcd.auth", "needs both username_file and password_file")
                }
            }
            if let d = r.duration(
                e["request_timeout"],
                "fleet.etcd.request_timeout",
                range: .milliseconds(100)...(.seconds(60))
            ) {
                s.requestTimeout = d
            }
        }
        if let n = r.string(f["node"], "fleet.node") {
            if FleetSettings.isSafeName(n) {
                s.node = n
            } else {
                r.problem(f["node"], "fleet.node", "'\(n)' must be letters, digits, '.', '_' or '-'")
            }
        }
        s.vantage = s.node
        if let v = r.string(f["vantage"], "fleet.vantage") {
            if FleetSettings.isSafeName(v) {
                s.vantage = v
            } else {
                r.problem(f["vantage"], "fleet.vantage", "'\(v)' must be letters, digits, '.', '_' or '-'")
            }
        }
        if let q = r.string(f["quorum"], "fleet.quorum") {
            if let v = FleetQuorum.parse(q) {
                s.quorum = v
            } else {
                r.problem(
                    f["quorum"],
                    "fleet.quorum",
                    "'\(q)' is not majority, any, all or a number of vantages (1 or more)"
                )
            }
        }
        if let m = r.string(f["on_store_loss"], "fleet.on_store_loss") {
            if let v = StoreLossMode(rawValue: m) {
                s.onStoreLoss = v
            } else {
                r.problem(f["on_store_loss"], "fleet.on_store_loss", "'\(m)' is not local or freeze")
            }
        }
        if let d = r.duration(f["lease_ttl"], "fleet.lease_ttl", range: .seconds(2)...(.seconds(600))) {
            s.leaseTTL = Int(d.components.seconds)
        }
        out = s
    }
}
