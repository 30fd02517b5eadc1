import Config
import ConfigText
import DNSWire
import FoundationEssentials
import HealthModel
import Policy

/// `/status`: every service's current answer, pool and reason; every pool and member with its checks,
/// last results, consecutive counts and overrides. Built by a pure function from what the runtime holds.
public struct StatusReport: Codable, Sendable {
    public struct Service: Codable, Sendable {
        public var name: String
        public var policy: String
        public var pools: [String]
        public var pool: String?
        public var answer: [String]
        public var rcode: String
        public var ttl: UInt32
        public var ttlReason: String
        public var reason: String
        public var degraded: Bool
        public var held: Bool
        public var since: Date?
        public var switches: Int
        public var lastFailover: FailoverTiming?
        public var overrides: [Override]
        /// nearest: what each client region gets (nil for other policies).
        public var regions: [RegionAnswer]? = nil
    }
    public struct RegionAnswer: Codable, Sendable {
        public var region: String
        public var pool: String?
        public var answer: [String]
        public var rcode: String
        public var ttl: UInt32
        public var reason: String
        public var degraded: Bool
    }
    /// One recent probe: passed or not, latency in milliseconds.
    public struct Probe: Codable, Sendable {
        public var ok: Bool
        public var ms: Double
    }
    public struct Check: Codable, Sendable {
        public var name: String
        public var kind: String
        public var endpoint: String
        public var state: String
        public var lastOK: Bool?
        public var lastReason: String?
        public var lastLatencyMs: Double?
        public var lastProbe: Date?
        public var consecutivePasses: Int
        public var consecutiveFailures: Int
        public var rise: Int
        public var fall: Int
        public var probes: Int
        public var inDoubt: Bool
        public var failingSince: Date?
        public var lastChange: Date?
        /// The last probes, oldest first (at most `CheckHealth.recentLimit`).
        public var recent: [Probe] = []
    }
    public struct Member: Codable, Sendable {
        public var id: String
        public var address: String
        public var weight: Int
        /// After overrides: what the policy uses.
        public var up: Bool
        public var reason: String
        /// The prober's verdict: up, down, unknown, or "not checked".
        public var health: String
        public var override: Override?
        public var checks: [Check]
    }
    public struct Pool: Codable, Sendable {
        public var name: String
        public var rule: String
        public var available: Bool
        public var reason: String
        public var override: Override?
        public var members: [Member]
    }
    public var ready: Bool
    public var config: String
    public var generation: UInt64
    public var now: Date
    public var services: [Service]
    public var pools: [Pool]
    public var overrides: [Override]
    /// The last reload since start (SIGHUP or `POST /v1/reload`); nil when there was none.
    public var lastReload: ReloadReport?
    /// The fleet view (`fleet:` configured), else nil.
    public var fleet: FleetReport? = nil
    /// The signed zones' keys (nil: no zone is signed).
    public var dnssec: [DnssecZoneStatus]? = nil

    /// Assembles the report; `now` decides which overrides are active.
    public static func build(
        config: GtmdConfig,
        health: HealthSnapshot,
        overrides all: OverrideSet,
        decisions: [String: Decision],
        switches: [String: Int],
        failovers: [String: FailoverTiming],
        generation: UInt64,
        ready: Bool,
        lastReload: ReloadReport? = nil,
        now: Date
    ) -> StatusReport {
        let active = all.active(at: now)
        let views = Policy.views(pools: config.pools, health: health.targets.mapValues(\.isUp), overrides: active)
        let services = config.services.map { s -> Service in
            let key = s.name.description
            let d = decisions[key]
            let (answer, rcode) = d.map { Explain.answerText($0) } ?? ([], "-")
            return Service(
                name: key,
                policy: "\(s.policy)",
                pools: s.pools,
                pool: d?.pool,
                answer: answer,
                rcode: rcode,
                ttl: d?.ttl ?? 0,
                ttlReason: d?.ttlReason ?? "no decision yet",
                reason: d?.reason ?? "no decision yet",
                degraded: d?.degraded ?? false,
                held: d?.state.held ?? false,
                since: d?.state.since,
                switches: switches[key] ?? 0,
                lastFailover: failovers[key],
                overrides: active.all.filter { $0.scope == .service && $0.target == key },
                regions: d?.perRegion.map { per in
                    per.enumerated().map { i, r in
                        let (answer, rcode) = Explain.answerText(r)
                        return RegionAnswer(
                            region: i < s.regionOrder.count ? s.regionOrder[i].region : "region \(i)",
                            pool: r.pool,
                            answer: answer,
                            rcode: rcode,
                            ttl: r.ttl,
                            reason: r.reason,
                            degraded: r.degraded
                        )
                    }
                }
            )
        }
        let pools = config.pools.map { p -> Pool in
            let view = views[p.name]
            let members = p.members.enumerated().map { i, m -> Member in
                let t = health.targets[m.targetID]
                let mv = view?.members[i]
                return Member(
                    id: m.targetID,
                    address: m.label,
                    weight: m.weight,
                    up: mv?.up ?? true,
                    reason: mv?.reason ?? "-",
                    health: t.map { $0.state.rawValue } ?? "not checked",
                    override: active.all.last { $0.scope == .member && $0.target == m.targetID },
                    checks: t?.checks.map(check) ?? []
                )
            }
            return Pool(
                name: p.name,
                rule: "\(p.rule)",
                available: view?.available ?? false,
                reason: view?.reason ?? "-",
                override: active.all.last { $0.scope == .pool && $0.target == p.name },
                members: members
            )
        }
        return StatusReport(
            ready: ready,
            config: config.file,
            generation: generation,
            now: now,
            services: services,
            pools: pools,
            overrides: all.all,
            lastReload: lastReload
        )
    }

