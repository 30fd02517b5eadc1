import Config
import FoundationEssentials

/// What a node knows of the fleet: the live members, their observations and the shared overrides, as
/// read from the store (a full read, then the watch's changes). A plain value; applying the same keys
/// in the same order gives the same view on every node.
public struct FleetView: Sendable, Equatable {
    public var members: [String: MemberRecord] = [:]
    /// node → target → observation.
    public var observations: [String: [String: Observation]] = [:]
    /// override id (`scope/target`) → the override as stored (JSON, read by the composition root).
    public var overrides: [String: Data] = [:]
    /// The store revision this view reflects.
    public var revision: Int64 = 0
    /// Records under the prefix that were left out: key → what is wrong (gone when the key is fixed or deleted).
    public var problems: [String: String] = [:]
    public init() {}

    /// Builds a view from a full read of the prefix.
    public init(keys: FleetKeys, kvs: [EtcdKeyValue], revision: Int64) {
        for kv in kvs { apply(keys: keys, .init(kind: .put, kv: kv)) }
        self.revision = revision
    }

    /// Applies one change. Keys outside the prefix are ignored; a key inside it that is not of the layout, or a
    /// record that does not decode, is left out and noted in `problems`. Returns true when the view changed.
    @discardableResult
    public mutating func apply(keys: FleetKeys, _ e: EtcdEvent) -> Bool {
        guard e.kv.key.hasPrefix(keys.prefix) else { return false }
        let before = self
        problems[e.kv.key] = nil
        guard let parsed = keys.parse(e.kv.key) else {
            if e.kind == .put {
                problems[e.kv.key] =
                    "not a key of the fleet's layout (members/<node>, observations/<node>/<target>, "
                    + "overrides/<scope>/<target>)"
            }
            return before != self
        }
        switch (parsed, e.kind) {
        case (.member(let node), .put):
            do { members[node] = try FleetJSON.decoder.decode(MemberRecord.self, from: e.kv.value) } catch {
                members[node] = nil
                problems[e.kv.key] =
                    "not a member record ({\"vantage\", \"started\", \"version\"}): \(FleetJSON.describe(error))"
            }
        case (.member(let node), .delete):
            members[node] = nil
        case (.observation(let node, let target), .put):
            do {
                observations[node, default: [:]][target] = try FleetJSON.decoder.decode(
                    Observation.self,
                    from: e.kv.value
                )
            } catch {
                observations[node]?[target] = nil
                if observations[node]?.isEmpty == true { observations[node] = nil }
                problems[e.kv.key] =
                    "not an observation ({\"up\", \"reason\", \"at\", \"vantage\"}): \(FleetJSON.describe(error))"
            }
        case (.observation(let node, let target), .delete):
            observations[node]?[target] = nil
            if observations[node]?.isEmpty == true { observations[node] = nil }
        case (.override(let id), .put):
            overrides[id] = e.kv.value
        case (.override(let id), .delete):
            overrides[id] = nil
        }
        return before != self
    }

    /// node → vantage, for live members.
    public var vantages: [String: String] { members.mapValues(\.vantage) }

    /// target → node → up?, counting only live members (a node's observations go with its lease).
    public func observationsByTarget(
        overlay own: (node: String, verdicts: [String: Bool])? = nil
    ) -> [String: [String: Bool]] {
        var out: [String: [String: Bool]] = [:]
        for (node, targets) in observations where members[node] != nil {
            for (t, o) in targets { out[t, default: [:]][node] = o.up }
        }
        if let own {
            for (t, up) in own.verdicts { out[t, default: [:]][own.node] = up }
        }
        return out
    }

    /// The fleet verdict of every observed target.
    public func verdicts(
        quorum: FleetQuorum,
        overlay own: (node: String, vantage: String, verdicts: [String: Bool])? = nil
    ) -> [String: Bool] {
        var vantageOf = vantages
        if let own { vantageOf[own.node] = own.vantage }
        return observationsByTarget(overlay: own.map { ($0.node, $0.verdicts) }).compactMapValues {
            FleetDecision.verdict(observations: $0, vantageOf: vantageOf, quorum: quorum)
        }
    }
}
