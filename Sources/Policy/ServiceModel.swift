import ConfigText
import DNSWire
import FoundationEssentials
import Geo
import HealthModel

/// When a pool counts as available, from how many of its members are up (GTM's "minimum available
/// addresses" and its any / 30 % / 50 % / 70 % / all).
public enum AvailabilityRule: Sendable, Hashable, CustomStringConvertible {
    case any
    case all
    case atLeast(Int)
    case percent(Int)

    public func isAvailable(up: Int, total: Int) -> Bool {
        guard total > 0 else { return false }
        switch self {
        case .any: return up >= 1
        case .all: return up == total
        case .atLeast(let n): return up >= min(n, total) && up >= 1
        case .percent(let p): return up >= 1 && up * 100 >= p * total
        }
    }

    public static func parse(_ s: String) -> AvailabilityRule? {
        let t = s.trimmedSpace().lowercased()
        if t == "any" { return .any }
        if t == "all" { return .all }
        if t.hasSuffix("%"), let p = Int(t.dropLast()), (1...100).contains(p) { return .percent(p) }
        if let n = Int(t), n >= 1 { return .atLeast(n) }
        return nil
    }

    public var description: String {
        switch self {
        case .any: return "any"
        case .all: return "all"
        case .atLeast(let n): return "at least \(n)"
        case .percent(let p): return "\(p)%"
        }
    }
}

/// One pool member: an address (answered as A or AAAA) or a CNAME target, with its weight and checks.
/// Invariant: exactly one of `address` / `cname` is set.
public struct PoolMember: Sendable, Hashable {
    public var address: IPAddress?
    public var cname: DNSName?
    public var weight: Int
    public var checks: [CheckSpec]
    /// Health target id: `pool/member`.
    public var targetID: String
    public var label: String { address?.description ?? cname?.description ?? "?" }
    public init(address: IPAddress?, cname: DNSName?, weight: Int, checks: [CheckSpec], targetID: String) {
        self.address = address
        self.cname = cname
        self.weight = weight
        self.checks = checks
        self.targetID = targetID
    }
}

public struct PoolConfig: Sendable, Hashable {
    public var name: String
    public var region: String?
    public var rule: AvailabilityRule
    public var members: [PoolMember]
    public init(name: String, region: String? = nil, rule: AvailabilityRule = .any, members: [PoolMember]) {
        self.name = name
        self.region = region
        self.rule = rule
        self.members = members
    }
    public var isCNAMEPool: Bool { members.first?.cname != nil }
}

public enum PolicyKind: String, Sendable, Hashable, CaseIterable { case failover, all, weighted, nearest }
public enum AllDownBehaviour: String, Sendable, Hashable, CaseIterable {
    case failOpen = "fail-open"
    case all, empty, servfail
}
public enum FailbackMode: String, Sendable, Hashable, CaseIterable { case auto, manual }

/// `failback: {mode: ramp, steps: [10%, 50%, 100%], step_interval: 60s}`: once a better pool may take the
/// traffic back (after hold-down and the switch interval), it gets `steps[i]` percent of the answers (picked by
/// query ID) during step i, each step lasting `stepInterval`; the last step is always 100 (the switch).
public struct FailbackRamp: Sendable, Hashable {
    /// Percent of answers from the better pool, strictly increasing, ending at 100.
    public var steps: [Int]
    public var stepInterval: Duration
    public init(steps: [Int], stepInterval: Duration) {
        self.steps = steps
        self.stepInterval = stepInterval
    }
}

/// nearest: the pools clients of one region try, first available wins, and why in that order.
public struct RegionOrder: Sendable, Hashable {
    public var region: String
    public var pools: [String]
    /// "distance" or "explicit order".
    public var basis: String
    public init(region: String, pools: [String], basis: String) {
        self.region = region
        self.pools = pools
        self.basis = basis
    }
}

/// A service: a name in a zone answered from pools by a policy.
public struct ServiceConfig: Sendable, Hashable {
    public var name: DNSName
    public var policy: PolicyKind
    public var pools: [String]
    public var ttl: UInt32
    public var degradedTTL: UInt32
    public var minTTL: UInt32
    public var maxTTL: UInt32
    public var whenAllDown: AllDownBehaviour
    public var failback: FailbackMode
    public var holdDown: Duration
    public var minSwitchInterval: Duration
    /// failback: ramp: the steps traffic returns in (failback is then auto); nil = all at once.
    public var failbackRamp: FailbackRamp? = nil
    /// weighted: how many members each answer carries.
    public var answers: Int
    /// nearest: locate clients by the EDNS Client Subnet address when a query carries one (else the source).
    public var useECS: Bool = true
    /// nearest: keep at most this many pools per client region (nil = all).
    public var maxPools: Int? = nil
    /// nearest: region name → pool order given in the config (overrides the distance order).
    public var explicitOrder: [String: [String]] = [:]
    /// nearest: pool order per client region, indexed like `GtmdConfig.regions`; computed when the config loads.
    public var regionOrder: [RegionOrder] = []
    public init(
        name: DNSName,
        policy: PolicyKind = .failover,
        pools: [String],
        ttl: UInt32 = 30,
        degradedTTL: UInt32 = 5,
        minTTL: UInt32 = 1,
        maxTTL: UInt32 = 86400,
        whenAllDown: AllDownBehaviour = .failOpen,
        failback: FailbackMode = .auto,
        holdDown: Duration = .zero,
        minSwitchInterval: Duration = .zero,
        answers: Int = 1
    ) {
        self.name = name
        self.policy = policy
        self.pools = pools
        self.ttl = ttl
        self.degradedTTL = degradedTTL
        self.minTTL = minTTL
        self.maxTTL = maxTTL
        self.whenAllDown = whenAllDown
        self.failback = failback
        self.holdDown = holdDown
        self.minSwitchInterval = minSwitchInterval
        self.answers = answers
    }
    /// TTL clamped to the service's bounds.
    public func clamp(_ t: UInt32) -> UInt32 { min(max(t, minTTL), maxTTL) }
}
