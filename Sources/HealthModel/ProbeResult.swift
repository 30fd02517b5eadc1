import FoundationEssentials

/// The outcome of one probe.
public struct ProbeResult: Sendable, Hashable {
    public var ok: Bool
    /// Why it passed or failed: `connected`, `status 200`, `timeout (connect)`, `connection refused`,
    /// `status 503`, `body mismatch`, `tls: certificate expired`, `tls: hostname mismatch`, ...
    public var reason: String
    /// From the start of the connect to the verdict.
    public var latency: Duration
    /// The response status of http(s) checks, when one arrived.
    public var statusCode: Int?
    /// https: the peer certificate's expiry, when the handshake got that far.
    public var certNotAfter: Date?
    /// https: set when the certificate expires within `certExpiryWarning` (a warning, not a failure).
    public var certWarning: String?

    public init(
        ok: Bool,
        reason: String,
        latency: Duration,
        statusCode: Int? = nil,
        certNotAfter: Date? = nil,
        certWarning: String? = nil
    ) {
        self.ok = ok
        self.reason = reason
        self.latency = latency
        self.statusCode = statusCode
        self.certNotAfter = certNotAfter
        self.certWarning = certWarning
    }
}

extension ProbeResult {
    /// The reason classes of failed probes, for metrics and alerts.
    public static let reasonClasses = ["timeout", "refused", "status", "body", "tls", "other"]

    /// The class of a failure's reason: `timeout`, `refused` (connection refused or reset), `status` (an
    /// unexpected HTTP status), `body` (expected text missing), `tls` (handshake, certificate), else `other`.
    public var reasonClass: String {
        let r = reason.lowercased()
        if r.hasPrefix("timeout") || r.contains("timed out") { return "timeout" }
        if r.hasPrefix("tls") || r.contains("certificate") || r.contains("handshake") { return "tls" }
        if r.contains("refused") || r.contains("reset") { return "refused" }
        if r.hasPrefix("status") { return "status" }
        if r.hasPrefix("body") { return "body" }
        return "other"
    }
}
