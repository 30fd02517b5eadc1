import Config
import ConfigText
import DNSWire
import FoundationEssentials
import Policy

/// Where a client is and what each service answers it: `gtmd locate`, and the location part of explanations.
/// Pure: health, overrides and service state come in as values.
public enum Locate {
    /// How one service locates a client: the ECS address (source prefix capped) when the service uses ECS and
    /// the query carries one with a non-zero prefix, else the source address. Mirrors the responder.
    public static func location(
        _ locator: Locator,
        source: IPAddress,
        ecs: IPNetwork?,
        useECS: Bool
    )
        -> (location: Locator.Location, by: String)
    {
        let (address, bits, byECS) = locator.clientAddress(
            source: AddressBits(source),
            ecs: useECS ? ecs?.base : nil,
            ecsPrefix: ecs?.length ?? 0
        )
        let location = locator.explain(address, bits: bits)
        if byECS, let ecs {
            return (
                location, "ECS \(ecs)" + (bits < ecs.length ? " (source prefix /\(ecs.length) capped to /\(bits))" : "")
            )
        }
        let why =
            ecs == nil
            ? "source address \(source)"
            : (useECS ? "source address \(source) (ECS prefix 0)" : "source address \(source) (service ignores ECS)")
        return (location, why)
    }

    public struct Request: Sendable {
        public var source: IPAddress
        public var ecs: IPNetwork?
        public init(source: IPAddress, ecs: IPNetwork?) {
            self.source = source
            self.ecs = ecs
        }
    }

    /// The report `gtmd locate` prints. `health` nil = no probe round (every member counted up).
    public static func report(
        config: GtmdConfig,
        request: Request,
        health: [String: Bool]?,
        overrides: OverrideSet,
        states: [String: ServiceState],
        now: Date = Date()
    ) -> String {
        var out = "client \(request.source)" + (request.ecs.map { ", ECS \($0)" } ?? "") + "\n"
        let views = Policy.views(pools: config.pools, health: health ?? [:], overrides: overrides)
        if health == nil { out += "health: not probed (--no-probe): every member counted up\n" }
        if let locator = config.locator {
            for useECS in [true, false] where useECS || request.ecs != nil {
                let (loc, by) = location(locator, source: request.source, ecs: request.ecs, useECS: useECS)
                out += "location (\(useECS ? "services using ECS" : "services ignoring ECS")): by \(by): \(loc.source)"
                out +=
                    " -> region \(loc.regionName)" + (useECS && request.ecs != nil ? ", ECS scope /\(loc.scope)" : "")
                    + "\n"
            }
        } else {
            out += "location: no regions configured (every client gets the same answers)\n"
        }
        for s in config.services {
            var d = Policy.decide(
                service: s,
                views: views,
                overrides: overrides,
                state: states[s.name.description] ?? ServiceState(),
                now: now
            )
            out += "\nservice \(s.name) (policy \(s.policy.rawValue)"
            if s.policy == .nearest, let locator = config.locator {
                let (loc, by) = location(locator, source: request.source, ecs: request.ecs, useECS: s.useECS)
                let order = s.regionOrder[loc.region]
                out += ", ecs \(s.useECS ? "use" : "ignore"))\n"
                out += "  client region: \(loc.regionName) (by \(by): \(loc.source))\n"
                out += "  pools in order (\(order.basis)):\n"
                let client = locator.regions[loc.region]
                for pn in order.pools {
                    guard let v = views[pn] else { continue }
                    let km =
                        v.pool.region.flatMap { rn in locator.regions.first { $0.name == rn } }
                        .map {
                            let km = Distance.km(client.latitude, client.longitude, $0.latitude, $0.longitude)
                            return ", \(DurationText.fixed(km, places: 0)) km"
                        } ?? ""
                    out +=
                        "    \(pn) (region \(v.pool.region ?? "-")\(km)): \(v.available ? "available" : "unavailable") (\(v.reason))\n"
                    for m in v.members { out += "      \(m.member.label): \(m.up ? "up" : "down") (\(m.reason))\n" }
                }
                if let per = d.perRegion, loc.region < per.count { d = per[loc.region] }
            } else {
                out += ")\n  same answer for every client\n"
            }
            out += "  answer now: \(answerText(d)) ttl \(d.ttl) (\(d.ttlReason))\n  why: \(d.reason)\n"
        }
        return out
    }

    public static func answerText(_ d: Decision) -> String {
        switch d.outcome {
        case .members(let m): return m.map(\.label).joined(separator: " ")
        case .variants(let vs):
            return "weighted over \(vs.count) variants, e.g. " + (vs.first ?? []).map(\.label).joined(separator: " ")
        case .empty: return "NODATA (empty)"
        case .servfail: return "SERVFAIL"
        }
    }
}
