import HealthModel
import NIOCore

/// Where and how one check of one target probes, computed once from the specs.
struct ResolvedCheck: Sendable, Hashable {
    var spec: CheckSpec
    /// IP literal or host name to connect to.
    var host: String
    var port: Int
    /// Non-nil when `host` is an IP literal.
    var socketAddress: SocketAddress?
    var path: String
    var hostHeader: String
    /// SNI and the name the certificate must match; nil: none (the certificate must name the IP).
    var serverName: String?
    /// For status and the probe table: `127.0.0.1:80`, `https://lb.example:8443/health`.
    var display: String

    static func == (a: ResolvedCheck, b: ResolvedCheck) -> Bool {
        a.spec == b.spec && a.host == b.host && a.port == b.port && a.path == b.path
            && a.hostHeader == b.hostHeader && a.serverName == b.serverName
    }
    func hash(into h: inout Hasher) {
        h.combine(spec)
        h.combine(host)
        h.combine(port)
        h.combine(path)
        h.combine(hostHeader)
        h.combine(serverName)
    }

    /// Fails only on what `validate()` reports too; the reason is given as a failed probe.
    static func resolve(_ spec: CheckSpec, address: String) -> Result<ResolvedCheck, HealthSpecError> {
        var host = address
        var port = spec.port
        var path = spec.path
        if let e = spec.endpoint {
            switch ProbeEndpoint.parse(e) {
            case .success(let ep):
                host = ep.host
                if let p = ep.port { port = p }
                if let p = ep.path { path = p }
            case .failure(let err):
                return .failure(err)
            }
        }
        guard let port = port ?? spec.kind.defaultPort else {
            return .failure(HealthSpecError("a tcp check needs a port"))
        }
        let isIP = isIPLiteral(host)
        let socketAddress = isIP ? try? SocketAddress(ipAddress: host, port: port) : nil
        if isIP, socketAddress == nil { return .failure(HealthSpecError("cannot use address '\(host)'")) }
        let bracketed = host.contains(":") ? "[\(host)]" : host
        let defaultPort = spec.kind.defaultPort
        let authority = port == defaultPort ? bracketed : "\(bracketed):\(port)"
        let hostHeader = spec.host ?? authority
        var serverName: String? = nil
        if spec.kind == .https {
            if let sni = spec.sni {
                serverName = sni
            } else {
                let name = hostName(ofHostHeader: hostHeader)
                serverName = isIPLiteral(name) ? nil : name
            }
        }
        let display: String
        switch spec.kind {
        case .tcp: display = "\(bracketed):\(port)"
        case .http, .https: display = "\(spec.kind.rawValue)://\(bracketed):\(port)\(path)"
        }
        return .success(
            ResolvedCheck(
                spec: spec,
                host: host,
                port: port,
                socketAddress: socketAddress,
                path: path,
                hostHeader: hostHeader,
                serverName: serverName,
                display: display
            )
        )
    }
}

extension ResolvedCheck {
    /// The request headers of an http(s) probe, in the order sent: Host, User-Agent (unless the check sets
    /// its own), Accept, the check's own headers by name, Connection: close. One list for both ways a probe
    /// is made (on the probe thread, and with NIO for HTTPS and body checks).
    var requestHeaders: [(name: String, value: String)] {
        var h: [(name: String, value: String)] = [("Host", hostHeader)]
        if !spec.headers.keys.contains(where: { $0.lowercased() == "user-agent" }) {
            h.append(("User-Agent", CheckDefaults.userAgent))
        }
        h.append(("Accept", "*/*"))
        for (name, value) in spec.headers.sorted(by: { $0.key < $1.key }) { h.append((name, value)) }
        h.append(("Connection", "close"))
        return h
    }

    /// A plain HTTP check of an address that judges the status only: made on the probe thread, without NIO.
    var isPlainStatusCheck: Bool {
        spec.kind == .http && socketAddress != nil && (spec.expectBody == nil || spec.method == .head)
    }
}
