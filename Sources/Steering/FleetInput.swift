import Config
import FoundationEssentials
import HealthModel
import Policy

/// What a fleet of gtmd nodes hands the writer (`SteeringInput.fleet`): its shared decision per target and the
/// shared overrides as stored. App builds it from the `Fleet` target; Steering does not know etcd.
/// Invariant: `verdicts` is empty unless the fleet decides (`mode` fleet) or freezes its last decision (frozen).
public struct FleetInput: Sendable, Equatable {
    /// fleet (the store is read), local (store lost: own probes) or frozen (store lost: last fleet decision).
    public var mode: String
    /// target → the fleet's verdict (true: up). It replaces the node's own verdict for targets this node probes.
    public var verdicts: [String: Bool]
    /// Store key → the override as stored (JSON); nil while the fleet's overrides are not known (a node started
    /// with the store unreachable and no cache): the state file's overrides then stay in force.
    public var overrides: [String: Data]?

    public init(mode: String, verdicts: [String: Bool], overrides: [String: Data]?) {
        self.mode = mode
        self.verdicts = verdicts
        self.overrides = overrides
    }

    /// The verdicts the answers use: the node's own, each replaced by the fleet's where the fleet has one.
    public func effective(_ local: [String: Bool]) -> [String: Bool] {
        var out = local
        for (t, up) in verdicts where out[t] != nil { out[t] = up }
        return out
    }

    /// The snapshot as the answers see it (`isUp` from `effective`), for /status and /explain.
    public func effective(_ snapshot: HealthSnapshot) -> HealthSnapshot {
        var s = snapshot
        for (t, up) in verdicts where s.targets[t] != nil { s.targets[t]?.isUp = up }
        return s
    }

    /// An override as a fleet stores it (the state file's JSON for one override).
    public static func encode(_ o: Override) -> Data {
        // Encoding a plain struct of strings and dates cannot fail.
        (try? StateFile.encoder.encode(o)) ?? Data()
    }

    /// The shared overrides, each decoded and validated against the config through `OverrideStore.check` (the
    /// path the control API's overrides take). A record that fails is left out, with "key: what is wrong".
    public static func overrides(
        _ stored: [String: Data],
        config: GtmdConfig
    ) -> (set: OverrideSet, problems: [String]) {
        var set = OverrideSet()
        var problems: [String] = []
        for (key, data) in stored.sorted(by: { $0.key < $1.key }) {
            let o: Override
            do { o = try StateFile.decoder.decode(Override.self, from: data) } catch {
                problems.append("\(key): not an override (\(DecodingProblem.describe(error)))")
                continue
            }
            do { try OverrideStore.check(o, config: config) } catch {
                problems.append("\(key): \(error.description)")
                continue
            }
            let id = OverrideStore.sharedID(o)
            guard key.hasSuffix("/overrides/" + id) else {
                problems.append("\(key): holds the override for '\(id)'; it belongs under overrides/\(id)")
                continue
            }
            set.set(o)
        }
        return (set, problems)
    }
}

/// The fleet part of `/status`, `/explain` and `gtmd status` (filled by App from the `Fleet` target).
public struct FleetReport: Codable, Sendable {
    public struct Store: Codable, Sendable {
        public var connected: Bool
        public var since: Date
        public var lastError: String?
        public var endpoints: [String]
        public var lease: String?
        public var revision: Int64
        public var watchLagSeconds: Double?
        public var writes: [String: Int]
        public var losses: Int
        public init(
            connected: Bool,
            since: Date,
            lastError: String?,
            endpoints: [String],
            lease: String?,
            revision: Int64,
            watchLagSeconds: Double?,
            writes: [String: Int],
            losses: Int
        ) {
            self.connected = connected
            self.since = since
            self.lastError = lastError
            self.endpoints = endpoints
            self.lease = lease
            self.revision = revision
            self.watchLagSeconds = watchLagSeconds
            self.writes = writes
            self.losses = losses
        }
    }
    public struct Member: Codable, Sendable {
        public var node: String
        public var vantage: String
        public var started: Date
        public var version: String
        public init(node: String, vantage: String, started: Date, version: String) {
            self.node = node
            self.vantage = vantage
            self.started = started
            self.version = version
        }
    }
    public struct Target: Codable, Sendable {
        public var target: String
        /// This node's own probes (nil: not probed by this node, or no verdict yet).
        public var local: Bool?
        /// What the answers use.
        public var used: Bool?
        /// vantage → its verdict (true: up).
        public var vantages: [String: Bool]
        public init(target: String, local: Bool?, used: Bool?, vantages: [String: Bool]) {
            self.target = target
            self.local = local
            self.used = used
            self.vantages = vantages
        }
    }
    public var name: String
    public var node: String
    public var vantage: String
    public var quorum: String
    public var onStoreLoss: String
    /// fleet, local (store lost: own probes) or frozen (store lost: last fleet decision).
    public var mode: String
    public var store: Store
    public var members: [Member]
    public var targets: [Target]
    /// Records under the fleet's prefix that were left out, as "key: what is wrong".
    public var problems: [String]

    public init(
        name: String,
        node: String,
        vantage: String,
        quorum: String,
        onStoreLoss: String,
        mode: String,
        store: Store,
        members: [Member],
        targets: [Target],
        problems: [String]
    ) {
        self.name = name
        self.node = node
        self.vantage = vantage
        self.quorum = quorum
        self.onStoreLoss = onStoreLoss
        self.mode = mode
        self.store = store
        self.members = members
        self.targets = targets
        self.problems = problems
    }
}
