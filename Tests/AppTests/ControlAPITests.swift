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
        init(tokenFile: String?, answer: SteeringOutcome?) throws {
            var config = try ControlUnits.config()
            config.control.tokenFile = tokenFile
            prepared = Prepared(config: config, zones: [])
            self.answer = answer
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
}
