import Config
import ConfigText
import Control
import DNSWire
import FoundationEssentials
import HealthModel
import Logging
import Policy
import Steering
import Synchronization
import Zones

/// What the control API needs from the running server, and nothing more.
protocol ControlBackend: Sendable {
    var logger: Logger { get }
    /// Listening and the first probe round done.
    var isReady: Bool { get }
    /// The steering loop's state after its last step.
    var view: SteeringView { get }
    /// The same once the saved event history is in it (just after start the loop decodes it after the first
    /// answers): what the event endpoints read.
    var eventsView: SteeringView { get }
    /// The prober's newest snapshot (for display: the loop gets its own copy of each).
    var health: HealthSnapshot { get }
    func metricsInput() -> MetricsInput
    /// Hands an override change to the steering loop and waits until it is in force (nil: no answer in time).
    func apply(_ change: OverrideChange) -> SteeringOutcome?
    /// Reloads config and zones and waits until the new config serves (or is refused).
    func reload() -> ReloadReport
    /// The last reload since start.
    var lastReload: ReloadReport? { get }
    /// Calls `listener` with the events of each step of the steering loop that added some (event streams).
    func subscribeEvents(_ listener: @escaping @Sendable ([GtmdEvent]) -> Void) -> UInt64
    func unsubscribeEvents(_ id: UInt64)
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
    var eventsView: SteeringView { view }
    func share(_ change: OverrideChange) -> SharedChange { .notShared }
    var fleetReport: FleetReport? { nil }
    /// The snapshot as the answers use it (the fleet's verdicts where it has one).
    var effectiveHealth: HealthSnapshot {
        let h = health
        return view.fleet?.effective(h) ?? h
    }
}

/// The control API: routes requests of the control listener to status, explain, metrics, overrides and reload.
/// Mutating requests (`POST`/`PUT`/`DELETE /v1/overrides`, `POST /v1/reload`) need `Authorization: Bearer <token>`
/// with the token in `control.token_file` (read at each request, so it can be rotated without a reload): with no
/// token file configured they are refused (403), a missing or wrong token is 401.
/// Input is read strictly: a query parameter an endpoint does not know, one given twice, a body where none is
/// taken, or a body field that is unknown, repeated or of another type is refused (400) with what is wrong.
struct ControlAPI: ControlHandler {
    let backend: any ControlBackend

    static let endpoints =
        "/ (console), /healthz, /readyz, /metrics, /status, /explain, /v1/overrides, /v1/reload, /v1/events, "
        + "/v1/events/stream, /v1/dnssec/ds-seen"

    func handle(_ r: ControlRequest) -> ControlResponse {
        switch (r.method, r.path) {
        case ("GET", "/healthz"), ("HEAD", "/healthz"):
            return refuseInput(r) ?? .text(200, "ok")
        case ("GET", "/readyz"), ("HEAD", "/readyz"):
            if let bad = refuseInput(r) { return bad }
            return backend.isReady
                ? .text(200, "ready")
                : .text(503, "not ready: waiting for the first probe round and the DNS listeners")
        case ("GET", "/metrics"):
            if let bad = refuseInput(r) { return bad }
            return ControlResponse(
                status: 200,
                contentType: "text/plain; version=0.0.4; charset=utf-8",
                body: Array(Metrics.render(backend.metricsInput()).utf8)
            )
        case ("GET", "/status"):
            return refuseInput(r) ?? .json(status())
        case ("GET", "/explain"):
            return refuseInput(r, parameters: Explain.parameterNames) ?? explain(r)
        case ("GET", "/v1/overrides"):
            return refuseInput(r) ?? listOverrides()
        case ("GET", let path) where Console.assets[path] != nil:
            return Console.response(path) ?? .error(404, "no console file \(path)")
        case ("GET", "/v1/events"):
            return events(r)
        case ("GET", "/v1/events/stream"):
            return eventStream(r)
        case (_, "/v1/events"), (_, "/v1/events/stream"):
            return ControlResponse.error(405, "\(r.method) is not allowed on \(r.path) (use GET)")
        case ("POST", "/v1/overrides"), ("PUT", "/v1/overrides"):
            if let refused = authorize(r) { return refused }
            return refuseInput(r, body: true) ?? setOverride(r)
        case ("DELETE", "/v1/overrides"):
            if let refused = authorize(r) { return refused }
            return refuseInput(r, parameters: ["scope", "target"], body: true) ?? clearOverride(r)
        case ("POST", "/v1/reload"):
            if let refused = authorize(r) { return refused }
            return refuseInput(r) ?? reload()
        case ("POST", "/v1/dnssec/ds-seen"):
            if let refused = authorize(r) { return refused }
            return refuseInput(r, body: true) ?? dsSeen(r)
        case (_, "/v1/dnssec/ds-seen"):
            return ControlResponse.error(405, "\(r.method) is not allowed on /v1/dnssec/ds-seen (use POST)")
        case (_, "/healthz"), (_, "/readyz"), (_, "/metrics"), (_, "/status"), (_, "/explain"):
            return ControlResponse.error(405, "\(r.method) is not allowed on \(r.path) (use GET)")
        case (_, "/v1/overrides"):
            return ControlResponse.error(
                405,
                "\(r.method) is not allowed on /v1/overrides (use GET, POST, PUT or DELETE)"
            )
        case (_, "/v1/reload"):
            return ControlResponse.error(405, "\(r.method) is not allowed on /v1/reload (use POST)")
        default:
            return .error(404, "no endpoint \(r.path) (endpoints: \(ControlAPI.endpoints))")
        }
    }

