import Config
import DNSWire
import Foundation
import Policy
import TestSupport
import Testing

/// The units as a set: every policy name has one, and Config hands each service's keys to its own.
@Suite struct PolicyUnitsTests {
    @Test(arguments: PolicyKind.allCases)
    func everyPolicyHasItsUnit(_ kind: PolicyKind) {
        #expect(PolicyUnits.unit(for: kind).kind == kind)
    }

    @Test func onlyFailoverAnswersFromCNAMEPools() {
        #expect(PolicyUnits.all.filter { $0.answersCNAMEPools }.map { $0.kind } == [.failover])
    }

    static let base = """
        zones:
          - origin: lab.example
            file: ../zones/lab.example.zone
        regions:
          east: { latitude: 40, longitude: -74 }
        pools:
          p: { region: east, members: [ { address: 192.0.2.1 } ] }
        services:
          www.lab.example:
            pools: [p]

        """

    func problems(_ extra: String) -> [String] {
        let yaml = Self.base + extra.split(separator: "\n").map { "    \($0)\n" }.joined()
        switch ConfigLoader.parse(yaml, file: "t.yaml", baseDirectory: Repo.root.appendingPathComponent("config").path)
        {
        case .success: return []
        case .failure(let p): return p.problems.map(\.description)
        }
    }

    @Test(arguments: [
        (
            "policy: all\nhold_down: 1m",
            "services.www.lab.example.hold_down: only used with policy failover or nearest (this service's policy is all)"
        ),
        (
            "policy: failover\nanswers: 2",
            "services.www.lab.example.answers: only used with policy weighted (this service's policy is failover)"
        ),
        (
            "policy: weighted\norder: { east: [p] }",
            "services.www.lab.example.order: only used with policy nearest (this service's policy is weighted)"
        ),
        ("policy: nearest\nmax_pools: 99", "services.www.lab.example.max_pools: 99 is out of range 1...64"),
        ("policy: failover\ncolour: red", "services.www.lab.example.colour: unknown key"),
    ])
    func aKeyGoesToItsPolicysUnit(_ extra: String, _ expected: String) {
        let p = problems(extra)
        #expect(p.contains { $0.contains(expected) }, "\(p)")
    }

    @Test(arguments: [
        "policy: failover\nhold_down: 1m", "policy: weighted\nanswers: 2", "policy: nearest\necs: ignore",
        "policy: all",
    ])
    func aKeyOfTheServicesOwnPolicyLoads(_ extra: String) {
        #expect(problems(extra).isEmpty, "\(problems(extra))")
    }
}
