import Config
import DNSWire
import FoundationEssentials
import HealthModel
import Policy

/// A validated `/explain` question.
public struct ExplainQuery: Sendable {
    public var name: DNSName
    public var type: UInt16
    public var client: IPAddress?
    /// EDNS Client Subnet: address and source prefix length.
    public var ecs: (address: IPAddress, prefix: Int)?
}

/// Why a client gets the answer it gets now: the location step (policy nearest: rule, client region, pool order),
/// the service's ordered pools with the health of each member, the overrides in force, the answer and
/// the TTL with its reason. Built by a pure function; the control API renders it as JSON.
public struct Explanation: Codable, Sendable {
    public struct Query: Codable, Sendable {
        public var name: String
        public var type: String
        public var client: String?
        public var ecs: String?
    }
    /// Where the client is and which pool order that gives (policy nearest; else "not used").
    public struct Location: Codable, Sendable {
        public var rule: String
        public var client: String?
        public var ecs: String?
        public var clientRegion: String?
        public var poolOrder: [String]?
        public var detail: String
    }
    public struct Member: Codable, Sendable {
        public var id: String
        public var address: String
        public var up: Bool
        public var reason: String
        public var health: String
        public var failing: [String]
    }
    public struct Pool: Codable, Sendable {
        public var order: Int
        public var name: String
        public var available: Bool
        public var reason: String
        public var chosen: Bool
        public var members: [Member]
    }
    public var query: Query
    /// `service`, `zone data` or `not ours`.
    public var kind: String
    public var zone: String?
    public var service: String?
    public var policy: String?
    public var location: Location?
    public var pools: [Pool]
    public var overrides: [String]
    public var answer: [String]
    public var rcode: String
    public var ttl: UInt32?
    public var ttlReason: String?
    public var reason: String
    public var degraded: Bool?
    /// The fleet view, when gtmd runs in a fleet: the member verdicts above are the fleet's.
    public var fleet: FleetReport? = nil
}

public struct ExplainError: Error, CustomStringConvertible, Sendable {
    public var description: String
}

public enum Explain {
    /// The parameters of `/explain`.
    public static let parameterNames = ["name", "type", "client", "ecs"]

    /// Validates the query parameters; the error text is for a 400 response.
    public static func parse(_ params: [String: String]) throws(ExplainError) -> ExplainQuery {
        if let unknown = params.keys.filter({ !parameterNames.contains($0) }).sorted().first {
            throw ExplainError(
                description: "unknown parameter '\(unknown)' (known: \(parameterNames.joined(separator: ", ")))"
            )
        }
        guard let nameText = params["name"], !nameText.isEmpty else {
            throw ExplainError(
                description: "missing parameter 'name' (e.g. /explain?name=www.lab.example&type=A&client=192.0.2.1)"
            )
        }
        let name: DNSName
        do { name = try DNSName(absolute: nameText) } catch {
            throw ExplainError(description: "name '\(nameText)': \(error)")
        }
        var type = RRType.A
        if let t = params["type"] {
            if let v = LdnsRR.typeValue(t.uppercased()), v != 0 {
                type = v
            } else if t.uppercased().hasPrefix("TYPE"), let v = UInt16(t.dropFirst(4)) {
                type = v
            } else {
                throw ExplainError(description: "type '\(t)' is not a DNS type (e.g. A, AAAA, TXT, TYPE65)")
            }
        }
        var client: IPAddress? = nil
        if let c = params["client"] {
            guard let a = IPAddress.parse(c) else {
                throw ExplainError(description: "client '\(c)' is not an IPv4 or IPv6 address")
            }
            client = a
        }
        var ecs: (IPAddress, Int)? = nil
        if let e = params["ecs"] {
            let parts = e.split(separator: "/", maxSplits: 1).map(String.init)
            // `ecs=` (empty) splits into no parts at all: refused here, never indexed.
            guard let first = parts.first, let a = IPAddress.parse(first) else {
                throw ExplainError(description: "ecs '\(e)' is not ADDRESS/PREFIX (e.g. 198.51.100.0/24)")
            }
            let width = a.bytes.count * 8
            let prefix = parts.count == 2 ? Int(parts[1]) : width
            guard let p = prefix, (0...width).contains(p) else {
                throw ExplainError(description: "ecs '\(e)': prefix must be 0...\(width)")
            }
            ecs = (a, p)
        }
        return ExplainQuery(name: name, type: type, client: client, ecs: ecs)
    }

