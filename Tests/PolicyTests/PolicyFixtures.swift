import ConfigText
import DNSWire
import Foundation
import Geo
import Policy
import Testing

func member(_ pool: String, _ addr: String, weight: Int = 1) -> PoolMember {
    PoolMember(address: IPAddress.parse(addr), cname: nil, weight: weight, checks: [], targetID: "\(pool)/\(addr)")
}

let primary = PoolConfig(
    name: "primary",
    members: [
        member("primary", "192.0.2.1"), member("primary", "192.0.2.2"),
        member("primary", "192.0.2.3"),
    ]
)
let standby = PoolConfig(name: "standby", members: [member("standby", "198.51.100.1")])
let third = PoolConfig(name: "third", members: [member("third", "203.0.113.1")])
let www = try! DNSName("www.lab.example.")

func service(
    _ pools: [String] = ["primary", "standby"],
    _ change: (inout ServiceConfig) -> Void = { _ in }
) -> ServiceConfig {
    var s = ServiceConfig(name: www, pools: pools, ttl: 30, degradedTTL: 5, minTTL: 1, maxTTL: 3600)
    change(&s)
    return s
}

func addresses(_ d: Decision) -> [String] {
    guard case .members(let m) = d.outcome else { return [] }
    return m.map(\.label)
}

/// Health of every member: the listed target ids are down, everything else up.
func health(down: [String]) -> [String: Bool] {
    var h: [String: Bool] = [:]
    for p in [primary, standby, third] { for m in p.members { h[m.targetID] = !down.contains(m.targetID) } }
    return h
}

struct Row: Sendable, CustomTestStringConvertible {
    var label: String
    var rule: AvailabilityRule = .any
    var down: [String] = []
    var overrides: [Override] = []
    var whenAllDown: AllDownBehaviour = .failOpen
    var pool: String?
    var answer: [String]
    var ttl: UInt32
    var servfail = false
    var empty = false
    var testDescription: String { label }
}

let t0 = Date(timeIntervalSince1970: 1_800_000_000)

func step(
    _ s: ServiceConfig,
    _ state: ServiceState,
    down: [String],
    overrides: [Override] = [],
    at t: Double
) -> Decision {
    let o = OverrideSet(overrides)
    let views = Policy.views(pools: [primary, standby, third], health: health(down: down), overrides: o)
    return Policy.decide(service: s, views: views, overrides: o, state: state, now: t0.addingTimeInterval(t))
}

/// Sequences over time: failback modes, hold-down, minimum switch interval.
/// A unit's parse of one service's YAML mapping (the keys under `services.www.lab.example.`), with the
/// problems as printed.
func parse(
    _ unit: any PolicyUnit.Type,
    _ yaml: String,
    pools: [String] = ["primary", "standby"]
) -> (
    service: ServiceConfig, problems: [String]
) {
    let r = YAMLReader(file: "t.yaml")
    var s = ServiceConfig(name: www, pools: pools)
    s.policy = unit.kind
    guard let node = try? Node.compose(yaml), let m = r.mapping(node, "services.www", allowed: nil) else {
        return (s, ["not a mapping: \(yaml)"])
    }
    unit.parse(m, "services.www", r, into: &s)
    return (s, r.problems.map(\.description))
}
