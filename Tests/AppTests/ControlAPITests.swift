import Config
import Control
import Foundation
import HealthModel
import Logging
import Policy
import Steering
import Synchronization
import TestSupport
import Testing

@testable import App

/// The control API's routes over its narrow `ControlBackend` seam: no runtime, no sockets. The backend here
/// records what the API hands to the steering loop and answers as the loop would.
@Suite struct ControlAPIRoutes {
    final class Backend: ControlBackend {
        let logger = Logger(label: "test")
        let prepared: Prepared
        let answer: SteeringOutcome?
        let changes = Mutex<[OverrideChange]>([])
        var isReady: Bool { true }
        var view: SteeringView {
            SteeringView(
                prepared: prepared,
                stateFile: "/nonexistent/state.json",
                overrides: OverrideSet(),
                decisions: [:],
                switches: [:],
                failovers: [:],
                generation: 7
            )
        }
        var health: HealthSnapshot { HealthSnapshot() }
        func metricsInput() -> MetricsInput { fatalError("not used") }
        func apply(_ change: OverrideChange) -> SteeringOutcome? {
            changes.withLock { $0.append(change) }
            return answer
        }
        func subscribeEvents(_ listener: @escaping @Sendable ([GtmdEvent]) -> Void) -> UInt64 { 0 }
        func unsubscribeEvents(_ id: UInt64) {}
        /// What `reload()` answers; every call is counted.
        let reloadAnswer: ReloadReport
        let reloads = Mutex(0)
        func reload() -> ReloadReport {
            reloads.withLock { $0 += 1 }
            return reloadAnswer
        }
        var lastReload: ReloadReport? { nil }
        init(tokenFile: String?, answer: SteeringOutcome?, reload: ReloadReport.Result = .installed) throws {
            var config = try ControlUnits.config()
            config.control.tokenFile = tokenFile
            prepared = Prepared(config: config, zones: [])
            self.answer = answer
            let now = Date()
            reloadAnswer = ReloadReport(
                trigger: "control API",
                started: now,
                finished: now,
                result: reload,
                errors: reload == .refused ? ["gtmd.yaml:3: services.www: 'x' is not a pool"] : [],
                generation: reload == .installed ? 8 : nil
            )
        }
    }

    func tokenFile() throws -> (String, String) {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("token-\(UUID().uuidString)").path
        let token = "t-\(UUID().uuidString)"
        try token.write(toFile: path, atomically: true, encoding: .utf8)
        return (path, token)
    }

    func post(_ api: ControlAPI, token: String?, _ body: String) -> ControlResponse {
        api.handle(
            ControlRequest(
                method: "POST",
                uri: "/v1/overrides",
                headers: token.map { [(name: "Authorization", value: "Bearer \($0)")] } ?? [],
                body: Array(body.utf8)
            )
        )
    }

    @Test func aValidOverrideIsHandedToTheLoopAndAnsweredWhenInForce() throws {
        let (file, token) = try tokenFile()
        let backend = try Backend(tokenFile: file, answer: SteeringOutcome(generation: 8, installed: true))
        let api = ControlAPI(backend: backend)
        let r = post(api, token: token, #"{"scope": "pool", "target": "primary", "action": "down", "note": "drill"}"#)
        #expect(r.status == 200, "\(String(decoding: r.body, as: UTF8.self))")
        let changes = backend.changes.withLock { $0 }
        guard case .set(let o)? = changes.first, changes.count == 1 else {
            Issue.record("\(changes)")
            return
        }
        #expect(o.scope == .pool && o.target == "primary" && o.action == .down && o.note == "drill")
    }

    @Test func refusalsNeverReachTheLoop() throws {
        let (file, token) = try tokenFile()
        let backend = try Backend(tokenFile: file, answer: SteeringOutcome(generation: 8, installed: true))
        let api = ControlAPI(backend: backend)
        #expect(post(api, token: nil, #"{"scope": "pool", "target": "primary", "action": "down"}"#).status == 401)
        #expect(post(api, token: "wrong", #"{"scope": "pool", "target": "primary", "action": "down"}"#).status == 401)
        #expect(post(api, token: token, #"{"scope": "pool", "target": "nosuch", "action": "down"}"#).status == 400)
        #expect(post(api, token: token, "{").status == 400)
        let noToken = try Backend(tokenFile: nil, answer: nil)
        #expect(
            post(
                ControlAPI(backend: noToken),
                token: token,
                #"{"scope": "pool", "target": "primary", "action": "down"}"#
            )
            .status == 403
        )
        #expect(backend.changes.withLock { $0 }.isEmpty && noToken.changes.withLock { $0 }.isEmpty)
    }

