import Foundation
import HealthModel
import Testing

@testable import Health

/// The prober against real loopback backends (python3 HTTP/HTTPS servers, openssl-made certificates).
@Suite(.enabled(if: Tools.available, "needs python3 and openssl"))
struct ProbeTests {
    let prober = Prober(group: nil)

    func probe(_ spec: CheckSpec, address: String = "127.0.0.1") async throws -> ProbeResult {
        let r = try ResolvedCheck.resolve(spec, address: address).get()
        return await prober.probe(r)
    }

    func http(_ path: String, _ configure: (inout CheckSpec) -> Void = { _ in }) async throws -> CheckSpec {
        let b = try await Backend.shared.value
        var s = CheckSpec(name: "http", kind: .http, port: b.ports.http, path: path, timeout: .milliseconds(1500))
        configure(&s)
        return s
    }

    func https(
        _ cert: String,
        _ path: String = "/ok",
        _ configure: (inout CheckSpec) -> Void = { _ in }
    ) async throws
        -> CheckSpec
    {
        let b = try await Backend.shared.value
        var s = CheckSpec(
            name: "https",
            kind: .https,
            port: b.httpsPort(cert),
            path: path,
            timeout: .milliseconds(1500),
            caFile: b.caFile
        )
        configure(&s)
        return s
    }

    // MARK: http

    /// (path, expected ok, expected reason)
    @Test(arguments: [
        ("/ok", true, "status 200"),
        ("/status/503", false, "status 503"),
        ("/status/404", false, "status 404"),
        ("/status/302", true, "status 302"),
        ("/close", false, "connection closed before response"),
    ])
    func httpVerdicts(path: String, ok: Bool, reason: String) async throws {
        let r = try await probe(try await http(path))
        #expect(r.ok == ok)
        #expect(r.reason == reason)
        #expect(r.latency > .zero && r.latency < .seconds(1))
    }

    @Test func expectedStatusList() async throws {
        let ranges = try StatusRanges(parsing: "200-299,503")
        let r = try await probe(try await http("/status/503") { $0.expectStatus = ranges })
        #expect(r.ok && r.reason == "status 503" && r.statusCode == 503)
        let r2 = try await probe(try await http("/status/302") { $0.expectStatus = ranges })
        #expect(!r2.ok && r2.reason == "status 302")
    }

    @Test func bodyMatch() async throws {
        let good = try await probe(try await http("/ok") { $0.expectBody = "gtmd test backend" })
        #expect(good.ok && good.reason == "status 200")
        let bad = try await probe(try await http("/body") { $0.expectBody = "gtmd test backend" })
        #expect(!bad.ok && bad.reason == "body mismatch")
        // The body must be read only up to the limit: NEEDLE sits after 200 KiB.
        let far = try await probe(try await http("/big") { $0.expectBody = "NEEDLE" })
        #expect(!far.ok && far.reason == "body mismatch (not in the first 65536 bytes)")
        let farAllowed = try await probe(
            try await http("/big") {
                $0.expectBody = "NEEDLE"
                $0.bodyLimit = 300 * 1024
            }
        )
        #expect(farAllowed.ok)
    }

    @Test func headRequest() async throws {
        let r = try await probe(try await http("/ok") { $0.method = .head })
        #expect(r.ok && r.reason == "status 200")
        let r2 = try await probe(try await http("/status/500") { $0.method = .head })
        #expect(!r2.ok && r2.reason == "status 500")
    }

