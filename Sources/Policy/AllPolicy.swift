import ConfigText
import Foundation
import Yams

/// `policy: all`: every up member of every available pool, in pool order. No keys of its own.
public enum AllPolicy: PolicyUnit {
    public static let kind = PolicyKind.all
    public static let keys: Set<String> = []

    public static func parse(_ m: [String: Node], _ p: String, _ r: YAMLReader, into s: inout ServiceConfig) {}

    public static func decide(
        service s: ServiceConfig,
        views: [String: PoolView],
        overrides: OverrideSet,
        state old: ServiceState,
        now: Date
    ) -> Decision {
        let pools = s.pools.compactMap { views[$0] }
        let up = pools.filter(\.available).flatMap(\.upMembers)
        let (outcome, reason) = up.isEmpty ? Policy.allDown(s, pools) : (.members(up), "all available members")
        return Policy.finish(
            s,
            pools: pools,
            outcome: outcome,
            pool: nil,
            reason: reason,
            tracksPool: false,
            state: old,
            old: old,
            overrides: overrides,
            now: now,
            next: nil
        )
    }
}
