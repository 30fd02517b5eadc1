import DNSWire
import Foundation
import Health
import Yams

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
        let t = s.trimmingCharacters(in: .whitespaces).lowercased()
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
        self.address = address; self.cname = cname; self.weight = weight; self.checks = checks; self.targetID = targetID
    }
}

public struct PoolConfig: Sendable, Hashable {
    public var name: String
    public var region: String?
    public var rule: AvailabilityRule
    public var members: [PoolMember]
    public init(name: String, region: String? = nil, rule: AvailabilityRule = .any, members: [PoolMember]) {
        self.name = name; self.region = region; self.rule = rule; self.members = members
    }
    public var isCNAMEPool: Bool { members.first?.cname != nil }
}

public enum PolicyKind: String, Sendable, Hashable, CaseIterable { case failover, all, weighted, nearest }
public enum AllDownBehaviour: String, Sendable, Hashable, CaseIterable {
    case failOpen = "fail-open", all, empty, servfail
}
public enum FailbackMode: String, Sendable, Hashable, CaseIterable { case auto, manual }

/// nearest: the pools clients of one region try, first available wins, and why in that order.
public struct RegionOrder: Sendable, Hashable {
    public var region: String
    public var pools: [String]
    /// "distance" or "explicit order".
    public var basis: String
    public init(region: String, pools: [String], basis: String) { self.region = region; self.pools = pools; self.basis = basis }
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
    public init(name: DNSName, policy: PolicyKind = .failover, pools: [String], ttl: UInt32 = 30, degradedTTL: UInt32 = 5,
                minTTL: UInt32 = 1, maxTTL: UInt32 = 86400, whenAllDown: AllDownBehaviour = .failOpen,
                failback: FailbackMode = .auto, holdDown: Duration = .zero, minSwitchInterval: Duration = .zero, answers: Int = 1) {
        self.name = name; self.policy = policy; self.pools = pools; self.ttl = ttl; self.degradedTTL = degradedTTL
        self.minTTL = minTTL; self.maxTTL = maxTTL; self.whenAllDown = whenAllDown; self.failback = failback
        self.holdDown = holdDown; self.minSwitchInterval = minSwitchInterval; self.answers = answers
    }
    /// TTL clamped to the service's bounds.
    public func clamp(_ t: UInt32) -> UInt32 { min(max(t, minTTL), maxTTL) }
}

/// Health-checking options that apply to every target.
public struct HealthSettings: Sendable, Hashable {
    /// Counted as up (default) or down while a target has no verdict yet.
    public var initialStateUp = true
    public var maxInFlight = 256
    public init() {}
}

extension ConfigLoader {
    static let checkKeys: Set<String> = [
        "type", "port", "path", "method", "host", "headers", "expect_status", "expect_body", "body_limit", "timeout",
        "interval", "fast_interval", "rise", "fall", "tls_verify", "ca_file", "sni", "cert_expiry_warning", "endpoint",
    ]

