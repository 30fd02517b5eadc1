import Config

/// The fleet's decision, a pure function: per target, the verdict of each live vantage point, and the
/// quorum that turns them into one verdict. Every node computes it from the same observations, so every
/// node reaches the same verdict.
public enum FleetDecision {
    /// One vantage's verdict from its nodes' verdicts: down when more than half of its reporting nodes
    /// see the target down (a tie counts as up: some node at that place still reaches it).
    public static func vantageUp(_ nodeVerdicts: [Bool]) -> Bool? {
        guard !nodeVerdicts.isEmpty else { return nil }
        let down = nodeVerdicts.filter { !$0 }.count
        return !(down * 2 > nodeVerdicts.count)
    }

    /// True when `down` of `live` vantages seeing a target down meets the quorum.
    /// majority: more than half; any: one; all: every one; N: at least N (every live one when fewer than N are live).
    public static func quorumMet(down: Int, live: Int, quorum: FleetQuorum) -> Bool {
        guard live > 0, down > 0 else { return false }
        switch quorum {
        case .majority: return down * 2 > live
        case .any: return true
        case .all: return down >= live
        case .count(let n): return down >= min(n, live)
        }
    }

    /// The fleet verdict of one target from its observations (node → up?) and the nodes' vantages.
    /// nil when no live node has observed it (the caller falls back to its own probes).
    public static func verdict(observations: [String: Bool], vantageOf: [String: String], quorum: FleetQuorum) -> Bool?
    {
        let perVantage = vantageVerdicts(observations: observations, vantageOf: vantageOf)
        guard !perVantage.isEmpty else { return nil }
        let down = perVantage.values.filter { !$0 }.count
        return !quorumMet(down: down, live: perVantage.count, quorum: quorum)
    }

    /// vantage → up?, from node → up? (a node without a known vantage is its own vantage).
    public static func vantageVerdicts(observations: [String: Bool], vantageOf: [String: String]) -> [String: Bool] {
        var byVantage: [String: [Bool]] = [:]
        for (node, up) in observations { byVantage[vantageOf[node] ?? node, default: []].append(up) }
        return byVantage.compactMapValues(vantageUp)
    }
}
