import HealthModel
import Testing

@testable import Health

/// One row: rise, fall, the probe results as P/F, the state after each result, and the transitions.
struct TrackerCase: CustomTestStringConvertible, Sendable {
    var name: String
    var rise: Int
    var fall: Int
    var results: String
    /// One letter per result: u(nknown) U(p) D(own).
    var states: String
    /// Indexes (0-based) of the results that changed the state.
    var changesAt: [Int]
    var testDescription: String { name }
}

let trackerCases: [TrackerCase] = [
    .init(name: "first pass gives up", rise: 2, fall: 3, results: "P", states: "U", changesAt: [0]),
    .init(name: "first failure gives down", rise: 2, fall: 3, results: "F", states: "D", changesAt: [0]),
    .init(name: "fall 3 needs three failures", rise: 2, fall: 3, results: "PFFF", states: "UUUD", changesAt: [0, 3]),
    .init(name: "a pass resets the failure run", rise: 2, fall: 3, results: "PFFPFF", states: "UUUUUU", changesAt: [0]),
    .init(name: "rise 2 needs two passes", rise: 2, fall: 3, results: "FPP", states: "DDU", changesAt: [0, 2]),
    .init(name: "a failure resets the pass run", rise: 2, fall: 3, results: "FPFPFP", states: "DDDDDD", changesAt: [0]),
    .init(
        name: "fall 1 goes down at once",
        rise: 1,
        fall: 1,
        results: "PFPF",
        states: "UDUD",
        changesAt: [0, 1, 2, 3]
    ),
    .init(
        name: "flapping never settles",
        rise: 3,
        fall: 3,
        results: "PFPFPFFF",
        states: "UUUUUUUD",
        changesAt: [0, 7]
    ),
    .init(name: "full cycle", rise: 2, fall: 2, results: "PPFFFPPP", states: "UUUDDDUU", changesAt: [0, 3, 6]),
    .init(name: "rise 0 is treated as 1", rise: 0, fall: 0, results: "FP", states: "DU", changesAt: [0, 1]),
]

@Suite struct TrackerTests {
    @Test(arguments: trackerCases)
    func hysteresis(_ c: TrackerCase) {
        var t = HealthTracker(rise: c.rise, fall: c.fall)
        #expect(t.state == .unknown)
        var states = ""
        var changes: [Int] = []
        for (i, r) in c.results.enumerated() {
            let before = t.state
            if let tr = t.record(pass: r == "P") {
                changes.append(i)
                #expect(tr.from == before)
                #expect(tr.to == t.state)
                #expect(tr.from != tr.to)
            }
            states.append(t.state == .up ? "U" : t.state == .down ? "D" : "u")
        }
        #expect(states == c.states)
        #expect(changes == c.changesAt)
    }

    /// (rise, fall, results, in doubt after the last result, passes, failures)
    @Test(arguments: [
        (2, 3, "P", false, 1, 0),
        (2, 3, "PF", true, 0, 1),
        (2, 3, "PFF", true, 0, 2),
        (2, 3, "PFFF", false, 0, 3),  // down: settled
        (2, 3, "PFFFP", true, 1, 0),  // down with a pass: in doubt
        (2, 3, "PFFFPP", false, 2, 0),  // up again
        (2, 3, "PFP", false, 1, 0),
        (1, 1, "PF", false, 0, 1),  // fall 1: never in doubt
        (2, 3, "", false, 0, 0),
    ])
    func inDoubtAndCounts(rise: Int, fall: Int, results: String, doubt: Bool, passes: Int, failures: Int) {
        var t = HealthTracker(rise: rise, fall: fall)
        for r in results { _ = t.record(pass: r == "P") }
        #expect(t.inDoubt == doubt)
        #expect(t.consecutivePasses == passes)
        #expect(t.consecutiveFailures == failures)
    }

    @Test func transitionCarriesCounts() {
        var t = HealthTracker(rise: 2, fall: 3)
        _ = t.record(pass: true)
        _ = t.record(pass: false)
        _ = t.record(pass: false)
        #expect(t.record(pass: false) == Transition(from: .up, to: .down, passes: 0, failures: 3))
        _ = t.record(pass: true)
        #expect(t.record(pass: true) == Transition(from: .down, to: .up, passes: 2, failures: 0))
    }

    @Test(arguments: [
        ([HealthState.up, .up], HealthState.up),
        ([.up, .down], .down),
        ([.up, .unknown], .unknown),
        ([.unknown, .down], .down),
        ([.unknown], .unknown),
        ([], .unknown),
    ])
    func allChecksMustBeUp(checks: [HealthState], target: HealthState) {
        #expect(combinedState(checks) == target)
    }
}
