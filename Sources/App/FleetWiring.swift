import Config
import ConfigText
import Dispatch
import Fleet
import FoundationEssentials
import Glibc
import HealthModel
import Logging
import Policy
import ServiceLifecycle
import Steering
import Synchronization

/// The fleet wired to the one writer: the node's own verdicts go to the fleet node, and the fleet's shared
/// decision and overrides come back as `SteeringInput.fleet`, queued in the order they were read. The
/// control API's override changes are stored in etcd first, then applied through the steering loop like a
/// single node's. Nothing here waits on etcd except those API calls (bounded, on the API's own threads).
final class FleetLink: Sendable {
    let node: FleetNode
    let steering: SteeringLoop
    let logger: Logger
    /// The last input handed to the writer (inputs are read and queued under this lock, so they queue in order).
    private let last = Mutex<FleetInput?>(nil)

    init(settings: FleetSettings, stateFile: String, steering: SteeringLoop, logger: Logger) throws {
        var log = logger
        log[metadataKey: "fleet.node"] = "\(settings.node)"
        // The node calls back whenever its view, mode or own verdicts changed; it exists before `self` does.
        let relay = Relay()
        self.node = try FleetNode(
            settings: settings,
            options: FleetNode.options(settings),
            cacheFile: FleetCache.defaultPath(stateFile: stateFile),
            version: GtmdVersion.string,
            logger: log
        ) { relay.fire() }
        self.steering = steering
        self.logger = log
        relay.set { [weak self] in self?.push() }
    }

    /// What the fleet says now, as the writer's input (override keys in full, for "key: what is wrong").
    func input() -> FleetInput {
        let prefix = node.keys.overrides
        let overrides = node.sharedOverrides.map { stored in
            Dictionary(uniqueKeysWithValues: stored.map { (prefix + $0.key, $0.value) })
        }
        return FleetInput(mode: node.status.mode.rawValue, verdicts: node.sharedVerdicts(), overrides: overrides)
    }

    /// Hands the fleet's state to the writer when it changed since the last input.
    func push() {
        last.withLock { last in
            let i = input()
            guard i != last else { return }
            last = i
            steering.submit(.fleet(i))
        }
    }

    /// The node's own verdict per probed target that has one (targets still unknown are not reported).
    static func localVerdicts(_ snapshot: HealthSnapshot) -> [String: LocalVerdict] {
        var out: [String: LocalVerdict] = [:]
        for (id, t) in snapshot.targets where t.state != .unknown {
            out[id] = LocalVerdict(up: t.isUp, reason: t.isUp ? "up" : t.downReasons.joined(separator: "; "))
        }
        return out
    }

    /// Stores an override change for the whole fleet. Refused when the store does not take it within a
    /// round of requests over every member: applying it to this node alone would split the fleet.
    func share(_ change: OverrideChange) -> SharedChange {
        let s = node.settings
        let timeout = s.requestTimeout * (s.endpoints.count + 1)
        let node = self.node
        do {
            switch change {
            case .set(let o):
                let value = FleetInput.encode(o)
                try blockingWait(timeout: timeout) {
                    try await node.setOverride(id: OverrideStore.sharedID(o), value: value)
                }
                return .shared(removed: 0)
            case .clear(let scope, let target):
                let ids = OverrideStore.sharedIDs(clearing: scope, target: target)
                let removed = try blockingWait(timeout: timeout) {
                    var n = 0
                    for id in ids where try await node.clearOverride(id: id) { n += 1 }
                    return n
                }
                return .shared(removed: removed)
            }
        } catch {
            return .refused("the fleet's store did not take it, so no node changed (\(error))")
        }
    }

    /// The fleet view for /status, /explain, `gtmd status` and /metrics.
    func report(snapshot: HealthSnapshot, used: [String: Bool]) -> FleetReport {
        let s = node.settings
        let st = node.status
        let view = node.view
        let perVantage = node.vantageVerdicts()
        let ids = Set(perVantage.keys).union(snapshot.targets.keys).sorted()
        return FleetReport(
            name: s.name,
            node: s.node,
            vantage: s.vantage,
            quorum: s.quorum.description,
            onStoreLoss: s.onStoreLoss.rawValue,
            mode: st.mode.rawValue,
            store: .init(
                connected: st.connected,
                since: st.since,
                lastError: st.lastError,
                endpoints: s.endpoints,
                lease: st.lease.map { String($0, radix: 16) },
                revision: view.revision,
                watchLagSeconds: st.watchLagSeconds,
                writes: st.writes,
                losses: st.storeLosses
            ),
            members: view.members.sorted { $0.key < $1.key }.map {
                .init(node: $0.key, vantage: $0.value.vantage, started: $0.value.started, version: $0.value.version)
            },
            targets: ids.map { id in
                let t = snapshot.targets[id]
                return .init(
                    target: id,
                    local: t.flatMap { $0.state == .unknown ? nil : $0.isUp },
                    used: used[id],
                    vantages: perVantage[id] ?? [:]
                )
            },
            problems: view.problems.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }
                + steering.view.fleetProblems
        )
    }
}

/// A callback set after its owner is built.
final class Relay: Sendable {
    private let action = Mutex<(@Sendable () -> Void)?>(nil)
    func set(_ a: @escaping @Sendable () -> Void) { action.withLock { $0 = a } }
    func fire() { action.withLock { $0 }?() }
}

/// Runs the fleet node's session with etcd until graceful shutdown (then it revokes its lease).
struct FleetService: Service {
    let fleet: FleetNode
    func run() async throws {
        await cancelWhenGracefulShutdown { await fleet.run() }
    }
}

/// Waits on an async call from a control handler thread (the control API runs its handlers on a thread pool
/// of its own, so blocking one of them is allowed; the call itself runs on the concurrency pool).
func blockingWait<T: Sendable>(timeout: Duration, _ op: @escaping @Sendable () async throws -> T) throws -> T {
    let box = Mutex<Result<T, any Error>?>(nil)
    let done = DispatchSemaphore(value: 0)
    // A task is the bridge from this blocking thread into async code; it ends with the call.
    let task = Task {
        let r: Result<T, any Error>
        do { r = .success(try await op()) } catch { r = .failure(error) }
        box.withLock { $0 = r }
        done.signal()
    }
    let ms = Int(DurationText.milliseconds(timeout))
    if done.wait(timeout: .now() + .milliseconds(ms)) == .timedOut {
        task.cancel()
        throw EtcdError.unavailable(["no answer within \(ms) ms"])
    }
    return try box.withLock { $0! }.get()
}
