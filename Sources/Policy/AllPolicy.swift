import ConfigText
import FoundationEssentials

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
        Policy.acrossPools(s, views: views, overrides: overrides, state: old, now: now) { up in
            up.isEmpty ? nil : (.members(up), "all available members")
        }
    }
}
