import Config
import Control
import Foundation
import HealthModel
import Logging
import Policy
import Steering

/// What the control API needs from the running server, and nothing more.
protocol ControlBackend: Sendable {
    var logger: Logger { get }
    /// Listening and the first probe round done.
    var isReady: Bool { get }
    /// The steering loop's state after its last step.
    var view: SteeringView { get }
    /// The prober's newest snapshot (for display: the loop gets its own copy of each).
    var health: HealthSnapshot { get }
    func metricsInput() -> MetricsInput
    /// Hands an override change to the steering loop and waits until it is in force (nil: no answer in time).
    func apply(_ change: OverrideChange) -> SteeringOutcome?
    /// In a fleet: stores the change for every node first (before `apply`). Without one: `.notShared`.
    func share(_ change: OverrideChange) -> SharedChange
    /// The fleet view for /status and /explain (nil: no fleet).
    var fleetReport: FleetReport? { get }
}

/// What became of an override change in the fleet's store.
enum SharedChange: Sendable, Equatable {
    /// No fleet: the change is this node's alone.
    case notShared
    /// Stored for the fleet; a clear says how many stored overrides it removed.
    case shared(removed: Int)
    /// The store did not take it (unreachable): nothing changed anywhere.
    case refused(String)
}

extension ControlBackend {
    func share(_ change: OverrideChange) -> SharedChange { .notShared }
    var fleetReport: FleetReport? { nil }
    /// The snapshot as the answers use it (the fleet's verdicts where it has one).
    var effectiveHealth: HealthSnapshot {
        let h = health
        return view.fleet?.effective(h) ?? h
    }
}

/// The control API: routes requests of the control listener to status, explain, metrics and overrides.
/// Mutating requests (`POST`/`PUT`/`DELETE /v1/overrides`) need `Authorization: Bearer <token>` with the
/// token in `control.token_file` (read at each request, so it can be rotated without a reload): with no
/// token file configured they are refused (403), a missing or wrong token is 401.
struct ControlAPI: ControlHandler {
    let backend: any ControlBackend

    static let endpoints = "/healthz, /readyz, /metrics, /status, /explain, /v1/overrides"

    func handle(_ r: ControlRequest) -> ControlResponse {
        switch (r.method, r.path) {
        case ("GET", "/healthz"), ("HEAD", "/healthz"):
            return .text(200, "ok")
        case ("GET", "/readyz"), ("HEAD", "/readyz"):
            return backend.isReady
                ? .text(200, "ready")
                : .text(503, "not ready: waiting for the first probe round and the DNS listeners")
        case ("GET", "/metrics"):
            return ControlResponse(
                status: 200,
                contentType: "text/plain; version=0.0.4; charset=utf-8",
                body: Array(Metrics.render(backend.metricsInput()).utf8)
            )
        case ("GET", "/status"):
            return .json(status())
        case ("GET", "/explain"):
            return explain(r)
        case ("GET", "/v1/overrides"):
            return listOverrides()
        case ("POST", "/v1/overrides"), ("PUT", "/v1/overrides"), ("DELETE", "/v1/overrides"):
            if let refused = authorize(r) { return refused }
            return r.method == "DELETE" ? clearOverride(r) : setOverride(r)
        case (_, "/healthz"), (_, "/readyz"), (_, "/metrics"), (_, "/status"), (_, "/explain"):
            return ControlResponse.error(405, "\(r.method) is not allowed on \(r.path) (use GET)")
        case (_, "/v1/overrides"):
            return ControlResponse.error(
                405,
                "\(r.method) is not allowed on /v1/overrides (use GET, POST, PUT or DELETE)"
            )
        default:
            return .error(404, "no endpoint \(r.path) (endpoints: \(ControlAPI.endpoints))")
        }
    }

    /// nil when the request may mutate; else the refusal.
    func authorize(_ r: ControlRequest) -> ControlResponse? {
        guard let configured = backend.view.prepared.config.control.tokenFile else {
            return .error(
                403,
                "mutating requests are refused: no control.token_file is configured "
                    + "(put a random token in a file readable by gtmd and name it in control.token_file)"
            )
        }
        // Replies never name the token file (a client has no business knowing where it is); the log does.
        let file = ControlAPI.tokenPath(configured)
        guard let data = FileManager.default.contents(atPath: file) else {
            backend.logger.error(
                "control: token file unreadable; refusing mutating requests",
                metadata: ["control.token_file": "\(file)"]
            )
            return .error(403, "mutating requests are refused: the control token file cannot be read (see gtmd's log)")
        }
        let token = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard !token.isEmpty else {
            backend.logger.error(
                "control: token file empty; refusing mutating requests",
                metadata: ["control.token_file": "\(file)"]
            )
            return .error(403, "mutating requests are refused: the control token file is empty (see gtmd's log)")
        }
        guard let given = r.bearerToken else {
            backend.logger.warning(
                "control: request without a bearer token",
                metadata: [
                    "path": "\(r.path)", "control.token_file": "\(file)",
                ]
            )
            var e = ControlResponse.error(
                401,
                "missing 'Authorization: Bearer <token>' (the token is in the file named by control.token_file)"
            )
            e.headers.append((name: "WWW-Authenticate", value: "Bearer"))
            return e
        }
        guard BearerToken.equal(given, token) else {
            backend.logger.warning(
                "control: wrong bearer token",
                metadata: ["path": "\(r.path)", "control.token_file": "\(file)"]
            )
            var e = ControlResponse.error(401, "wrong bearer token")
            e.headers.append((name: "WWW-Authenticate", value: "Bearer error=\"invalid_token\""))
            return e
        }
        return nil
    }

