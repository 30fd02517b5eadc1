import Foundation
import Yams

/// TTL fields (`ttl`, `degraded_ttl`, `min_ttl`, `max_ttl`): whole seconds, written as a plain number (`30`)
/// or with a unit like every other time in the config (`30s`, `5m`, `1h`, `1d`), or units combined as in
/// zone files (`1h30m`). Never traps: a number too big to hold is out of range, not a crash.
public func parseTTL(_ text: String) -> Int? {
    let bytes = Array(text.trimmingCharacters(in: .whitespaces).utf8)
    guard let first = bytes.first, first >= 0x30 && first <= 0x39 else { return nil }
    let cap = Int(Int32.max) + 1   // above every TTL range; saturates instead of overflowing
    var total = 0, number = 0, digits = false, units = false
    for c in bytes {
        if c >= 0x30 && c <= 0x39 {
            number = Swift.min(number * 10 + Int(c - 0x30), cap)
            digits = true
            continue
        }
        guard digits else { return nil }
        let mult: Int
        switch c | 0x20 {
        case UInt8(ascii: "s"): mult = 1
        case UInt8(ascii: "m"): mult = 60
        case UInt8(ascii: "h"): mult = 3600
        case UInt8(ascii: "d"): mult = 86400
        case UInt8(ascii: "w"): mult = 604800
        default: return nil
        }
        total = Swift.min(total + number * mult, cap)
        number = 0; digits = false; units = true
    }
    if digits { total = Swift.min(total + number, cap) } else if !units { return nil }
    return total
}

extension YAMLReader {
    /// A TTL field (see `parseTTL`), in seconds.
    public func ttl(_ node: Node?, _ path: String, range: ClosedRange<Int>) -> Int? {
        guard let s = string(node, path) else { return nil }
        guard let v = parseTTL(s) else {
            problem(node, path, "'\(s)' is not a TTL (seconds, or with a unit: 30s, 5m, 1h, 1d; "
                    + "allowed: \(range.lowerBound)...\(range.upperBound) seconds)"); return nil
        }
        guard range.contains(v) else {
            problem(node, path, "\(s) is out of range \(range.lowerBound)...\(range.upperBound) seconds"); return nil
        }
        return v
    }
}