    static func check(_ c: CheckHealth) -> Check {
        let latency = c.lastResult.map {
            (Double($0.latency.components.seconds) + Double($0.latency.components.attoseconds) / 1e18) * 1000
        }
        return Check(
            name: c.name,
            kind: c.kind.rawValue,
            endpoint: c.endpoint,
            state: c.state.rawValue,
            lastOK: c.lastResult?.ok,
            lastReason: c.lastResult?.reason,
            lastLatencyMs: latency.map { ($0 * 1000).rounded() / 1000 },
            lastProbe: c.lastProbe,
            consecutivePasses: c.consecutivePasses,
            consecutiveFailures: c.consecutiveFailures,
            rise: c.rise,
            fall: c.fall,
            probes: c.probes,
            inDoubt: c.inDoubt,
            failingSince: c.failingSince,
            lastChange: c.lastChange,
            recent: c.recent.map { p in
                let ms = (Double(p.latency.components.seconds) + Double(p.latency.components.attoseconds) / 1e18) * 1000
                return Probe(ok: p.ok, ms: (ms * 1000).rounded() / 1000)
            }
        )
    }
}

/// The outcome of one reload (SIGHUP or `POST /v1/reload`): returned to `gtmd reload` and kept for `/status`.
/// Invariant: `errors` is empty when `result` is `installed`; `generation` is set only then.
public struct ReloadReport: Codable, Sendable, Hashable {
    public enum Result: String, Codable, Sendable {
        /// The new config and zones are serving: the steering loop installed a table built from them.
        case installed
        /// Config or zones have problems: nothing changed, the previous config keeps serving.
        case refused
        /// Valid and handed to the steering loop, which did not confirm the install in time.
        case pending
    }
    /// `SIGHUP` or `control API`.
    public var trigger: String
    public var started: Date
    public var finished: Date
    public var result: Result
    /// Every problem that refused it (`file:line: key.path: message`), or why it is not confirmed.
    public var errors: [String]
    /// Changed settings that take effect at the next restart (listen addresses, control listener, ...).
    public var notes: [String]
    /// The generation of the first table built from the new config (installed only; nil before the first
    /// probe round, when nothing is served yet).
    public var generation: UInt64?

    public init(
        trigger: String,
        started: Date,
        finished: Date,
        result: Result,
        errors: [String] = [],
        notes: [String] = [],
        generation: UInt64? = nil
    ) {
        self.trigger = trigger
        self.started = started
        self.finished = finished
        self.result = result
        self.errors = errors
        self.notes = notes
        self.generation = generation
    }

    /// One line for people: `installed 2026-11-29T17:02:11Z (SIGHUP), table generation 7`.
    public var summary: String {
        let at = finished.formatted(.iso8601)
        let took = DurationText.fixed(finished.timeIntervalSince(started) * 1000, places: 0) + " ms"
        switch result {
        case .installed:
            return "installed \(at) (\(trigger), \(took))" + (generation.map { ", table generation \($0)" } ?? "")
        case .refused:
            return "REFUSED \(at) (\(trigger)): \(errors.count) problem(s); the previous config keeps serving"
        case .pending:
            return "not confirmed \(at) (\(trigger)): \(errors.joined(separator: "; "))"
        }
    }
}