    @Test func aLoopThatDoesNotAnswerIs503AndAnUnsavedChangeIs500() throws {
        let (file, token) = try tokenFile()
        let silent = try Backend(tokenFile: file, answer: nil)
        #expect(
            post(
                ControlAPI(backend: silent),
                token: token,
                #"{"scope": "pool", "target": "primary", "action": "down"}"#
            )
            .status == 503
        )
        let unsaved = try Backend(
            tokenFile: file,
            answer: SteeringOutcome(generation: 8, installed: true, problem: "in force, but not saved: disk full")
        )
        let r = post(
            ControlAPI(backend: unsaved),
            token: token,
            #"{"scope": "pool", "target": "primary", "action": "down"}"#
        )
        #expect(r.status == 500 && String(decoding: r.body, as: UTF8.self).contains("not saved"))
    }

    @Test func clearNormalisesTheServiceNameAndReportsTheCount() throws {
        let (file, token) = try tokenFile()
        let backend = try Backend(tokenFile: file, answer: SteeringOutcome(generation: 9, installed: true, cleared: 1))
        let api = ControlAPI(backend: backend)
        let r = api.handle(
            ControlRequest(
                method: "DELETE",
                uri: "/v1/overrides?scope=service&target=WWW.lab.example",
                headers: [(name: "Authorization", value: "Bearer \(token)")]
            )
        )
        #expect(r.status == 200 && String(decoding: r.body, as: UTF8.self).contains("\"cleared\" : 1"))
        #expect(backend.changes.withLock { $0 } == [.clear(scope: .service, target: "www.lab.example.")])
    }

    func request(
        _ api: ControlAPI,
        _ method: String,
        _ uri: String,
        token: String?,
        body: String = ""
    ) -> ControlResponse {
        api.handle(
            ControlRequest(
                method: method,
                uri: uri,
                headers: token.map { [(name: "Authorization", value: "Bearer \($0)")] } ?? [],
                body: Array(body.utf8)
            )
        )
    }

    static let valid = #"{"scope": "pool", "target": "primary", "action": "down""#

    /// Issue 13: `{"fro": "10m"}` became a permanent drain. Every endpoint now refuses what it does not know,
    /// with 400 and a message naming the field or parameter, and nothing reaches the steering loop.
    @Test(arguments: [
        (
            "POST", "/v1/overrides", #"{"fro": "10m"}"#,
            "unknown field 'fro' (allowed: scope, target, action, pool, for, until, note)"
        ),
        ("PUT", "/v1/overrides", valid + #", "fro": "10m"}"#, "unknown field 'fro'"),
        (
            "POST", "/v1/overrides", valid + #", "for": 600}"#,
            #"field 'for' must be a string (e.g. "30m"), not a number (600)"#
        ),
        ("POST", "/v1/overrides", valid + #", "for": "10m", "for": "1d"}"#, "field 'for' is given twice"),
        ("POST", "/v1/overrides", #"{"scope": "pool", "target": "primary"}"#, "missing field 'action'"),
        (
            "POST", "/v1/overrides", #"{"scope": true, "target": "primary", "action": "down"}"#,
            "field 'scope' must be a string"
        ),
        ("POST", "/v1/overrides", valid + #", "note": {"why": "x"}}"#, "field 'note' must be a string"),
        (
            "POST", "/v1/overrides", valid + #", "until": "tomorrow"}"#,
            "field 'until': 'tomorrow' is not an ISO 8601 time"
        ),
        ("POST", "/v1/overrides", valid + #", "until": "9999-01-01T00:00:00Z"}"#, "more than 10000 days ahead"),
        (
            "POST", "/v1/overrides", valid + #", "until": "27777777777777027-01-01T00:00:00Z"}"#,
            "field 'until': '27777777777777027-01-01T00:00:00Z' is not an ISO 8601 time in the years 1 to 9999"
        ),
        ("POST", "/v1/overrides", valid + #", "for": "0s"}"#, "must be longer than 0s"),
        ("POST", "/v1/overrides", valid + #", "note": "a\nb"}"#, "control character U+000A"),
        (
            "POST", "/v1/overrides", valid + #", "note": ""# + String(repeating: "n", count: 501) + #""}"#,
            "at most 500"
        ),
        ("POST", "/v1/overrides", "[1, 2]", "body is not a JSON object"),
        ("POST", "/v1/overrides", " ", "body is empty"),
        ("POST", "/v1/overrides", valid + "}}", "body is not valid JSON"),
        (
            "POST", "/v1/overrides", #"{"scope": "pool", "target"#,
            "body is not valid JSON: the text ends inside a value (at byte 25)"
        ),
        // The decoders take a trailing comma; JSON does not.
        ("POST", "/v1/overrides", valid + ",}", "body is not valid JSON: a comma before the closing '}' at byte"),
        (
            "POST", "/v1/overrides", valid + #", "note": "\ud800"}"#,
            "body is not valid JSON: an unpaired surrogate \\ud800 at byte"
        ),
        (
            "POST", "/v1/overrides", valid + #", "note": 1e999}"#,
            "body is not valid JSON: the number 1e999 is out of range"
        ),
        (
            "POST", "/v1/overrides?dry_run=1", valid + "}",
            "unknown parameter 'dry_run' (POST /v1/overrides takes no parameters)"
        ),
        (
            "DELETE", "/v1/overrides?scope=pool&target=primary&force=1", "",
            "unknown parameter 'force' (known: scope, target)"
        ),
        ("DELETE", "/v1/overrides?scope=pool", "", "missing parameter 'target'"),
        (
            "DELETE", "/v1/overrides?scope=pool&scope=member&target=primary", "",
            "query parameter 'scope' is given twice"
        ),
        (
            "DELETE", "/v1/overrides", #"{"scope": "pool", "target": "primary", "all": true}"#,
            "unknown field 'all' (allowed: scope, target)"
        ),
        ("DELETE", "/v1/overrides?scope=pool&target=primary", #"{"scope": "pool"}"#, "not both"),
        ("POST", "/v1/reload?wait=0", "", "unknown parameter 'wait' (POST /v1/reload takes no parameters)"),
        ("POST", "/v1/reload", "{}", "POST /v1/reload takes no body"),
        ("GET", "/status?verbose=1", "", "unknown parameter 'verbose' (GET /status takes no parameters)"),
        ("GET", "/status", "{}", "GET /status takes no body"),
        ("GET", "/v1/overrides?all=1", "", "unknown parameter 'all'"),
        ("GET", "/healthz?x", "", "unknown parameter 'x'"),
        ("GET", "/explain?name=www.lab.example&name=near.lab.example", "", "query parameter 'name' is given twice"),
        ("GET", "/explain?name=%zz", "", "not valid percent-encoding"),
        (
            "GET", "/explain?name=www.lab.example&colour=red", "",
            "unknown parameter 'colour' (known: name, type, client, ecs)"
        ),
        // `ecs=` split into no parts and was indexed: a trap that stopped the server.
        ("GET", "/explain?name=www.lab.example&ecs=", "", "ecs '' is not ADDRESS/PREFIX"),
    ])
    func strictInput(_ method: String, _ uri: String, _ body: String, _ message: String) throws {
        let (file, token) = try tokenFile()
        let backend = try Backend(tokenFile: file, answer: SteeringOutcome(generation: 8, installed: true, cleared: 1))
        let r = request(ControlAPI(backend: backend), method, uri, token: token, body: body)
        let object = try? JSONSerialization.jsonObject(with: Data(r.body)) as? [String: Any]
        let text = object?["error"] as? String ?? String(decoding: r.body, as: UTF8.self)
        #expect(r.status == 400 && text.contains(message), "\(method) \(uri) \(body): \(r.status) \(text)")
        #expect(backend.changes.withLock { $0 }.isEmpty && backend.reloads.withLock { $0 } == 0)
    }

    /// What the strict reader still takes: null for an optional field, fields in any order, white space.
    @Test func validBodiesInAnyFormStillWork() throws {
        let (file, token) = try tokenFile()
        let backend = try Backend(tokenFile: file, answer: SteeringOutcome(generation: 8, installed: true, cleared: 1))
        let api = ControlAPI(backend: backend)
        for body in [
            #"{"action": "down", "target": "primary", "scope": "pool", "pool": null, "for": "10m"}"#,
            "\n { \"scope\" : \"pool\" ,\t\"target\":\"primary\", \"action\":\"down\", \"until\": null } \n",
            #"{"scope": "pool", "target": "primary", "action": "down", "note": "caf\u00e9 \"quoted\""}"#,
        ] {
            let r = request(api, "POST", "/v1/overrides", token: token, body: body)
            #expect(r.status == 200, "\(body): \(String(decoding: r.body, as: UTF8.self))")
        }
        #expect(
            request(api, "DELETE", "/v1/overrides", token: token, body: #"{"target": "primary", "scope": "pool"}"#)
                .status == 200
        )
        #expect(backend.changes.withLock { $0 }.count == 4)
    }

    /// What the CLI sends (`ControlJSON.encoder` of a request) is what the one decoder reads back.
    @Test func theCLIsEncodingRoundTrips() throws {
        let until = Date(timeIntervalSince1970: 1_900_000_000)
        for r in [
            OverrideRequest(scope: "pool", target: "primary", action: "down", for: "30m", note: "drill"),
            OverrideRequest(scope: "service", target: "www.lab.example", action: "pin", pool: "standby", until: until),
            OverrideRequest(scope: "member", target: "primary/192.0.2.1", action: "up"),
        ] {
            #expect(try OverrideRequest.decode(json: Array(ControlJSON.encoder.encode(r))) == r)
        }
    }

    @Test func reloadNeedsTheTokenAndAnswersWithTheReport() throws {
        let (file, token) = try tokenFile()
        let ok = try Backend(tokenFile: file, answer: nil)
        #expect(request(ControlAPI(backend: ok), "POST", "/v1/reload", token: nil).status == 401)
        #expect(request(ControlAPI(backend: ok), "POST", "/v1/reload", token: "wrong").status == 401)
        #expect(request(ControlAPI(backend: ok), "GET", "/v1/reload", token: token).status == 405)
        #expect(ok.reloads.withLock { $0 } == 0)
        var r = request(ControlAPI(backend: ok), "POST", "/v1/reload", token: token)
        #expect(r.status == 200 && String(decoding: r.body, as: UTF8.self).contains("\"result\" : \"installed\""))
        #expect(ok.reloads.withLock { $0 } == 1)
        let refused = try Backend(tokenFile: file, answer: nil, reload: .refused)
        r = request(ControlAPI(backend: refused), "POST", "/v1/reload", token: token)
        let text = String(decoding: r.body, as: UTF8.self)
        #expect(r.status == 422 && text.contains("is not a pool") && text.contains("reload refused"), "\(text)")
        let pending = try Backend(tokenFile: file, answer: nil, reload: .pending)
        #expect(request(ControlAPI(backend: pending), "POST", "/v1/reload", token: token).status == 504)
        let noToken = try Backend(tokenFile: nil, answer: nil)
        #expect(request(ControlAPI(backend: noToken), "POST", "/v1/reload", token: token).status == 403)
        #expect(noToken.reloads.withLock { $0 } == 0)
    }
}