    /// Under systemd the unit hands the token file over with `LoadCredential=` (the service user cannot
    /// read /etc/gtmd/control.token itself): `$CREDENTIALS_DIRECTORY/<file name>` wins when it exists.
    static func tokenPath(
        _ configured: String,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) -> String {
        ControlSettings.tokenPath(configured, environment: environment)
    }

    func status() -> StatusReport {
        let v = backend.view
        var report = StatusReport.build(
            config: v.prepared.config,
            health: backend.effectiveHealth,
            overrides: v.overrides,
            decisions: v.decisions,
            switches: v.switches,
            failovers: v.failovers,
            generation: v.generation,
            ready: backend.isReady,
            now: Date()
        )
        report.fleet = backend.fleetReport
        return report
    }

    func explain(_ r: ControlRequest) -> ControlResponse {
        let q: ExplainQuery
        do { q = try Explain.parse(r.query) } catch { return .error(400, error.description) }
        let v = backend.view
        var e = Explain.explain(
            q,
            config: v.prepared.config,
            zones: v.prepared.zones.map(\.origin),
            health: backend.effectiveHealth,
            overrides: v.overrides,
            decisions: v.decisions,
            now: Date()
        )
        e.fleet = backend.fleetReport
        return .json(e)
    }

    struct OverrideList: Codable {
        var stateFile: String
        var overrides: [Entry]
        struct Entry: Codable {
            var override: Override
            var active: Bool
            var summary: String
        }
    }

    /// The overrides in force in the steering loop (the state file holds the same once saved).
    func listOverrides() -> ControlResponse {
        let v = backend.view
        let now = Date()
        return .json(
            OverrideList(
                stateFile: v.stateFile,
                overrides: v.overrides.all.map {
                    .init(override: $0, active: $0.isActive(at: now), summary: $0.summary)
                }
            )
        )
    }

    func setOverride(_ r: ControlRequest) -> ControlResponse {
        let req: OverrideRequest
        do { req = try OverrideRequest.decode(json: r.body) } catch { return .error(400, error.description) }
        let o: Override
        do { o = try OverrideStore.make(req, config: backend.view.prepared.config, now: Date()) } catch {
            return .error(400, error.description)
        }
        if case .refused(let why) = backend.share(.set(o)) {
            return .error(503, "override \(o.summary) not set: \(why)")
        }
        guard let done = backend.apply(.set(o)) else {
            return .error(503, "the steering loop did not take the override within 5 s; try again")
        }
        backend.logger.notice(
            "override set over the control API",
            metadata: [
                "override": "\(o.summary)", "table.generation": "\(done.generation)",
            ]
        )
        if let problem = done.problem { return .error(500, "override \(o.summary): \(problem)") }
        return .json(["set": o])
    }

    func clearOverride(_ r: ControlRequest) -> ControlResponse {
        var scope = r.query["scope"]
        var target = r.query["target"]
        if scope == nil, !r.body.isEmpty,
            let obj = try? JSONSerialization.jsonObject(with: Data(r.body)) as? [String: Any]
        {
            scope = obj["scope"] as? String
            target = obj["target"] as? String
        }
        guard let scope, let target else {
            return .error(400, "give scope and target (DELETE /v1/overrides?scope=pool&target=primary)")
        }
        let key: (Override.Scope, String)
        do {
            key = try OverrideStore.clearKey(scope: scope, target: target, config: backend.view.prepared.config)
        } catch { return .error(400, error.description) }
        let shared = backend.share(.clear(scope: key.0, target: key.1))
        if case .refused(let why) = shared { return .error(503, "nothing cleared: \(why)") }
        guard let done = backend.apply(.clear(scope: key.0, target: key.1)) else {
            return .error(503, "the steering loop did not take the change within 5 s; try again")
        }
        // In a fleet the store's count is the one that matters (the change may have reached this node first
        // through its watch).
        var removed = done.cleared ?? 0
        if case .shared(let n) = shared { removed = max(removed, n) }
        backend.logger.notice(
            "override cleared over the control API",
            metadata: [
                "scope": "\(scope)", "target": "\(target)", "removed": "\(removed)",
                "table.generation": "\(done.generation)",
            ]
        )
        if let problem = done.problem { return .error(500, "cleared \(removed), \(problem)") }
        return .json(["cleared": removed])
    }
}
