import DNSWire
import FoundationEssentials

/// TTL fields (`ttl`, `degraded_ttl`, `min_ttl`, `max_ttl`): whole seconds, written as a plain number (`30`)
/// or with a unit like every other time in the config (`30s`, `5m`, `1h`, `1d`), or units combined as in
/// zone files (`1h30m`). Never traps: a number too big to hold is out of range, not a crash.
public func parseTTL(_ text: String) -> Int? {
    // The zone files' reader (DNSWire's TTLText): saturates above UInt32.max, so too big is out of range.
    TTLText.parse(text.trimmedSpace()).map { Int($0) }
}

extension YAMLReader {
    /// A TTL field (see `parseTTL`), in seconds.
    public func ttl(_ node: Node?, _ path: String, range: ClosedRange<Int>) -> Int? {
        guard let s = string(node, path) else { return nil }
        guard let v = parseTTL(s) else {
            problem(
                node,
                path,
                "'\(s)' is not a TTL (seconds, or with a unit: 30s, 5m, 1h, 1d; "
                    + "allowed: \(range.lowerBound)...\(range.upperBound) seconds)"
            )
            return nil
        }
        guard range.contains(v) else {
            problem(node, path, "\(s) is out of range \(range.lowerBound)...\(range.upperBound) seconds")
            return nil
        }
        return v
    }
}