    /// Empty or only JSON white space.
    static func isBlank(_ body: [UInt8]) -> Bool {
        body.allSatisfy { $0 == 0x20 || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D }
    }

    /// The strict part every endpoint shares: the query string is well formed, names only `parameters`, and a
    /// body comes only where one is taken. nil when the request may go on; else the 400.
    func refuseInput(_ r: ControlRequest, parameters: [String] = [], body: Bool = false) -> ControlResponse? {
        let endpoint = "\(r.method) \(r.path)"
        if let problem = r.queryProblem { return .error(400, "\(endpoint): \(problem)") }
        if let unknown = r.query.keys.filter({ !parameters.contains($0) }).sorted().first {
            let known =
                parameters.isEmpty
                ? "\(endpoint) takes no parameters" : "known: \(parameters.joined(separator: ", "))"
            return .error(400, "\(endpoint): unknown parameter '\(unknown)' (\(known))")
        }
        if !body, !ControlAPI.isBlank(r.body) {
            return .error(400, "\(endpoint) takes no body (\(r.body.count) bytes sent)")
        }
        return nil
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
        let token: String
        switch ControlSettings.readTokenFile(file) {
        case .token(let t): token = t
        case .unreadable(let problem):
            backend.logger.error(
                "control: token file unreadable; refusing mutating requests",
                metadata: ["control.token_file": "\(file)", "problem": "\(problem)"]
            )
            return .error(403, "mutating requests are refused: the control token file cannot be read (see gtmd's log)")
        case .empty:
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
        environment: ProcessEnvironment = .current
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
            lastReload: backend.lastReload,
            now: Date()
        )
        report.fleet = backend.fleetReport
        if !v.prepared.signers.isEmpty { report.dnssec = DnssecZoneStatus.build(v.prepared.signers, now: report.now) }
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
        let scope: String
        let target: String
        let inQuery = r.query["scope"] != nil || r.query["target"] != nil
        let hasBody = !ControlAPI.isBlank(r.body)
        if inQuery {
            if hasBody {
                return .error(400, "give scope and target in the query or in the body, not both")
            }
            guard let s = r.query["scope"], let t = r.query["target"] else {
                return .error(
                    400,
                    "missing parameter '\(r.query["scope"] == nil ? "scope" : "target")' "
                        + "(DELETE /v1/overrides?scope=pool&target=primary)"
                )
            }
            (scope, target) = (s, t)
        } else if hasBody {
            do { (scope, target) = try OverrideRequest.decodeClear(json: r.body) } catch {
                return .error(400, error.description)
            }
        } else {
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

extension ControlAPI {
    /// The reply of `POST /v1/reload`: the report, and what went wrong when it is not installed.
    struct ReloadReply: Encodable {
        var error: String?
        var reload: ReloadReport
    }

    /// Reloads and answers once the new config serves (200), or with every problem when it is refused (422:
    /// nothing changed), or 504 when the steering loop did not confirm it in time.
    func reload() -> ControlResponse {
        let report = backend.reload()
        switch report.result {
        case .installed:
            return .json(ReloadReply(error: nil, reload: report))
        case .refused:
            return .json(
                ReloadReply(
                    error: "reload refused: \(report.errors.count) problem(s); the previous config keeps serving",
                    reload: report
                ),
                status: 422
            )
        case .pending:
            return .json(ReloadReply(error: report.errors.joined(separator: "; "), reload: report), status: 504)
        }
    }
}

// MARK: - DNSSEC

extension ControlAPI {
    struct DsSeenReply: Encodable {
        var dsSeen: String
        var error: String?
        var reload: ReloadReport
    }

    /// `POST /v1/dnssec/ds-seen`: the operator confirms that the parent serves the successor's DS (`keys: auto`).
    /// The keys' new timing is written to the auto folder, then the server reloads so it takes effect.
    func dsSeen(_ r: ControlRequest) -> ControlResponse {
        let req: (zone: String, keyTag: UInt16?)
        do { req = try DnssecKeys.decodeDsSeen(json: r.body) } catch { return .error(400, error.description) }
        let prepared = backend.view.prepared
        let config = prepared.config
        let want = req.zone.lowercased().hasSuffix(".") ? req.zone.lowercased() : req.zone.lowercased() + "."
        guard let zone = config.zones.first(where: { "\($0.origin)".lowercased() == want }) else {
            let names = config.zones.map { "\($0.origin)" }.joined(separator: ", ")
            return .error(404, "no zone \(req.zone) (zones: \(names))")
        }
        let done: String
        do {
            done = try DnssecKeys.dsSeen(
                config: config,
                stateFile: config.stateFile ?? StateFile.defaultPath(configFile: config.file),
                zone: req.zone,
                keyTag: req.keyTag,
                maxTTL: DnssecKeys.maxTTL(prepared)[zone.origin.lowercased] ?? 0
            )
        } catch {
            return .error(409, error.description)
        }
        backend.logger.notice(
            "dnssec: ds-seen over the control API",
            metadata: ["zone": "\(zone.origin)", "roll": "\(done)"]
        )
        let report = backend.reload()
        switch report.result {
        case .installed: return .json(DsSeenReply(dsSeen: done, error: nil, reload: report))
        case .refused, .pending:
            return .json(
                DsSeenReply(
                    dsSeen: done,
                    error:
                        "the keys are retimed on disk, but the reload did not install (\(report.errors.joined(separator: "; "))): they take effect at the next reload or start",
                    reload: report
                ),
                status: 500
            )
        }
    }
}

// MARK: - Event history

extension ControlAPI {
    struct EventList: Codable {
        var events: [GtmdEvent]
        /// How many events the server keeps (older ones are dropped).
        var capacity: Int
        /// The seq the next event will get (`after=` for the next poll).
        var nextSeq: UInt64
    }

    /// The parameters of `/v1/events` and its stream; `Last-Event-ID` (an event stream's resume) counts as `after`.
    func eventQuery(_ r: ControlRequest) -> Result<EventQuery, EventQueryError> {
        let services = backend.view.prepared.config.services.map(\.name.description)
        var q = r.query
        if q["after"] == nil, let last = r.header("last-event-id"), !last.isEmpty { q["after"] = last }
        do { return .success(try EventQuery.parse(q, services: services, now: Date())) } catch {
            return .failure(error)
        }
    }

    static func servicePools(_ v: SteeringView) -> [String: [String]] {
        Dictionary(v.prepared.config.services.map { ($0.name.description, $0.pools) }) { a, _ in a }
    }

    /// `GET /v1/events?since=&after=&service=&kind=&limit=`: the event history, oldest first.
    func events(_ r: ControlRequest) -> ControlResponse {
        let q: EventQuery
        switch eventQuery(r) {
        case .success(let x): q = x
        case .failure(let e): return .error(400, e.description)
        }
        let v = backend.eventsView
        return .json(
            EventList(
                events: q.select(v.events.events, pools: Self.servicePools(v)),
                capacity: v.events.capacity,
                nextSeq: v.events.nextSeq
            )
        )
    }

    static let compact: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        e.dateEncodingStrategy = .iso8601
        e.keyEncodingStrategy = .convertToSnakeCase
        return e
    }()

    /// One server-sent event: `id` (the seq, for `Last-Event-ID`), `event` (the kind), `data` (one line of JSON).
    static func sse(_ e: GtmdEvent) -> [UInt8] {
        let json = (try? compact.encode(e)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        return Array("id: \(e.seq)\nevent: \(e.kind.rawValue)\ndata: \(json)\n\n".utf8)
    }

    /// `GET /v1/events/stream`: `text/event-stream` with the matching history first (the newest `limit`, default
    /// 100), then every new event as the steering loop records it. Same parameters as `/v1/events`.
    func eventStream(_ r: ControlRequest) -> ControlResponse {
        var q: EventQuery
        switch eventQuery(r) {
        case .success(let x): q = x
        case .failure(let e): return .error(400, e.description)
        }
        if q.limit == nil { q.limit = 100 }
        let backend = self.backend
        let query = q
        var response = ControlResponse(
            status: 200,
            contentType: "text/event-stream; charset=utf-8",
            body: Array(": gtmd event stream\nretry: 2000\n\n".utf8)
        )
        response.headers.append((name: "X-Accel-Buffering", value: "no"))
        response.stream = ControlStream(heartbeat: Array(": keep-alive\n\n".utf8)) { send in
            // Under one lock: the history is sent before any live event, and nothing twice.
            let sent = StreamCursor()
            let live = EventQuery(after: query.after, service: query.service, kinds: query.kinds)
            let id = backend.subscribeEvents { events in
                let pools = ControlAPI.servicePools(backend.view)
                sent.last.withLock { last in
                    for e in events where e.seq > last && live.matches(e, pools: pools) {
                        send(ControlAPI.sse(e))
                        last = e.seq
                    }
                }
            }
            // Waits (outside the lock: the writer may be handing live events to it) until the saved history is in.
            _ = backend.eventsView
            sent.last.withLock { last in
                let v = backend.view
                let backlog = query.select(v.events.events, pools: ControlAPI.servicePools(v))
                for e in backlog { send(ControlAPI.sse(e)) }
                last = max(last, v.events.nextSeq - 1)
            }
            return { backend.unsubscribeEvents(id) }
        }
        return response
    }
}

/// The last event seq an event stream sent.
final class StreamCursor: Sendable {
    let last = Mutex<UInt64>(0)
}
