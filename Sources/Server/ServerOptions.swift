/// One address to serve DNS on, UDP and TCP. `host` is an IP literal ("127.0.0.1", "::1", "0.0.0.0",
/// "::"); names are not resolved. Port 0 asks the OS for a free port (the same one for UDP and TCP).
public struct ListenEndpoint: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// "127.0.0.1:53" or "[::1]:53".
    public var description: String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }
}

/// Tuning knobs of `DNSServer`. The defaults suit production; tests shrink the timeouts.
public struct ServerOptions: Sendable {
    /// UDP sockets (each with its own OS thread) per listen address, sharing the port via SO_REUSEPORT.
    /// 0 = one per core.
    public var udpWorkersPerAddress: Int
    /// Datagrams received / sent per recvmmsg / sendmmsg call (1...1024).
    public var udpBatchSize: Int
    /// SO_RCVBUF / SO_SNDBUF of each UDP socket in bytes (the kernel clamps to net.core.rmem_max /
    /// wmem_max); 0 = kernel default.
    public var socketBufferSize: Int
    /// Open TCP connections in total; connections over the cap are accepted and closed at once.
    public var tcpMaxConnections: Int
    /// Open TCP connections per client IP address; over the cap they are accepted and closed at once.
    public var tcpMaxConnectionsPerClient: Int
    /// A TCP connection that sends nothing for this long is closed.
    public var tcpIdleTimeout: Duration
    /// Once the first byte of a TCP query has arrived, the whole query must arrive within this time.
    public var tcpQueryTimeout: Duration
    /// Event-loop threads serving TCP (the responder runs on them). 0 = one per core.
    public var tcpThreads: Int
    /// Response rate limiting of UDP replies (off unless `responsesPerSecond > 0`); see `RateLimitOptions`.
    public var rateLimit: RateLimitOptions

    public init(
        udpWorkersPerAddress: Int = 0,
        udpBatchSize: Int = 64,
        socketBufferSize: Int = 4 << 20,
        tcpMaxConnections: Int = 512,
        tcpMaxConnectionsPerClient: Int = 32,
        tcpIdleTimeout: Duration = .seconds(10),
        tcpQueryTimeout: Duration = .seconds(5),
        tcpThreads: Int = 1,
        rateLimit: RateLimitOptions = RateLimitOptions()
    ) {
        self.udpWorkersPerAddress = udpWorkersPerAddress
        self.udpBatchSize = udpBatchSize
        self.socketBufferSize = socketBufferSize
        self.tcpMaxConnections = tcpMaxConnections
        self.tcpMaxConnectionsPerClient = tcpMaxConnectionsPerClient
        self.tcpIdleTimeout = tcpIdleTimeout
        self.tcpQueryTimeout = tcpQueryTimeout
        self.tcpThreads = tcpThreads
        self.rateLimit = rateLimit
    }
}

/// Why `DNSServer.start()` failed; `description` names the address, the protocol and the OS reason.
public struct ServerError: Error, CustomStringConvertible, Sendable {
    /// The listen address concerned, if any.
    public var endpoint: ListenEndpoint?
    public var message: String

    public init(endpoint: ListenEndpoint?, message: String) {
        self.endpoint = endpoint
        self.message = message
    }

    public var description: String {
        if let endpoint { return "\(endpoint): \(message)" }
        return message
    }
}