    /// The explanation for `q` given what the runtime holds now. Pure: no clock, no I/O.
    public static func explain(
        _ q: ExplainQuery,
        config: GtmdConfig,
        zones: [DNSName],
        health: HealthSnapshot,
        overrides all: OverrideSet,
        decisions: [String: Decision],
        now: Date
    ) -> Explanation {
        let query = Explanation.Query(
            name: q.name.description,
            type: LdnsRR.typeName(q.type),
            client: q.client?.description,
            ecs: q.ecs.map { "\($0.address)/\($0.prefix)" }
        )
        let zone = zones.filter { q.name.isSubdomain(of: $0) }.max { $0.labelCount < $1.labelCount }
        guard let zone else {
            return Explanation(
                query: query,
                kind: "not ours",
                zone: nil,
                service: nil,
                policy: nil,
                location: nil,
                pools: [],
                overrides: [],
                answer: [],
                rcode: "REFUSED",
                ttl: nil,
                ttlReason: nil,
                reason:
                    "\(q.name) is in none of the served zones (\(zones.map(\.description).joined(separator: ", ")))",
                degraded: nil
            )
        }
        guard let service = config.services.first(where: { $0.name == q.name }) else {
            return Explanation(
                query: query,
                kind: "zone data",
                zone: zone.description,
                service: nil,
                policy: nil,
                location: nil,
                pools: [],
                overrides: [],
                answer: [],
                rcode: "see zone",
                reason:
                    "\(q.name) is not a service: answered from the zone file of \(zone) as written (no health or policy)",
                degraded: nil
            )
        }
        let key = service.name.description
        let active = all.active(at: now)
        let views = Policy.views(pools: config.pools, health: health.targets.mapValues(\.isUp), overrides: active)
        var decision = decisions[key]
        var location = Explanation.Location(
            rule: "none",
            client: query.client,
            ecs: query.ecs,
            clientRegion: nil,
            poolOrder: nil,
            detail: "location is not used by this service (policy \(service.policy))"
        )
        var order = service.pools
        if service.policy == .nearest, let locator = config.locator {
            // Located exactly as the responder does: ECS (capped) when the service uses it, else the source.
            let ecs = q.ecs.map { IPNetwork(base: AddressBits($0.address), length: $0.prefix) }
            let region: Int
            let detail: String
            if let client = q.client ?? (ecs != nil && service.useECS ? IPAddress.parse("0.0.0.0") : nil) {
                let (loc, by) = Locate.location(locator, source: client, ecs: ecs, useECS: service.useECS)
                region = loc.region
                let usedECS = by.hasPrefix("ECS")
                location.rule = loc.source
                detail = "by \(by)" + (usedECS ? "; ECS scope /\(loc.scope)" : "")
            } else {
                region = locator.defaultRegion
                location.rule = "default region"
                detail = "no client given: the default region's answer"
            }
            let ro = service.regionOrder[region]
            order = ro.pools
            location.clientRegion = ro.region
            location.poolOrder = ro.pools
            location.detail = detail + "; pool order by \(ro.basis)"
            if let per = decision?.perRegion, region < per.count { decision = per[region] }
        }
        let pools = order.enumerated().compactMap { i, name -> Explanation.Pool? in
            guard let v = views[name] else { return nil }
            let members = v.members.map { mv -> Explanation.Member in
                let t = health.targets[mv.member.targetID]
                return Explanation.Member(
                    id: mv.member.targetID,
                    address: mv.member.label,
                    up: mv.up,
                    reason: mv.reason,
                    health: t.map { $0.state.rawValue } ?? "not checked",
                    failing: t?.downReasons ?? []
                )
            }
            return Explanation.Pool(
                order: i + 1,
                name: name,
                available: v.available,
                reason: v.reason,
                chosen: decision?.pool == name,
                members: members
            )
        }
        let relevant = active.all.filter { o in
            (o.scope == .service && o.target == key) || (o.scope == .pool && service.pools.contains(o.target))
                || (o.scope == .member && service.pools.contains { o.target.hasPrefix($0 + "/") })
        }
        guard let d = decision else {
            return Explanation(
                query: query,
                kind: "service",
                zone: zone.description,
                service: key,
                policy: "\(service.policy)",
                location: location,
                pools: pools,
                overrides: relevant.map(\.summary),
                answer: [],
                rcode: "-",
                ttl: nil,
                ttlReason: nil,
                reason: "no decision yet (waiting for the first probe round)",
                degraded: nil
            )
        }
        var (answer, rcode) = answerText(d)
        // The service's answer only holds for the types its members give; other types get NODATA.
        if rcode == "NOERROR" {
            let cnames = answer.filter { $0.hasPrefix("CNAME ") }
            if !cnames.isEmpty {
                answer = cnames
            } else {
                answer = answer.compactMap { a in
                    let t = a.contains(":") ? RRType.AAAA : RRType.A
                    return q.type == t || q.type == RRType.ANY ? "\(LdnsRR.typeName(t)) \(a)" : nil
                }
            }
            if answer.isEmpty { rcode = "NOERROR (no \(LdnsRR.typeName(q.type)) data)" }
        }
        return Explanation(
            query: query,
            kind: "service",
            zone: zone.description,
            service: key,
            policy: "\(service.policy)",
            location: location,
            pools: pools,
            overrides: relevant.map(\.summary),
            answer: answer,
            rcode: rcode,
            ttl: d.ttl,
            ttlReason: d.ttlReason,
            reason: d.reason,
            degraded: d.degraded
        )
    }

    /// The decision's answer as text (addresses, or `CNAME target`), and its rcode.
    public static func answerText(_ d: Decision) -> ([String], String) {
        func text(_ m: PoolMember) -> String { m.cname.map { "CNAME \($0)" } ?? m.address?.description ?? "?" }
        switch d.outcome {
        case .members(let ms): return (ms.map(text), "NOERROR")
        case .variants(let vs): return (Array(Set(vs.flatMap { $0.map(text) })).sorted(), "NOERROR")
        case .empty: return ([], "NOERROR (empty: when_all_down)")
        case .servfail: return ([], "SERVFAIL")
        }
    }
}
