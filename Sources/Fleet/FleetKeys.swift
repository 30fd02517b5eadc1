import Config
import FoundationEssentials

/// The key layout under `/gtmd/<name>/`. Every key a node reads or writes is built or checked here; a
/// key outside the prefix, or one that does not parse, is ignored.
///
///     /gtmd/<name>/members/<node>                    {"vantage", "started", "version"}      under the node's lease
///     /gtmd/<name>/observations/<node>/<target>      {"up", "reason", "at", "vantage"}      under the node's lease
///     /gtmd/<name>/overrides/<scope>/<target>        the override (JSON), no lease (expiry is in the value)
public struct FleetKeys: Sendable, Hashable {
    public let prefix: String
    public init(name: String) { prefix = "/gtmd/\(name)/" }

    public func member(_ node: String) -> String { prefix + "members/" + node }
    public func observation(node: String, target: String) -> String { prefix + "observations/\(node)/\(target)" }
    public func observations(node: String) -> String { prefix + "observations/\(node)/" }
    public func override(scope: String, target: String) -> String { prefix + "overrides/\(scope)/\(target)" }
    public var overrides: String { prefix + "overrides/" }

    public enum Parsed: Sendable, Hashable {
        case member(node: String)
        case observation(node: String, target: String)
        case override(id: String)
    }

    /// What a key is, or nil when it is outside the prefix or not of this layout.
    public func parse(_ key: String) -> Parsed? {
        guard key.hasPrefix(prefix) else { return nil }
        let rest = key.dropFirst(prefix.count)
        let parts = rest.split(separator: "/", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
        switch parts.first {
        case "members" where parts.count == 2 && !parts[1].isEmpty:
            return .member(node: parts[1])
        case "observations" where parts.count == 3 && !parts[1].isEmpty && !parts[2].isEmpty:
            return .observation(node: parts[1], target: parts[2])
        case "overrides" where parts.count == 3 && !parts[1].isEmpty && !parts[2].isEmpty:
            return .override(id: parts[1] + "/" + parts[2])
        default:
            return nil
        }
    }
}

/// A node's verdict on one target, as stored.
public struct Observation: Codable, Sendable, Hashable {
    public var up: Bool
    public var reason: String
    public var at: Date
    public var vantage: String
    public init(up: Bool, reason: String, at: Date, vantage: String) {
        self.up = up
        self.reason = reason
        self.at = at
        self.vantage = vantage
    }
}

/// A live node, as stored under its lease.
public struct MemberRecord: Codable, Sendable, Hashable {
    public var vantage: String
    public var started: Date
    public var version: String
    public init(vantage: String, started: Date, version: String) {
        self.vantage = vantage
        self.started = started
        self.version = version
    }
}

enum FleetJSON {
    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        e.dateEncodingStrategy = .iso8601
        return e
    }()
    static let decoder: JSONDecoder = {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .iso8601
        return d
    }()

    /// A decoding error as "where: what" (the shared wording).
    static func describe(_ error: any Error) -> String { DecodingProblem.describe(error) }
}
