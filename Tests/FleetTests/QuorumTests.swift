import Config
import Fleet
import Testing

/// The fleet decision as a table: vantages × verdicts × quorum → fleet verdict.
struct QuorumTests {
    struct Row: Sendable, CustomStringConvertible {
        /// One letter per vantage: U (sees it up) or D (sees it down).
        var vantages: String
        var quorum: FleetQuorum
        /// Expected fleet verdict: true = up.
        var up: Bool
        var description: String { "\(vantages) \(quorum) -> \(up ? "up" : "down")" }
    }

    static let rows: [Row] = [
        // majority: more than half
        .init(vantages: "U", quorum: .majority, up: true),
        .init(vantages: "D", quorum: .majority, up: false),
        .init(vantages: "UD", quorum: .majority, up: true),  // 1 of 2 is not more than half
        .init(vantages: "DD", quorum: .majority, up: false),
        .init(vantages: "UUD", quorum: .majority, up: true),  // one isolated site cannot fail over the fleet
        .init(vantages: "UDD", quorum: .majority, up: false),
        .init(vantages: "DDD", quorum: .majority, up: false),
        .init(vantages: "UUDD", quorum: .majority, up: true),
        .init(vantages: "UDDD", quorum: .majority, up: false),
        .init(vantages: "UUUDD", quorum: .majority, up: true),
        .init(vantages: "UUDDD", quorum: .majority, up: false),
        // any: one vantage is enough
        .init(vantages: "U", quorum: .any, up: true),
        .init(vantages: "UUD", quorum: .any, up: false),
        .init(vantages: "UUU", quorum: .any, up: true),
        // all: every live vantage
        .init(vantages: "UDD", quorum: .all, up: true),
        .init(vantages: "DDD", quorum: .all, up: false),
        .init(vantages: "D", quorum: .all, up: false),
        // N: at least N, or every live one when fewer than N are live
        .init(vantages: "UUD", quorum: .count(2), up: true),
        .init(vantages: "UDD", quorum: .count(2), up: false),
        .init(vantages: "D", quorum: .count(2), up: false),  // only one vantage left: it decides
        .init(vantages: "UD", quorum: .count(3), up: true),
        .init(vantages: "DD", quorum: .count(3), up: false),
        .init(vantages: "UUUUD", quorum: .count(1), up: false),
    ]

    @Test(arguments: rows)
    func fleetVerdict(_ row: Row) {
        var obs: [String: Bool] = [:]
        var vantageOf: [String: String] = [:]
        for (i, c) in row.vantages.enumerated() {
            obs["node\(i)"] = c == "U"
            vantageOf["node\(i)"] = "site\(i)"
        }
        #expect(FleetDecision.verdict(observations: obs, vantageOf: vantageOf, quorum: row.quorum) == row.up)
    }

    @Test func noObservationsIsNoVerdict() {
        for q in [FleetQuorum.majority, .any, .all, .count(2)] {
            #expect(FleetDecision.verdict(observations: [:], vantageOf: [:], quorum: q) == nil)
        }
    }

    /// Several nodes at one vantage count once: the vantage is down when more than half of its nodes see it down.
    @Test(arguments: [
        ([true, false], true), ([false, false], false), ([true, false, false], false), ([true, true, false], true),
        ([false], false),
    ])
    func vantageFromItsNodes(_ verdicts: [Bool], _ up: Bool) {
        #expect(FleetDecision.vantageUp(verdicts) == up)
    }

    @Test func nodesOfOneVantageCountOnce() {
        // Two nodes in site a see it down, the one node in site b and the one in site c see it up: 1 of 3 vantages.
        let obs = ["a1": false, "a2": false, "b1": true, "c1": true]
        let vantageOf = ["a1": "a", "a2": "a", "b1": "b", "c1": "c"]
        #expect(FleetDecision.verdict(observations: obs, vantageOf: vantageOf, quorum: .majority) == true)
        #expect(
            FleetDecision.vantageVerdicts(observations: obs, vantageOf: vantageOf) == [
                "a": false, "b": true, "c": true,
            ]
        )
    }

    @Test(arguments: [
        ("majority", FleetQuorum.majority), ("any", .any), ("all", .all), ("2", .count(2)), ("ALL", .all),
    ])
    func parse(_ text: String, _ q: FleetQuorum) {
        #expect(FleetQuorum.parse(text) == q)
    }

    @Test(arguments: ["0", "-1", "most", ""])
    func parseRejects(_ text: String) {
        #expect(FleetQuorum.parse(text) == nil)
    }
}
