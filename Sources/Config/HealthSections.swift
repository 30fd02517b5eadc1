import ConfigText
import DNSWire
import FoundationEssentials
import HealthModel
import Policy

/// One parser per section (`checks`, `health`, `pools`, `services`), each reading only its own section, then
/// `checkReferences` with every check that spans sections (check names, pool names, zones, regions).
/// Every problem is collected with its line and key path.
extension ConfigLoader {
    /// A list of check names as written, resolved against `checks:` at the end.
    struct CheckReference {
        var node: Node?
        var path: String
        var names: [String]
    }

    /// A pool as read from its section, with what refers to other sections.
    struct PoolSource {
        var pool: PoolConfig
        var node: Node
        var regionNode: Node?
        var checks: CheckReference?
        /// Per member index: its own `checks:` (else the pool's).
        var memberChecks: [Int: CheckReference] = [:]
    }

    /// A service as read from its section, with the nodes its cross-section problems point at.
    struct ServiceSource {
        /// The key as written in the file (problems name it so).
        var key: String
        var service: ServiceConfig
        var node: Node
        var keys: [String: Node]
    }

    static let checkKeys: Set<String> = [
        "type", "port", "path", "method", "host", "headers", "expect_status", "expect_body", "body_limit", "timeout",
        "interval", "fast_interval", "rise", "fall", "tls_verify", "ca_file", "sni", "cert_expiry_warning", "endpoint",
    ]
    static let poolKeys: Set<String> = ["region", "rule", "checks", "members"]
    /// The keys every service has; the rest belong to policy units (`PolicyUnits.keyOwners`).
    static let commonServiceKeys: Set<String> = [
        "policy", "pools", "ttl", "degraded_ttl", "min_ttl", "max_ttl", "when_all_down",
    ]
    static var serviceKeys: Set<String> { commonServiceKeys.union(PolicyUnits.keyOwners.keys) }

    /// `checks:`: name → check.
    static func parseChecks(_ section: Node?, _ r: YAMLReader, baseDirectory: String) -> [String: CheckSpec] {
        var checks: [String: CheckSpec] = [:]
        guard let cm = r.mapping(section, "checks", allowed: nil) else { return checks }
        for (name, node) in cm.sorted(by: { $0.key < $1.key }) {
            guard let m = r.mapping(node, "checks.\(name)", allowed: checkKeys) else { continue }
            if let c = parseCheck(name, m, r, "checks.\(name)", baseDirectory: baseDirectory) { checks[name] = c }
        }
        return checks
    }

