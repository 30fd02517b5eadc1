import ConfigText
import FoundationEssentials

/// `policy: nearest`: a failover per client region over that region's pool order
/// (`ServiceConfig.regionOrder`, computed by Config from distances, or `order:`), each with its own state under
/// `state.regions[name]`, so hold-down, manual failback and switch intervals apply per region; a pin applies
/// to every region whose list holds the pinned pool. The result carries `perRegion` (index = region).
public enum NearestPolicy: PolicyUnit {
    public static let kind = PolicyKind.nearest
    public static let keys: Set<String> = FailoverPolicy.failbackKeys.union(["ecs", "max_pools", "order"])

    public static func parse(_ m: [String: Node], _ p: String, _ r: YAMLReader, into s: inout ServiceConfig) {
        FailoverPolicy.parse(m, p, r, into: &s)
        if let v = r.string(m["ecs"], "\(p).ecs") {
            switch v {
            case "use": s.useECS = true
            case "ignore": s.useECS = false
            default: r.problem(m["ecs"], "\(p).ecs", "'\(v)' is not use or ignore")
            }
        }
        s.maxPools = r.int(m["max_pools"], "\(p).max_pools", range: 1...64)
        if let om = r.mapping(m["order"], "\(p).order", allowed: nil) {
            for (region, list) in om {
                guard let l = r.stringList(list, "\(p).order.\(region)") else { continue }
                s.explicitOrder[region] = l
                for pn in l where !s.pools.contains(pn) {
                    r.problem(
                        list,
                        "\(p).order.\(region)",
                        "'\(pn)' is not one of the service's pools (\(s.pools.joined(separator: ", ")))"
                    )
                }
            }
        }
    }

    public static func check(_ s: ServiceConfig, _ context: PolicyContext) -> [PolicyProblem] {
        var out: [PolicyProblem] = []
        let regions = context.regions
        for region in s.explicitOrder.keys.sorted() where !regions.contains(region) {
            out.append(
                PolicyProblem(
                    key: "order",
                    path: "order.\(region)",
                    message: "no region named '\(region)' (defined: \(regions.joined(separator: ", ")))"
                )
            )
        }
        if regions.isEmpty {
            out.append(PolicyProblem(key: "policy", message: "nearest needs regions: (name: {latitude, longitude})"))
        }
        for pn in s.pools {
            guard let pool = context.pools.first(where: { $0.name == pn }) else { continue }
            if pool.region == nil {
                out.append(
                    PolicyProblem(
                        key: "pools",
                        message: "pool '\(pn)' has no region: (policy nearest orders pools by their region)"
                    )
                )
            }
        }
        return out
    }

    public static func decide(
        service s: ServiceConfig,
        views: [String: PoolView],
        overrides: OverrideSet,
        state old: ServiceState,
        now: Date
    ) -> Decision {
        var per: [Decision] = []
        var regions: [String: ServiceState] = [:]
        for order in s.regionOrder {
            var sub = s
            sub.policy = .failover
            sub.pools = order.pools
            var d = FailoverPolicy.decide(
                service: sub,
                views: views,
                overrides: overrides,
                state: old.regions?[order.region] ?? ServiceState(),
                now: now
            )
            d.reason =
                "client region \(order.region) (\(order.basis): \(order.pools.joined(separator: " > "))): \(d.reason)"
            if let sw = d.switched { d.switched?.reason = "client region \(order.region): \(sw.reason)" }
            regions[order.region] = d.state
            per.append(d)
        }
        guard var top = per.first else {
            return Decision(
                outcome: .empty,
                pool: nil,
                ttl: s.clamp(s.degradedTTL),
                ttlReason: "no regions",
                reason: "no regions",
                degraded: true,
                state: old,
                switched: nil,
                nextEvaluation: nil
            )
        }
        top.ttl = per.map(\.ttl).min() ?? top.ttl
        top.degraded = per.contains(where: \.degraded)
        top.switched = nil
        top.ramp = nil
        top.rampChanged = nil
        top.state = ServiceState(regions: regions)
        top.nextEvaluation = per.compactMap(\.nextEvaluation).min()
        top.perRegion = per
        return top
    }
}
