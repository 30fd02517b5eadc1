/// A `Decodable` failure as "where: what", short enough for a log line and `/status`: the one wording for
/// records that arrive as JSON from elsewhere (the fleet's records in etcd, shared overrides).
public enum DecodingProblem {
    public static func describe(_ error: any Error) -> String {
        func path(_ c: DecodingError.Context) -> String { c.codingPath.map(\.stringValue).joined(separator: ".") }
        switch error {
        case DecodingError.keyNotFound(let k, _): return "missing '\(k.stringValue)'"
        case DecodingError.typeMismatch(_, let c), DecodingError.valueNotFound(_, let c):
            return "'\(path(c))': \(c.debugDescription)"
        case DecodingError.dataCorrupted(let c):
            return c.codingPath.isEmpty ? "not JSON" : "'\(path(c))': \(c.debugDescription)"
        default: return "\(error)"
        }
    }
}