    static func readCheck(_ name: String, _ m: [String: Node], _ r: YAMLReader, _ p: String, baseDirectory: String) -> CheckSpec? {
        guard let typeText = r.string(m["type"], "\(p).type") else {
            r.problem(nil, "\(p).type", "missing (tcp, http or https)"); return nil
        }
        guard let kind = CheckKind(rawValue: typeText.lowercased()) else {
            r.problem(m["type"], "\(p).type", "'\(typeText)' is not tcp, http or https"); return nil
        }
        var c = CheckSpec(name: name, kind: kind)
        c.port = r.int(m["port"], "\(p).port", range: 1...65535)
        if let v = r.string(m["path"], "\(p).path") { c.path = v }
        if let v = r.string(m["method"], "\(p).method") {
            if let mth = HTTPCheckMethod(rawValue: v.uppercased()) { c.method = mth } else {
                r.problem(m["method"], "\(p).method", "'\(v)' is not GET or HEAD")
            }
        }
        c.host = r.string(m["host"], "\(p).host")
        if let h = r.mapping(m["headers"], "\(p).headers", allowed: nil) {
            for (k, v) in h { if let s = r.string(v, "\(p).headers.\(k)") { c.headers[k] = s } }
        }
        if let v = m["expect_status"] {
            let text: String?
            if case .sequence = v { text = r.stringList(v, "\(p).expect_status")?.joined(separator: ",") } else { text = r.string(v, "\(p).expect_status") }
            if let text {
                do { c.expectStatus = try StatusRanges(parsing: text) } catch {
                    r.problem(v, "\(p).expect_status", "'\(text)': \(error)")
                }
            }
        }
        c.expectBody = r.string(m["expect_body"], "\(p).expect_body")
        if let v = r.int(m["body_limit"], "\(p).body_limit", range: 1...(16 << 20)) { c.bodyLimit = v }
        if let v = r.duration(m["timeout"], "\(p).timeout", range: .milliseconds(10)...(.seconds(120))) { c.timeout = v }
        if let v = r.duration(m["interval"], "\(p).interval", range: .milliseconds(50)...(.seconds(86400))) { c.interval = v }
        c.fastInterval = r.duration(m["fast_interval"], "\(p).fast_interval", range: .milliseconds(10)...(.seconds(86400)))
        if let v = r.int(m["rise"], "\(p).rise", range: 1...100) { c.rise = v }
        if let v = r.int(m["fall"], "\(p).fall", range: 1...100) { c.fall = v }
        if let v = r.bool(m["tls_verify"], "\(p).tls_verify") { c.tlsVerify = v }
        if let v = r.string(m["ca_file"], "\(p).ca_file") {
            c.caFile = v.hasPrefix("/") ? v : (baseDirectory as NSString).appendingPathComponent(v)
        }
        c.sni = r.string(m["sni"], "\(p).sni")
        if let v = r.duration(m["cert_expiry_warning"], "\(p).cert_expiry_warning", range: .zero...(.seconds(365 * 86400))) {
            c.certExpiryWarning = v
        }
        c.endpoint = r.string(m["endpoint"], "\(p).endpoint")
        // Each problem at the line of the key it is about when there is one (ca_file), else the check's first key.
        for problem in c.validate() {
            let at = problem.hasPrefix("ca_file") ? m["ca_file"] : (m["type"] ?? m.values.first)
            r.problem(at, p, problem)
        }
        return c
    }

