import ConfigText
import FoundationEssentials

/// One policy, the way a gdnsd plugin is one file: the service keys it reads (`parse`), the rules that need
/// the other sections (`check`), and its pure decision (`decide`). Config reads the keys every service has
/// (`policy`, `pools`, the TTLs, `when_all_down`) and hands the service's mapping to the unit its `policy:`
/// names; a key that only other policies read is refused with their names. Each unit's table tests sit in
/// `Tests/PolicyTests/<Unit>Tests.swift`, next to its parse tests.
public protocol PolicyUnit {
    static var kind: PolicyKind { get }
    /// The service keys this policy reads, beyond the ones every service has.
    static var keys: Set<String> { get }
    /// Whether a service of this policy may answer from a CNAME pool (one CNAME per answer).
    static var answersCNAMEPools: Bool { get }
    /// Reads this policy's keys of one service (mapping `m` at key path `p`) into `s`; problems go to `r`.
    static func parse(_ m: [String: Node], _ p: String, _ r: YAMLReader, into s: inout ServiceConfig)
    /// Rules that need the other sections (pools, regions), checked once every section is read.
    static func check(_ s: ServiceConfig, _ context: PolicyContext) -> [PolicyProblem]
    static func decide(
        service s: ServiceConfig,
        views: [String: PoolView],
        overrides: OverrideSet,
        state old: ServiceState,
        now: Date
    ) -> Decision
}

extension PolicyUnit {
    public static var answersCNAMEPools: Bool { false }
    public static func check(_ s: ServiceConfig, _ context: PolicyContext) -> [PolicyProblem] { [] }
}

/// What a unit's `check` sees of the rest of the config.
public struct PolicyContext: Sendable {
    public var pools: [PoolConfig]
    /// The region names under `regions:`, in file order.
    public var regions: [String]
    public init(pools: [PoolConfig], regions: [String]) {
        self.pools = pools
        self.regions = regions
    }
}

/// A problem `check` found: the service key it is about (its line is reported), the key path below the
/// service when more precise (`order.eu`), and what is wrong.
public struct PolicyProblem: Sendable, Hashable {
    public var key: String
    public var path: String
    public var message: String
    public init(key: String, path: String? = nil, message: String) {
        self.key = key
        self.path = path ?? key
        self.message = message
    }
}

/// The units by name. Adding a policy: a case in `PolicyKind`, a unit here, its file and its tests.
public enum PolicyUnits {
    public static func unit(for kind: PolicyKind) -> any PolicyUnit.Type {
        switch kind {
        case .failover: FailoverPolicy.self
        case .nearest: NearestPolicy.self
        case .all: AllPolicy.self
        case .weighted: WeightedPolicy.self
        }
    }

    public static var all: [any PolicyUnit.Type] { PolicyKind.allCases.map(unit(for:)) }

    /// Every policy-specific key, with the policies that read it.
    public static var keyOwners: [String: [PolicyKind]] {
        var out: [String: [PolicyKind]] = [:]
        for u in all { for k in u.keys { out[k, default: []].append(u.kind) } }
        return out
    }
}