    @Test func requestHeaders() async throws {
        let ua = try await probe(try await http("/echo") { $0.expectBody = "User-Agent: gtmd-health/" })
        #expect(ua.ok, "\(ua.reason)")
        let host = try await probe(
            try await http("/echo") {
                $0.host = "www.example.test"
                $0.expectBody = "Host: www.example.test\n"
            }
        )
        #expect(host.ok, "\(host.reason)")
        let b = try await Backend.shared.value
        let defaultHost = try await probe(
            try await http("/echo") { $0.expectBody = "Host: 127.0.0.1:\(b.ports.http)\n" }
        )
        #expect(defaultHost.ok, "\(defaultHost.reason)")
        for needle in ["X-Gtmd-Probe: yes\n", "User-Agent: custom-agent\n"] {
            let extra = try await probe(
                try await http("/echo") {
                    $0.headers = ["X-Gtmd-Probe": "yes", "User-Agent": "custom-agent"]
                    $0.expectBody = needle
                }
            )
            #expect(extra.ok, "\(needle): \(extra.reason)")
        }
        let noDefaultUA = try await probe(
            try await http("/echo") {
                $0.headers = ["User-Agent": "custom-agent"]
                $0.expectBody = "gtmd-health"
            }
        )
        #expect(!noDefaultUA.ok && noDefaultUA.reason == "body mismatch")
        let path = try await probe(try await http("/echo?x=1") { $0.expectBody = "GET /echo?x=1\n" })
        #expect(path.ok, "\(path.reason)")
    }

    @Test func hangingBackendTimesOut() async throws {
        let r = try await probe(try await http("/hang") { $0.timeout = .milliseconds(300) })
        #expect(!r.ok)
        #expect(r.reason == "timeout (waiting for response)")
        #expect(r.latency >= .milliseconds(290) && r.latency < .milliseconds(900))
    }

    @Test func connectionRefused() async throws {
        let b = try await Backend.shared.value
        let r = try await probe(CheckSpec(name: "http", kind: .http, port: b.ports.closed))
        #expect(!r.ok && r.reason == "connection refused")
    }

    @Test func endpointOverride() async throws {
        let b = try await Backend.shared.value
        // The member's own port is closed; the check names where the health endpoint really lives.
        let spec = CheckSpec(
            name: "lb",
            kind: .http,
            port: b.ports.closed,
            endpoint: "http://127.0.0.1:\(b.ports.http)/status/204"
        )
        let r = try await probe(spec, address: "127.0.0.9")
        #expect(r.ok && r.reason == "status 204")
        let byName = CheckSpec(
            name: "lb",
            kind: .http,
            expectBody: "Host: localhost:",
            endpoint: "http://localhost:\(b.ports.http)/echo"
        )
        let r2 = try await probe(byName, address: "127.0.0.9")
        #expect(r2.ok, "\(r2.reason)")
    }

    // MARK: tcp

    @Test func tcpChecks() async throws {
        let b = try await Backend.shared.value
        let up = try await probe(CheckSpec(name: "tcp", kind: .tcp, port: b.ports.http))
        #expect(up.ok && up.reason == "connected")
        let down = try await probe(CheckSpec(name: "tcp", kind: .tcp, port: b.ports.closed))
        #expect(!down.ok && down.reason == "connection refused")
        let v6 = try await probe(CheckSpec(name: "tcp", kind: .tcp, port: b.ports.closed), address: "::1")
        #expect(!v6.ok)
    }

    @Test func tcpConnectTimeout() async throws {
        let b = try await Backend.shared.value
        let r = try await probe(
            CheckSpec(name: "tcp", kind: .tcp, port: b.ports.blackhole, timeout: .milliseconds(300))
        )
        // A full accept queue drops the SYN, so the connect hangs until the deadline.
        #expect(!r.ok)
        #expect(r.reason == "timeout (connect)")
        #expect(r.latency < .milliseconds(900))
    }

    // MARK: https