    static func readHealthSections(_ root: [String: Node], _ r: YAMLReader, _ config: inout GtmdConfig, baseDirectory: String) {
        var checks: [String: CheckSpec] = [:]
        if let cm = r.mapping(root["checks"], "checks", allowed: nil) {
            for (name, node) in cm.sorted(by: { $0.key < $1.key }) {
                guard let m = r.mapping(node, "checks.\(name)", allowed: checkKeys) else { continue }
                if let c = readCheck(name, m, r, "checks.\(name)", baseDirectory: baseDirectory) { checks[name] = c }
            }
        }
        config.checks = checks
        if let h = r.mapping(root["health"], "health", allowed: ["initial_state", "max_in_flight"]) {
            if let v = r.string(h["initial_state"], "health.initial_state") {
                switch v.lowercased() {
                case "up": config.health.initialStateUp = true
                case "down": config.health.initialStateUp = false
                default: r.problem(h["initial_state"], "health.initial_state", "'\(v)' is not up or down")
                }
            }
            if let v = r.int(h["max_in_flight"], "health.max_in_flight", range: 1...10_000) { config.health.maxInFlight = v }
        }

        func checkList(_ node: Node?, _ path: String) -> [CheckSpec]? {
            guard let names = r.stringList(node, path) else { return nil }
            var out: [CheckSpec] = []
            for n in names {
                if let c = checks[n] { out.append(c) } else {
                    r.problem(node, path, "no check named '\(n)' (defined: \(checks.keys.sorted().joined(separator: ", ")))")
                }
            }
            return out
        }

        // Pools, in file order.
        if let pm = r.mapping(root["pools"], "pools", allowed: nil) {
            let ordered = orderedKeys(root["pools"])
            for name in ordered {
                guard let node = pm[name] else { continue }
                let p = "pools.\(name)"
                guard let m = r.mapping(node, p, allowed: ["region", "rule", "checks", "members"]) else { continue }
                var pool = PoolConfig(name: name, region: r.string(m["region"], "\(p).region"), members: [])
                if let rn = pool.region, !config.regions.isEmpty, !config.regions.contains(where: { $0.name == rn }) {
                    r.problem(m["region"], "\(p).region", "no region named '\(rn)' under regions: (defined: \(config.regions.map(\.name).joined(separator: ", ")))")
                }
                if let v = m["rule"], let s = r.string(v, "\(p).rule") {
                    if let rule = AvailabilityRule.parse(s) { pool.rule = rule } else {
                        r.problem(v, "\(p).rule", "'\(s)' is not any, all, a count (2) or a percentage (50%)")
                    }
                }
                let poolChecks = checkList(m["checks"], "\(p).checks") ?? []
                guard let members = r.sequence(m["members"], "\(p).members"), !members.isEmpty else {
                    r.problem(node, "\(p).members", "a pool needs at least one member"); continue
                }
                for (i, mnode) in members.enumerated() {
                    let mp = "\(p).members[\(i)]"
                    // A bare scalar is an address.
                    if case .scalar = mnode, let s = r.string(mnode, mp) {
                        guard let a = IPAddress.parse(s) else { r.problem(mnode, mp, "'\(s)' is not an IPv4 or IPv6 address"); continue }
                        pool.members.append(PoolMember(address: a, cname: nil, weight: 1, checks: poolChecks, targetID: "\(name)/\(s)"))
                        continue
                    }
                    guard let mm = r.mapping(mnode, mp, allowed: ["address", "cname", "weight", "checks"]) else { continue }
                    let weight = r.int(mm["weight"], "\(mp).weight", range: 0...1000) ?? 1
                    let memberChecks = checkList(mm["checks"], "\(mp).checks") ?? poolChecks
                    if let s = r.string(mm["address"], "\(mp).address") {
                        if mm["cname"] != nil { r.problem(mnode, mp, "give address or cname, not both") }
                        guard let a = IPAddress.parse(s) else {
                            r.problem(mm["address"], "\(mp).address", "'\(s)' is not an IPv4 or IPv6 address"); continue
                        }
                        pool.members.append(PoolMember(address: a, cname: nil, weight: weight, checks: memberChecks,
                                                       targetID: "\(name)/\(a)"))
                    } else if let s = r.string(mm["cname"], "\(mp).cname") {
                        guard let n = try? DNSName(absolute: s) else {
                            r.problem(mm["cname"], "\(mp).cname", "'\(s)' is not a domain name"); continue
                        }
                        pool.members.append(PoolMember(address: nil, cname: n, weight: weight, checks: memberChecks,
                                                       targetID: "\(name)/\(n)"))
                    } else {
                        r.problem(mnode, mp, "needs address or cname")
                    }
                }
                if pool.members.contains(where: { $0.cname != nil }) && pool.members.count > 1 {
                    r.problem(node, "\(p).members", "a CNAME pool has exactly one member")
                }
                let ids = pool.members.map(\.targetID)
                if Set(ids).count != ids.count { r.problem(node, "\(p).members", "a member is listed twice") }
                for mem in pool.members where mem.cname != nil && !mem.checks.isEmpty {
                    if mem.checks.contains(where: { $0.endpoint == nil }) {
                        r.problem(node, p, "checks of a CNAME member need an endpoint (address:port or URL) to probe")
                    }
                }
                config.pools.append(pool)
            }
        }

        // Services.
        if let sm = r.mapping(root["services"], "services", allowed: nil) {
            for name in orderedKeys(root["services"]) {
                guard let node = sm[name] else { continue }
                let p = "services.\(name)"
                guard let m = r.mapping(node, p, allowed: [
                    "policy", "pools", "ttl", "degraded_ttl", "min_ttl", "max_ttl", "when_all_down", "failback",
                    "hold_down", "min_switch_interval", "answers", "ecs", "max_pools", "order",
                ]) else { continue }
                guard let dn = try? DNSName(absolute: name) else {
                    r.problem(node, p, "'\(name)' is not a domain name"); continue
                }
                if !config.zones.contains(where: { dn.isSubdomain(of: $0.origin) }) {
                    r.problem(node, p, "\(dn) is not inside any configured zone")
                }
                var s = ServiceConfig(name: dn, pools: [])
                if let v = r.string(m["policy"], "\(p).policy") {
                    if let k = PolicyKind(rawValue: v) { s.policy = k } else {
                        r.problem(m["policy"], "\(p).policy", "'\(v)' is not one of \(PolicyKind.allCases.map(\.rawValue).joined(separator: ", "))")
                    }
                }
                s.pools = r.stringList(m["pools"], "\(p).pools") ?? []
                if s.pools.isEmpty { r.problem(node, "\(p).pools", "a service needs at least one pool") }
                for pn in s.pools where !config.pools.contains(where: { $0.name == pn }) {
                    r.problem(m["pools"], "\(p).pools", "no pool named '\(pn)'")
                }
                if Set(s.pools).count != s.pools.count { r.problem(m["pools"], "\(p).pools", "a pool is listed twice") }
                let ttlRange = 0...2_147_483_647
                if let v = r.ttl(m["ttl"], "\(p).ttl", range: ttlRange) { s.ttl = UInt32(v) }
                if let v = r.ttl(m["degraded_ttl"], "\(p).degraded_ttl", range: ttlRange) { s.degradedTTL = UInt32(v) } else { s.degradedTTL = min(s.degradedTTL, s.ttl) }
                if let v = r.ttl(m["min_ttl"], "\(p).min_ttl", range: ttlRange) { s.minTTL = UInt32(v) } else { s.minTTL = min(s.minTTL, s.degradedTTL) }
                if let v = r.ttl(m["max_ttl"], "\(p).max_ttl", range: ttlRange) { s.maxTTL = UInt32(v) }
                if s.minTTL > s.maxTTL { r.problem(node, p, "min_ttl \(s.minTTL) is above max_ttl \(s.maxTTL)") }
                if s.degradedTTL > s.ttl { r.problem(node, p, "degraded_ttl \(s.degradedTTL) is above ttl \(s.ttl)") }
                if let v = r.string(m["when_all_down"], "\(p).when_all_down") {
                    if let b = AllDownBehaviour(rawValue: v) { s.whenAllDown = b } else {
                        r.problem(m["when_all_down"], "\(p).when_all_down", "'\(v)' is not one of \(AllDownBehaviour.allCases.map(\.rawValue).joined(separator: ", "))")
                    }
                }
                if let v = r.string(m["failback"], "\(p).failback") {
                    if let b = FailbackMode(rawValue: v) { s.failback = b } else {
                        r.problem(m["failback"], "\(p).failback", "'\(v)' is not auto or manual")
                    }
                }
                if let v = r.duration(m["hold_down"], "\(p).hold_down", range: .zero...(.seconds(7 * 86400))) { s.holdDown = v }
                if let v = r.duration(m["min_switch_interval"], "\(p).min_switch_interval", range: .zero...(.seconds(86400))) {
                    s.minSwitchInterval = v
                }
                if let v = r.int(m["answers"], "\(p).answers", range: 1...64) { s.answers = v }
                if let v = r.string(m["ecs"], "\(p).ecs") {
                    switch v { case "use": s.useECS = true; case "ignore": s.useECS = false
                    default: r.problem(m["ecs"], "\(p).ecs", "'\(v)' is not use or ignore") }
                }
                s.maxPools = r.int(m["max_pools"], "\(p).max_pools", range: 1...64)
                if let om = r.mapping(m["order"], "\(p).order", allowed: nil) {
                    for (region, list) in om {
                        guard let l = r.stringList(list, "\(p).order.\(region)") else { continue }
                        s.explicitOrder[region] = l
                        if !config.regions.contains(where: { $0.name == region }) {
                            r.problem(list, "\(p).order.\(region)", "no region named '\(region)' (defined: \(config.regions.map(\.name).joined(separator: ", ")))")
                        }
                        for pn in l where !s.pools.contains(pn) {
                            r.problem(list, "\(p).order.\(region)", "'\(pn)' is not one of the service's pools (\(s.pools.joined(separator: ", ")))")
                        }
                    }
                }
                if s.policy == .nearest {
                    if config.regions.isEmpty { r.problem(m["policy"], "\(p).policy", "nearest needs regions: (name: {latitude, longitude})") }
                    for pn in s.pools {
                        guard let pool = config.pools.first(where: { $0.name == pn }) else { continue }
                        if pool.region == nil {
                            r.problem(m["pools"], "\(p).pools", "pool '\(pn)' has no region: (policy nearest orders pools by their region)")
                        }
                    }
                }
                if s.policy != .nearest {
                    for k in ["ecs", "max_pools", "order"] where m[k] != nil { r.problem(m[k], "\(p).\(k)", "only used with policy nearest") }
                }
                let pools = s.pools.compactMap { pn in config.pools.first { $0.name == pn } }
                let kinds = Set(pools.map(\.isCNAMEPool))
                if s.policy != .failover && kinds.contains(true) {
                    r.problem(node, "\(p).pools", "CNAME pools can only be used with policy failover")
                }
                if config.services.contains(where: { $0.name == dn }) { r.problem(node, p, "service \(dn) is defined twice") }
                config.services.append(s)
            }
        }
    }

    /// Mapping keys in the order they appear in the file.
    static func orderedKeys(_ node: Node?) -> [String] {
        guard case .mapping(let m)? = node else { return [] }
        return m.compactMap { $0.key.string }
    }
}
