import HealthModel
import Testing

@testable import Health

/// The status parse and the request of the probe thread's plain HTTP checks.
@Suite struct HTTPStatusExchangeTests {
    func verdict(_ text: String) -> HTTPStatusExchange.Verdict? {
        HTTPStatusExchange.verdict(of: Array(text.utf8))
    }

    @Test func statusOnceTheHeaderBlockEnds() {
        #expect(verdict("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok") == .status(200))
        #expect(verdict("HTTP/1.0 503 Service Unavailable\r\n\r\n") == .status(503))
        #expect(verdict("HTTP/1.1 204\r\n\r\n") == .status(204))
        #expect(verdict("HTTP/1.1 302 Found\n\n") == .status(302))
        // Not yet: the header block has not ended, whatever came of it.
        #expect(verdict("") == nil)
        #expect(verdict("HTTP/1.1 200 OK\r\n") == nil)
        #expect(verdict("HTTP/1.1 200 OK\r\nServer: x\r\n") == nil)
        #expect(verdict("HTTP/1.1 2") == nil)
    }

    /// The reason of every status reads `status CODE`, literal or formatted.
    @Test func theReasonNamesTheStatus() {
        for code in 100...599 { #expect(HTTPStatusExchange.reason(code) == "status " + String(code)) }
    }

    @Test func badStatusLinesAreInvalid() {
        #expect(verdict("HTTP/2 200 OK\r\n\r\n") == .invalid("status line"))
        #expect(verdict("HTTP/1.1 20 OK\r\n\r\n") == .invalid("status line"))
        #expect(verdict("HTTP/1.1 2000 OK\r\n\r\n") == .invalid("status line"))
        #expect(verdict("HTTP/1.1 abc\r\n\r\n") == .invalid("status line"))
        #expect(verdict("SSH-2.0-OpenSSH_9.2\r\n\r\n") == .invalid("status line"))
        #expect(verdict("HTTP/1.1 099 Low\r\n\r\n") == .invalid("status 99"))
        #expect(verdict("HTTP/1.1 600 High\r\n\r\n") == .invalid("status 600"))
        let huge = "HTTP/1.1 200 OK\r\n" + String(repeating: "X-Filler: 0123456789\r\n", count: 1000)
        #expect(verdict(huge) == .invalid("headers over 16384 bytes"))
        #expect(verdict(huge + "\r\n") == .invalid("headers over 16384 bytes"))
    }

    @Test func theRequestIsTheProbersRequest() throws {
        var spec = CheckSpec(name: "h", kind: .http, port: 8080, path: "/healthz?full=1")
        spec.headers = ["X-Probe": "gtmd", "Authorization": "Bearer t"]
        let check = try ResolvedCheck.resolve(spec, address: "192.0.2.1").get()
        let text = String(decoding: HTTPStatusExchange(check).request, as: UTF8.self)
        #expect(
            text == "GET /healthz?full=1 HTTP/1.1\r\nHost: 192.0.2.1:8080\r\nUser-Agent: \(CheckDefaults.userAgent)\r\n"
                + "Accept: */*\r\nAuthorization: Bearer t\r\nX-Probe: gtmd\r\nConnection: close\r\n\r\n"
        )
        spec.headers = ["user-agent": "lb-check"]
        spec.method = .head
        let own = String(
            decoding: HTTPStatusExchange(try ResolvedCheck.resolve(spec, address: "192.0.2.1").get()).request,
            as: UTF8.self
        )
        #expect(
            own == "HEAD /healthz?full=1 HTTP/1.1\r\nHost: 192.0.2.1:8080\r\nAccept: */*\r\nuser-agent: lb-check\r\n"
                + "Connection: close\r\n\r\n"
        )
    }

    @Test func onlyPlainStatusChecksOfAnAddressRunOnTheProbeThread() throws {
        func plain(
            _ kind: CheckKind,
            _ address: String,
            _ configure: (inout CheckSpec) -> Void = { _ in }
        ) throws -> Bool {
            var s = CheckSpec(name: "c", kind: kind, port: 80)
            configure(&s)
            return try ResolvedCheck.resolve(s, address: address).get().isPlainStatusCheck
        }
        #expect(try plain(.http, "192.0.2.1"))
        #expect(try plain(.http, "2001:db8::1"))
        #expect(try !plain(.http, "lb.example"))
        #expect(try !plain(.https, "192.0.2.1"))
        #expect(try !plain(.tcp, "192.0.2.1"))
        #expect(try !plain(.http, "192.0.2.1") { $0.expectBody = "ok" })
    }
}
