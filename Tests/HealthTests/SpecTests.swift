import HealthModel
import Testing

@testable import Health

@Suite struct SpecTests {
    @Test(arguments: [
        ("200", [200...200]),
        ("200-399", [200...399]),
        ("200-399,404", [200...399, 404...404]),
        (" 200 - 299 , 301 ", [200...299, 301...301]),
    ])
    func statusRangesParse(text: String, ranges: [ClosedRange<Int>]) throws {
        let r = try StatusRanges(parsing: text)
        #expect(r.ranges == ranges)
        #expect(try StatusRanges(parsing: r.description) == r)
    }

    @Test(arguments: ["", "abc", "200-", "399-200", "99", "200-600", "200,,300", "200-300-400"])
    func statusRangesReject(text: String) {
        #expect(throws: HealthSpecError.self) { try StatusRanges(parsing: text) }
    }

    @Test func statusRangesContain() throws {
        let r = try StatusRanges(parsing: "200-399,404")
        #expect(r.contains(200) && r.contains(399) && r.contains(404))
        #expect(!r.contains(400) && !r.contains(503) && !r.contains(199))
        #expect(r.description == "200-399,404")
    }

    @Test func defaults() {
        let c = CheckSpec(name: "web", kind: .http)
        #expect(c.interval == .seconds(5))
        #expect(c.timeout == .seconds(2))
        #expect(c.rise == 2 && c.fall == 3)
        #expect(c.effectiveFastInterval == .seconds(1))
        #expect(c.expectStatus.description == "200-399")
        #expect(c.bodyLimit == 65536)
        #expect(c.tlsVerify)
        #expect(c.certExpiryWarning == .seconds(14 * 86400))
        #expect(c.validate().isEmpty)
        #expect(CheckDefaults.userAgent.hasPrefix("gtmd-health/"))
        #expect(CheckDefaults.fastInterval(forInterval: .seconds(2)) == .milliseconds(400))
        #expect(CheckDefaults.fastInterval(forInterval: .seconds(60)) == .seconds(1))
        #expect(CheckDefaults.fastInterval(forInterval: .milliseconds(200)) == .milliseconds(100))
    }

    @Test(arguments: [
        (
            CheckSpec(name: "a", kind: .http, timeout: .seconds(3), interval: .seconds(1)),
            "timeout 3s must not exceed interval 1s"
        ),
        (
            CheckSpec(name: "a", kind: .http, timeout: .milliseconds(1500), interval: .seconds(1)),
            "timeout 1.5s must not exceed interval 1s"
        ),
        (CheckSpec(name: "a", kind: .tcp), "a tcp check needs a port (or an endpoint address:port)"),
        (CheckSpec(name: "a", kind: .http, port: 70000), "port 70000 must be within 1-65535"),
        (CheckSpec(name: "a", kind: .http, path: "health"), "path 'health' must start with /"),
        (CheckSpec(name: "a", kind: .http, rise: 0), "rise 0 must be within 1-100"),
        (CheckSpec(name: "a", kind: .http, fall: 0), "fall 0 must be within 1-100"),
        (
            CheckSpec(name: "a", kind: .http, interval: .seconds(5), fastInterval: .seconds(6)),
            "fast_interval 6s must not exceed interval 5s"
        ),
        (
            CheckSpec(name: "a", kind: .http, expectBody: "x", bodyLimit: 0),
            "body_limit 0 must be within 1-16777216 bytes"
        ),
        (
            CheckSpec(name: "a", kind: .http, method: .head, expectBody: "ok"),
            "expect_body needs method GET (a HEAD response has no body)"
        ),
        (
            CheckSpec(name: "a", kind: .http, headers: ["Host": "x"]),
            "header 'Host' is managed by the prober (use host for Host)"
        ),
        (
            CheckSpec(name: "a", kind: .http, headers: ["X-A": "1\r\nX-B: 2"]),
            "header 'X-A' value must not contain line breaks"
        ),
        (CheckSpec(name: "a", kind: .http, caFile: "/ca.pem"), "ca_file applies to https checks only"),
        (
            CheckSpec(name: "a", kind: .https, caFile: "/nonexistent/ca.pem"),
            "ca_file '/nonexistent/ca.pem' is not readable"
        ),
        (
            CheckSpec(name: "a", kind: .https, sni: "10.0.0.1"),
            "sni '10.0.0.1' must be a host name (no SNI is sent for IP addresses)"
        ),
        (
            CheckSpec(name: "a", kind: .http, endpoint: "https://lb.example/health"),
            "endpoint 'https://lb.example/health': scheme https does not match check type http"
        ),
        (
            CheckSpec(name: "a", kind: .tcp, endpoint: "10.0.0.1:99999"),
            "endpoint '10.0.0.1:99999': port '99999' must be within 1-65535"
        ),
        (CheckSpec(name: "a", kind: .http, endpoint: "ftp://x/"), "endpoint 'ftp://x/': scheme must be http or https"),
    ])
    func validateReportsProblems(spec: CheckSpec, problem: String) {
        let problems = spec.validate()
        #expect(problems.contains(problem), "got \(problems)")
    }

