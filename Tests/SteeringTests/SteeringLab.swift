import Answers
import Foundation
import HealthModel
import Steering
import TestSupport

/// A small steering setup with no sockets: the lab zone, pools `primary` (192.0.2.1) and `standby` (192.0.2.2),
/// each member with a check, and the service www.lab.example (failover, ttl 30, degraded ttl 5).
struct SteeringLab {
    static let primary = "primary/192.0.2.1", standby = "standby/192.0.2.2"
    /// The controllable clock's start.
    static let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    let dir: URL
    let stateFile: String
    let log = LogCapture()
    let store = AnswerStore(AnswerTable.empty())

    init() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("steering-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        stateFile = dir.appendingPathComponent("state.json").path
    }

    /// The config with `service` extra keys (e.g. `hold_down: 30s`), prepared as start-up and reload do.
    /// `primary` replaces the primary pool's definition (e.g. three members and a rule).
    /// `dnssec`: the zone's `dnssec:` section (flow style), nil = unsigned.
    func prepared(
        service extra: String = "",
        ttl: Int = 30,
        degradedTTL: Int = 5,
        primary: String = "{ checks: [h], members: [192.0.2.1] }",
        dnssec: String? = nil,
        createKeys: Bool = false
    ) throws -> Prepared {
        let yaml = """
            zones:
              - { origin: lab.example., file: \(Repo.root.appendingPathComponent("zones/lab.example.zone").path)\(dnssec.map { ", dnssec: \($0)" } ?? "") }
            checks:
              h: { type: tcp, port: 80 }
            pools:
              primary: \(primary)
              standby: { checks: [h], members: [192.0.2.2] }
            services:
              www.lab.example: { pools: [primary, standby], ttl: \(ttl), degraded_ttl: \(degradedTTL)\(extra.isEmpty ? "" : ", " + extra) }
            """
        return try prepare(yaml, createKeys: createKeys)
    }

    /// Any config text, prepared as start-up and reload do (`createKeys`: as serving does).
    func prepare(_ yaml: String, createKeys: Bool = false) throws -> Prepared {
        let file = dir.appendingPathComponent("gtmd-\(UUID().uuidString).yaml").path
        try yaml.write(toFile: file, atomically: true, encoding: .utf8)
        var request = SetupRequest(configPath: file)
        request.createKeys = createKeys
        return try Setup.prepare(request).get()
    }

    /// Two regions (clients 10.0.0.2 are region-a's, 10.0.0.3 region-b's), pools `pa` (192.0.2.11, region-a) and
    /// `pb` (192.0.2.12, region-b), and near.lab.example (nearest, ttl 30, degraded ttl 5) with `service` extra keys.
    func nearestCore(service extra: String = "") throws -> SteeringCore {
        core(
            try prepare(
                """
                zones:
                  - { origin: lab.example., file: \(Repo.root.appendingPathComponent("zones/lab.example.zone").path) }
                checks:
                  h: { type: tcp, port: 80 }
                pools:
                  pa: { region: region-a, checks: [h], members: [192.0.2.11] }
                  pb: { region: region-b, checks: [h], members: [192.0.2.12] }
                services:
                  near.lab.example: { policy: nearest, pools: [pa, pb], ttl: 30, degraded_ttl: 5\(extra.isEmpty ? "" : ", " + extra) }
                regions:
                  region-a: { latitude: 50.11, longitude: 8.68 }
                  region-b: { latitude: 53.35, longitude: -6.26 }
                geo:
                  default_region: region-a
                  networks:
                    region-a: [10.0.0.2/32]
                    region-b: [10.0.0.3/32]
                """
            )
        )
    }

    func core(service extra: String = "", primary: String? = nil) throws -> SteeringCore {
        let p = try primary.map { try prepared(service: extra, primary: $0) } ?? prepared(service: extra)
        return core(p)
    }

    func core(_ prepared: Prepared) -> SteeringCore {
        SteeringCore(prepared: prepared, store: store, stateFile: stateFile, logger: log.logger())
    }

    /// A steering loop on this lab's store, with `prepared` (default: `prepared()`) and `stateFile` (default:
    /// the lab's).
    func loop(_ options: SteeringOptions, prepared: Prepared? = nil, stateFile: String? = nil) throws -> SteeringLoop {
        SteeringLoop(
            prepared: try prepared ?? self.prepared(),
            store: store,
            stateFile: stateFile ?? self.stateFile,
            options: options,
            logger: log.logger()
        )
    }

    /// What www.lab.example answers now: (address, TTL) pairs.
    var answer: [String] { answer() }
    /// What `name` answers a client at `source` (IPv4) now: (address, TTL) pairs.
    func answer(_ name: String = "www.lab.example", from source: String? = nil) -> [String] {
        TableQuery.answers(store.current(), name, from: source).map { "\($0.data)/\($0.ttl)" }
    }
    var generation: UInt64 { store.current().generation }
}

/// A health snapshot with these verdicts; a down target's check has been failing since `failingSince`.
func snapshot(_ up: [String: Bool], failingSince: Date? = nil) -> HealthSnapshot {
    ControlPlaneChecks.snapshot(up, failingSince: failingSince)
}

let bothUp = snapshot([SteeringLab.primary: true, SteeringLab.standby: true])
let primaryDown = snapshot([SteeringLab.primary: false, SteeringLab.standby: true])

extension SteeringCore {
    /// One step as the loop takes it: apply, publish if needed.
    @discardableResult
    func step(_ input: SteeringInput, at now: Date) -> AnswerTable? {
        _ = apply(input, now: now)
        let table = publishIfDirty(now: now)
        _ = save(input.overrideChange.map { [$0] } ?? [])
        return table
    }
}

extension SteeringInput {
    var overrideChange: OverrideChange? {
        if case .override(let c) = self { return c }
        return nil
    }
}