    static func parseCheck(
        _ name: String,
        _ m: [String: Node],
        _ r: YAMLReader,
        _ p: String,
        baseDirectory: String
    ) -> CheckSpec? {
        guard let typeText = r.string(m["type"], "\(p).type") else {
            r.problem(nil, "\(p).type", "missing (tcp, http or https)")
            return nil
        }
        guard let kind = CheckKind(rawValue: typeText.lowercased()) else {
            r.problem(m["type"], "\(p).type", "'\(typeText)' is not tcp, http or https")
            return nil
        }
        var c = CheckSpec(name: name, kind: kind)
        c.port = r.int(m["port"], "\(p).port", range: 1...65535)
        if let v = r.string(m["path"], "\(p).path") { c.path = v }
        if let v = r.string(m["method"], "\(p).method") {
            if let mth = HTTPCheckMethod(rawValue: v.uppercased()) {
                c.method = mth
            } else {
                r.problem(m["method"], "\(p).method", "'\(v)' is not GET or HEAD")
            }
        }
        c.host = r.string(m["host"], "\(p).host")
        if let h = r.mapping(m["headers"], "\(p).headers", allowed: nil) {
            for (k, v) in h { if let s = r.string(v, "\(p).headers.\(k)") { c.headers[k] = s } }
        }
        if let v = m["expect_status"] {
            let text: String?
            if case .sequence = v {
                text = r.stringList(v, "\(p).expect_status")?.joined(separator: ",")
            } else {
                text = r.string(v, "\(p).expect_status")
            }
            if let text {
                do { c.expectStatus = try StatusRanges(parsing: text) } catch {
                    r.problem(v, "\(p).expect_status", "'\(text)': \(error)")
                }
            }
        }
        c.expectBody = r.string(m["expect_body"], "\(p).expect_body")
        if let v = r.int(m["body_limit"], "\(p).body_limit", range: 1...(16 << 20)) { c.bodyLimit = v }
        if let v = r.duration(m["timeout"], "\(p).timeout", range: .milliseconds(10)...(.seconds(120))) {
            c.timeout = v
        }
        if let v = r.duration(m["interval"], "\(p).interval", range: .milliseconds(50)...(.seconds(86400))) {
            c.interval = v
        }
        c.fastInterval = r.duration(
            m["fast_interval"],
            "\(p).fast_interval",
            range: .milliseconds(10)...(.seconds(86400))
        )
        if let v = r.int(m["rise"], "\(p).rise", range: 1...100) { c.rise = v }
        if let v = r.int(m["fall"], "\(p).fall", range: 1...100) { c.fall = v }
        if let v = r.bool(m["tls_verify"], "\(p).tls_verify") { c.tlsVerify = v }
        if let v = r.string(m["ca_file"], "\(p).ca_file") {
            c.caFile = FilePaths.resolve(v, in: baseDirectory)
        }
        c.sni = r.string(m["sni"], "\(p).sni")
        if let v = r.duration(
            m["cert_expiry_warning"],
            "\(p).cert_expiry_warning",
            range: .zero...(.seconds(365 * 86400))
        ) {
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

    /// `health:`: options for every target.
    static func parseHealth(_ section: Node?, _ r: YAMLReader) -> HealthSettings {
        var out = HealthSettings()
        guard let h = r.mapping(section, "health", allowed: ["initial_state", "max_in_flight", "coalesce_window"])
        else { return out }
        if let v = r.string(h["initial_state"], "health.initial_state") {
            switch v.lowercased() {
            case "up": out.initialStateUp = true
            case "down": out.initialStateUp = false
            default: r.problem(h["initial_state"], "health.initial_state", "'\(v)' is not up or down")
            }
        }
        if let v = r.int(h["max_in_flight"], "health.max_in_flight", range: 1...10_000) { out.maxInFlight = v }
        if let v = r.duration(h["coalesce_window"], "health.coalesce_window", range: .zero...(.seconds(60))) {
            out.coalesceWindow = v
        }
        return out
    }

    /// `pools:`, in file order. Check names are resolved later (`checkReferences`).
    static func parsePools(_ section: Node?, _ r: YAMLReader) -> [PoolSource] {
        var out: [PoolSource] = []
        guard let pm = r.mapping(section, "pools", allowed: nil) else { return out }
        for name in orderedKeys(section) {
            guard let node = pm[name] else { continue }
            let p = "pools.\(name)"
            guard let m = r.mapping(node, p, allowed: poolKeys) else { continue }
            var src = PoolSource(
                pool: PoolConfig(name: name, region: r.string(m["region"], "\(p).region"), members: []),
                node: node,
                regionNode: m["region"]
            )
            if let v = m["rule"], let s = r.string(v, "\(p).rule") {
                if let rule = AvailabilityRule.parse(s) {
                    src.pool.rule = rule
                } else {
                    r.problem(v, "\(p).rule", "'\(s)' is not any, all, a count (2) or a percentage (50%)")
                }
            }
            if let names = r.stringList(m["checks"], "\(p).checks") {
                src.checks = CheckReference(node: m["checks"], path: "\(p).checks", names: names)
            }
            guard let members = r.sequence(m["members"], "\(p).members"), !members.isEmpty else {
                r.problem(node, "\(p).members", "a pool needs at least one member")
                continue
            }
            for (i, mnode) in members.enumerated() {
                let mp = "\(p).members[\(i)]"
                // A bare scalar is an address.
                if case .scalar = mnode, let s = r.string(mnode, mp) {
                    guard let a = IPAddress.parse(s) else {
                        r.problem(mnode, mp, "'\(s)' is not an IPv4 or IPv6 address")
                        continue
                    }
                    src.pool.members.append(
                        PoolMember(address: a, cname: nil, weight: 1, checks: [], targetID: "\(name)/\(s)")
                    )
                    continue
                }
                guard let mm = r.mapping(mnode, mp, allowed: ["address", "cname", "weight", "checks"]) else { continue }
                let weight = r.int(mm["weight"], "\(mp).weight", range: 0...1000) ?? 1
                let own = r.stringList(mm["checks"], "\(mp).checks").map {
                    CheckReference(node: mm["checks"], path: "\(mp).checks", names: $0)
                }
                let member: PoolMember
                if let s = r.string(mm["address"], "\(mp).address") {
                    if mm["cname"] != nil { r.problem(mnode, mp, "give address or cname, not both") }
                    guard let a = IPAddress.parse(s) else {
                        r.problem(mm["address"], "\(mp).address", "'\(s)' is not an IPv4 or IPv6 address")
                        continue
                    }
                    member = PoolMember(address: a, cname: nil, weight: weight, checks: [], targetID: "\(name)/\(a)")
                } else if let s = r.string(mm["cname"], "\(mp).cname") {
                    guard let n = try? DNSName(absolute: s) else {
                        r.problem(mm["cname"], "\(mp).cname", "'\(s)' is not a domain name")
                        continue
                    }
                    member = PoolMember(address: nil, cname: n, weight: weight, checks: [], targetID: "\(name)/\(n)")
                } else {
                    r.problem(mnode, mp, "needs address or cname")
                    continue
                }
                if let own { src.memberChecks[src.pool.members.count] = own }
                src.pool.members.append(member)
            }
            if src.pool.members.contains(where: { $0.cname != nil }) && src.pool.members.count > 1 {
                r.problem(node, "\(p).members", "a CNAME pool has exactly one member")
            }
            let ids = src.pool.members.map(\.targetID)
            if Set(ids).count != ids.count { r.problem(node, "\(p).members", "a member is listed twice") }
            out.append(src)
        }
        return out
    }

    /// `services:`, in file order: each service's own keys. Pools, zones and regions are checked later.
    static func parseServices(_ section: Node?, _ r: YAMLReader) -> [ServiceSource] {
        var out: [ServiceSource] = []
        guard let sm = r.mapping(section, "services", allowed: nil) else { return out }
        for name in orderedKeys(section) {
            guard let node = sm[name] else { continue }
            let p = "services.\(name)"
            guard let m = r.mapping(node, p, allowed: serviceKeys) else { continue }
            guard let dn = try? DNSName(absolute: name) else {
                r.problem(node, p, "'\(name)' is not a domain name")
                continue
            }
            var s = ServiceConfig(name: dn, pools: [])
            if let v = r.string(m["policy"], "\(p).policy") {
                if let k = PolicyKind(rawValue: v) {
                    s.policy = k
                } else {
                    r.problem(
                        m["policy"],
                        "\(p).policy",
                        "'\(v)' is not one of \(PolicyKind.allCases.map(\.rawValue).joined(separator: ", "))"
                    )
                }
            }
            s.pools = r.stringList(m["pools"], "\(p).pools") ?? []
            if s.pools.isEmpty { r.problem(node, "\(p).pools", "a service needs at least one pool") }
            if Set(s.pools).count != s.pools.count { r.problem(m["pools"], "\(p).pools", "a pool is listed twice") }
            let ttlRange = 0...2_147_483_647
            if let v = r.ttl(m["ttl"], "\(p).ttl", range: ttlRange) { s.ttl = UInt32(v) }
            if let v = r.ttl(m["degraded_ttl"], "\(p).degraded_ttl", range: ttlRange) {
                s.degradedTTL = UInt32(v)
            } else {
                s.degradedTTL = min(s.degradedTTL, s.ttl)
            }
            if let v = r.ttl(m["min_ttl"], "\(p).min_ttl", range: ttlRange) {
                s.minTTL = UInt32(v)
            } else {
                s.minTTL = min(s.minTTL, s.degradedTTL)
            }
            if let v = r.ttl(m["max_ttl"], "\(p).max_ttl", range: ttlRange) { s.maxTTL = UInt32(v) }
            if s.minTTL > s.maxTTL { r.problem(node, p, "min_ttl \(s.minTTL) is above max_ttl \(s.maxTTL)") }
            if s.degradedTTL > s.ttl { r.problem(node, p, "degraded_ttl \(s.degradedTTL) is above ttl \(s.ttl)") }
            if let v = r.string(m["when_all_down"], "\(p).when_all_down") {
                if let b = AllDownBehaviour(rawValue: v) {
                    s.whenAllDown = b
                } else {
                    r.problem(
                        m["when_all_down"],
                        "\(p).when_all_down",
                        "'\(v)' is not one of \(AllDownBehaviour.allCases.map(\.rawValue).joined(separator: ", "))"
                    )
                }
            }
            // The policy's own keys: refused for other policies, read by its unit.
            let unit = PolicyUnits.unit(for: s.policy)
            for (k, owners) in PolicyUnits.keyOwners.sorted(by: { $0.key < $1.key })
            where m[k] != nil && !owners.contains(s.policy) {
                let names = owners.map(\.rawValue).joined(separator: " or ")
                r.problem(
                    m[k],
                    "\(p).\(k)",
                    "only used with policy \(names) (this service's policy is \(s.policy.rawValue))"
                )
            }
            unit.parse(m, p, r, into: &s)
            if out.contains(where: { $0.service.name == dn }) { r.problem(node, p, "service \(dn) is defined twice") }
            out.append(ServiceSource(key: name, service: s, node: node, keys: m))
        }
        return out
    }

    /// Everything that spans sections: check names (pools, members), pool regions, the services' zones, pools
    /// and regions. Fills `config.pools` and `config.services`.
    static func checkReferences(
        pools: [PoolSource],
        services: [ServiceSource],
        _ r: YAMLReader,
        _ config: inout GtmdConfig
    ) {
        let checks = config.checks
        let regions = config.regions.map(\.name)
        func resolve(_ ref: CheckReference) -> [CheckSpec] {
            ref.names.compactMap { n in
                if let c = checks[n] { return c }
                r.problem(
                    ref.node,
                    ref.path,
                    "no check named '\(n)' (defined: \(checks.keys.sorted().joined(separator: ", ")))"
                )
                return nil
            }
        }
        for src in pools {
            var pool = src.pool
            let p = "pools.\(pool.name)"
            if let rn = pool.region, !regions.isEmpty, !regions.contains(rn) {
                r.problem(
                    src.regionNode,
                    "\(p).region",
                    "no region named '\(rn)' under regions: (defined: \(regions.joined(separator: ", ")))"
                )
            }
            let poolChecks = src.checks.map(resolve) ?? []
            for i in pool.members.indices { pool.members[i].checks = src.memberChecks[i].map(resolve) ?? poolChecks }
            for mem in pool.members where mem.cname != nil && !mem.checks.isEmpty {
                if mem.checks.contains(where: { $0.endpoint == nil }) {
                    r.problem(src.node, p, "checks of a CNAME member need an endpoint (address:port or URL) to probe")
                }
            }
            config.pools.append(pool)
        }
        for src in services {
            let s = src.service
            let m = src.keys
            let node = src.node
            let p = "services.\(src.key)"
            if !config.zones.contains(where: { s.name.isSubdomain(of: $0.origin) }) {
                r.problem(node, p, "\(s.name) is not inside any configured zone")
            }
            for pn in s.pools where !config.pools.contains(where: { $0.name == pn }) {
                r.problem(m["pools"], "\(p).pools", "no pool named '\(pn)'")
            }
            let unit = PolicyUnits.unit(for: s.policy)
            for problem in unit.check(s, PolicyContext(pools: config.pools, regions: regions)) {
                r.problem(m[problem.key] ?? node, "\(p).\(problem.path)", problem.message)
            }
            let kinds = Set(s.pools.compactMap { pn in config.pools.first { $0.name == pn } }.map(\.isCNAMEPool))
            if !unit.answersCNAMEPools && kinds.contains(true) {
                let allowed = PolicyUnits.all.filter { $0.answersCNAMEPools }.map { $0.kind.rawValue }
                r.problem(
                    node,
                    "\(p).pools",
                    "CNAME pools can only be used with policy \(allowed.joined(separator: " or "))"
                )
            }
            config.services.append(s)
        }
    }

    /// Mapping keys in the order they appear in the file.
    static func orderedKeys(_ node: Node?) -> [String] {
        guard case .mapping(let m)? = node else { return [] }
        return m.compactMap { $0.key.string }
    }
}
