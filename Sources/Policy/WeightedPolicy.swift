import ConfigText
import FoundationEssentials

/// `policy: weighted`: members of the available pools by weight. `answers:` members per reply. The
/// responder picks variant `query ID % variants`, so the distribution is deterministic and testable.
public enum WeightedPolicy: PolicyUnit {
    public static let kind = PolicyKind.weighted
    public static let keys: Set<String> = ["answers"]

    public static func parse(_ m: [String: Node], _ p: String, _ r: YAMLReader, into s: inout ServiceConfig) {
        if let v = r.int(m["answers"], "\(p).answers", range: 1...64) { s.answers = v }
    }

    public static func decide(
        service s: ServiceConfig,
        views: [String: PoolView],
        overrides: OverrideSet,
        state old: ServiceState,
        now: Date
    ) -> Decision {
        Policy.acrossPools(s, views: views, overrides: overrides, state: old, now: now) { members in
            let up = members.filter { $0.weight > 0 }
            return up.isEmpty ? nil : (.variants(variants(up, answers: s.answers)), "weighted over available members")
        }
    }

    /// Deterministic weighted choice: one variant per unit of weight (scaled to at most 1024 variants);
    /// variant v starts at the member owning slot v and continues with the next members in order.
    public static func variants(_ members: [PoolMember], answers: Int) -> [[PoolMember]] {
        let total = members.reduce(0) { $0 + $1.weight }
        guard total > 0 else { return [members] }
        let scale = total > 1024 ? Double(1024) / Double(total) : 1
        var slots: [Int] = []
        for (i, m) in members.enumerated() {
            let n = max(1, Int((Double(m.weight) * scale).rounded()))
            slots.append(contentsOf: repeatElement(i, count: n))
        }
        let k = min(answers, members.count)
        return slots.map { first in (0..<k).map { members[(first + $0) % members.count] } }
    }
}