    /// (certificate, path, ok, reason)
    @Test(arguments: [
        ("valid", "/ok", true, "status 200"),
        ("valid", "/status/503", false, "status 503"),
        ("valid", "/close", false, "connection closed before response"),
        ("expired", "/ok", false, "tls: certificate expired"),
        ("wrongname", "/ok", false, "tls: hostname mismatch"),
        ("untrusted", "/ok", false, "tls: certificate not trusted"),
    ])
    func httpsVerdicts(cert: String, path: String, ok: Bool, reason: String) async throws {
        let r = try await probe(try await https(cert, path))
        #expect(r.ok == ok)
        #expect(r.reason == reason)
        if ok { #expect(r.certWarning == nil && r.certNotAfter != nil) }
    }

    @Test func httpsNamesAndSNI() async throws {
        // Host header name is used for SNI and verification.
        let named = try await probe(try await https("valid") { $0.host = "localhost" })
        #expect(named.ok, "\(named.reason)")
        let wrong = try await probe(try await https("wrongname") { $0.sni = "other.example.org" })
        #expect(!wrong.ok && wrong.reason == "tls: hostname mismatch")
        // NIOSSL also accepts a certificate naming the probed IP address, whatever the name.
        let byIP = try await probe(try await https("valid") { $0.sni = "other.example.org" })
        #expect(byIP.ok, "\(byIP.reason)")
        let wrongOK = try await probe(try await https("wrongname") { $0.sni = "wrong.example.net" })
        #expect(wrongOK.ok, "\(wrongOK.reason)")
    }

    @Test func httpsTrustRoots() async throws {
        // Without the test CA, the system roots do not trust the certificate.
        let sys = try await probe(try await https("valid") { $0.caFile = nil })
        #expect(!sys.ok && sys.reason == "tls: certificate not trusted")
        let missing = try await probe(try await https("valid") { $0.caFile = "/nonexistent/ca.pem" })
        #expect(!missing.ok && missing.reason.hasPrefix("tls: cannot load ca_file '/nonexistent/ca.pem'"))
        // Verification off: anything goes, expiry still shows as a warning.
        let off = try await probe(
            try await https("expired") {
                $0.tlsVerify = false
                $0.caFile = nil
            }
        )
        #expect(off.ok, "\(off.reason)")
        #expect(off.certWarning?.hasPrefix("tls: certificate expired") == true)
    }

    @Test func certificateExpiryWarning() async throws {
        let soon = try await probe(try await https("soon"))
        #expect(soon.ok && soon.reason == "status 200")
        let w = try #require(soon.certWarning)
        #expect(w.hasPrefix("tls: certificate expires in 2d 23h"), "\(w)")
        let leftDays = (soon.certNotAfter!.timeIntervalSinceNow) / 86400
        #expect(leftDays > 2.9 && leftDays < 3.1)
        // A 1-day window: no warning.
        let calm = try await probe(try await https("soon") { $0.certExpiryWarning = .seconds(86400) })
        #expect(calm.ok && calm.certWarning == nil)
    }

    @Test func httpsTimeoutsAndMisuse() async throws {
        let hang = try await probe(try await https("valid", "/hang") { $0.timeout = .milliseconds(300) })
        #expect(!hang.ok && hang.reason == "timeout (waiting for response)")
        // TLS to a plain HTTP port.
        let b = try await Backend.shared.value
        let plain = try await probe(try await https("valid") { $0.port = b.ports.http })
        #expect(!plain.ok && plain.reason == "tls: handshake failed (wrong version number)")
        // Plain HTTP to a TLS port: the server waits for a handshake that never comes, or drops us.
        let mismatch = try await probe(
            CheckSpec(name: "x", kind: .http, port: b.httpsPort("valid"), timeout: .milliseconds(500))
        )
        #expect(!mismatch.ok, "\(mismatch.reason)")
    }

    @Test func cancellationEndsAProbe() async throws {
        let spec = try await http("/hang") { $0.timeout = .seconds(10) }
        let task = Task { try await probe(spec) }
        try await Task.sleep(for: .milliseconds(100))
        let start = ContinuousClock.now
        task.cancel()
        let r = try await task.value
        // Ended by the cancel: the 10 s timeout would say "timeout". (The elapsed time is only bounded below
        // the timeout: under a loaded parallel test run the event loop can take seconds to get to it.)
        #expect(!r.ok && r.reason == "cancelled")
        #expect(ContinuousClock.now - start < .seconds(9))
    }
}
