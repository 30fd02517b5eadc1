import Config
import DNSWire
import Foundation
import Policy
import Testing

/// Pool availability rules (Policy.views applies them).
@Suite struct AvailabilityRules {
    @Test(arguments: [("any", AvailabilityRule.any), ("all", .all), ("2", .atLeast(2)), ("50%", .percent(50))])
    func ruleParsing(_ text: String, _ rule: AvailabilityRule) {
        #expect(AvailabilityRule.parse(text) == rule)
    }

    @Test(arguments: [
        (AvailabilityRule.any, 1, 3, true), (.any, 0, 3, false), (.all, 2, 3, false), (.atLeast(2), 2, 3, true),
        (.atLeast(5), 2, 2, true), (.percent(70), 2, 3, false), (.percent(50), 2, 4, true),
    ])
    func ruleEvaluation(_ rule: AvailabilityRule, _ up: Int, _ total: Int, _ available: Bool) {
        #expect(rule.isAvailable(up: up, total: total) == available)
    }
}