    @Test func targetValidation() {
        let t = ProbeTarget(
            id: "pool/a",
            address: "not-an-ip",
            checks: [
                CheckSpec(name: "x", kind: .tcp, port: 80),
                CheckSpec(name: "x", kind: .http, timeout: .seconds(9)),
            ]
        )
        let p = t.validate()
        #expect(p.contains("target 'pool/a': address 'not-an-ip' is not an IPv4 or IPv6 address"))
        #expect(p.contains("target 'pool/a': check name 'x' is used twice"))
        #expect(p.contains("target 'pool/a' check 'x': timeout 9s must not exceed interval 5s"))
        let ok = ProbeTarget(
            id: "pool/b",
            address: "2001:db8::1",
            checks: [CheckSpec(name: "tcp", kind: .tcp, port: 443)]
        )
        #expect(ok.validate().isEmpty)
        #expect(ProbeTarget.validate([ok, ok]).contains("target id 'pool/b' is used twice"))
    }

    /// (address, spec, connect host, port, path, Host header, SNI)
    @Test(arguments: [
        ("10.0.0.1", CheckSpec(name: "a", kind: .http), "10.0.0.1", 80, "/", "10.0.0.1", String?.none),
        (
            "10.0.0.1", CheckSpec(name: "a", kind: .http, port: 8080, path: "/hc"), "10.0.0.1", 8080, "/hc",
            "10.0.0.1:8080", nil
        ),
        ("2001:db8::1", CheckSpec(name: "a", kind: .https), "2001:db8::1", 443, "/", "[2001:db8::1]", nil),
        (
            "2001:db8::1", CheckSpec(name: "a", kind: .https, port: 8443), "2001:db8::1", 8443, "/",
            "[2001:db8::1]:8443", nil
        ),
        (
            "10.0.0.1", CheckSpec(name: "a", kind: .https, host: "www.example.com"), "10.0.0.1", 443, "/",
            "www.example.com",
            "www.example.com"
        ),
        (
            "10.0.0.1", CheckSpec(name: "a", kind: .https, host: "www.example.com:8443"), "10.0.0.1", 443, "/",
            "www.example.com:8443", "www.example.com"
        ),
        (
            "10.0.0.1", CheckSpec(name: "a", kind: .https, host: "www.example.com", sni: "origin.example.com"),
            "10.0.0.1", 443,
            "/", "www.example.com", "origin.example.com"
        ),
        (
            "10.0.0.1", CheckSpec(name: "a", kind: .https, endpoint: "https://lb.example.net:8443/health?full=1"),
            "lb.example.net", 8443, "/health?full=1", "lb.example.net:8443", "lb.example.net"
        ),
        (
            "10.0.0.1", CheckSpec(name: "a", kind: .http, path: "/x", endpoint: "10.9.9.9:81"), "10.9.9.9", 81, "/x",
            "10.9.9.9:81", nil
        ),
        (
            "10.0.0.1", CheckSpec(name: "a", kind: .tcp, port: 22, endpoint: "[2001:db8::5]:2222"), "2001:db8::5", 2222,
            "/",
            "[2001:db8::5]:2222", nil
        ),
        (
            "10.0.0.1", CheckSpec(name: "a", kind: .tcp, port: 22, endpoint: "2001:db8::5"), "2001:db8::5", 22, "/",
            "[2001:db8::5]:22", nil
        ),
    ])
    func resolveEndpoint(
        address: String,
        spec: CheckSpec,
        host: String,
        port: Int,
        path: String,
        hostHeader: String,
        sni: String?
    ) throws {
        let r = try ResolvedCheck.resolve(spec, address: address).get()
        #expect(r.host == host)
        #expect(r.port == port)
        #expect(r.path == path)
        #expect(r.hostHeader == hostHeader)
        #expect(r.serverName == sni)
        #expect((r.socketAddress != nil) == isIPLiteral(host))
    }

    @Test(arguments: [
        (Duration.seconds(3), "3s"), (.milliseconds(1500), "1.5s"), (.milliseconds(250), "250ms"),
        (.seconds(120), "2m"), (.seconds(14 * 86400), "14d"), (.seconds(3600), "1h"), (.zero, "0s"),
    ])
    func durationText(d: Duration, text: String) {
        #expect(formatDuration(d) == text)
    }
}
