import FoundationEssentials

/// One problem in a config file: where (file, line, key path) and what.
/// Printed as `config/lab.yaml:12: zones[0].file: 'x.zone' does not exist`.
public struct ConfigProblem: Error, Sendable, CustomStringConvertible, Equatable {
    public var file: String
    public var line: Int?
    public var path: String
    public var message: String
    public init(file: String, line: Int?, path: String, message: String) {
        self.file = file
        self.line = line
        self.path = path
        self.message = message
    }
    public var description: String {
        let loc = line.map { "\(file):\($0)" } ?? file
        return path.isEmpty ? "\(loc): \(message)" : "\(loc): \(path): \(message)"
    }
}

/// All problems found in one config, reported together.
public struct ConfigProblems: Error, Sendable, CustomStringConvertible {
    public var problems: [ConfigProblem]
    public init(_ problems: [ConfigProblem]) { self.problems = problems }
    public var description: String { problems.map(\.description).joined(separator: "\n") }
}

/// Walks a composed YAML tree, reading typed values by key path and collecting every problem
/// (wrong type, out of range, unknown key) instead of stopping at the first.
public final class YAMLReader {
    public let file: String
    public private(set) var problems: [ConfigProblem] = []

    public init(file: String) { self.file = file }

    public func problem(_ node: Node?, _ path: String, _ message: String) {
        problems.append(
            ConfigProblem(
                file: file,
                line: node.map { $0.mark.map { $0.line } ?? nil } ?? nil,
                path: path,
                message: message
            )
        )
    }

    /// Returns the mapping's entries and reports keys not in `allowed`.
    /// `allowed: nil` accepts any key (maps keyed by user-chosen names).
    public func mapping(_ node: Node?, _ path: String, allowed: Set<String>?) -> [String: Node]? {
        guard let node else { return nil }
        guard case .mapping(let m) = node else {
            problem(node, path, "expected a mapping (key: value)")
            return nil
        }
        var out: [String: Node] = [:]
        for (k, v) in m {
            guard let key = k.string else {
                problem(k, path, "keys must be strings")
                continue
            }
            let sub = path.isEmpty ? key : "\(path).\(key)"
            if let allowed, !allowed.contains(key) {
                problem(k, sub, "unknown key (allowed: \(allowed.sorted().joined(separator: ", ")))")
                continue
            }
            if out[key] != nil { problem(k, sub, "duplicate key") }
            out[key] = v
        }
        return out
    }

    public func sequence(_ node: Node?, _ path: String) -> [Node]? {
        guard let node else { return nil }
        guard case .sequence(let s) = node else {
            problem(node, path, "expected a list")
            return nil
        }
        return Array(s)
    }

    public func string(_ node: Node?, _ path: String) -> String? {
        guard let node else { return nil }
        guard case .scalar(let s) = node else {
            problem(node, path, "expected a string")
            return nil
        }
        return s.string
    }

    public func int(_ node: Node?, _ path: String, range: ClosedRange<Int>) -> Int? {
        guard let s = string(node, path) else { return nil }
        guard let v = Int(s) else {
            let digits = s.drop { $0 == "-" || $0 == "+" }
            if !digits.isEmpty, digits.allSatisfy(\.isASCII), digits.allSatisfy(\.isNumber), s.count - digits.count <= 1
            {
                problem(node, path, "\(s) is out of range \(range.lowerBound)...\(range.upperBound)")
            } else {
                problem(node, path, "'\(s)' is not a whole number (allowed: \(range.lowerBound)...\(range.upperBound))")
            }
            return nil
        }
        guard range.contains(v) else {
            problem(node, path, "\(v) is out of range \(range.lowerBound)...\(range.upperBound)")
            return nil
        }
        return v
    }

    public func bool(_ node: Node?, _ path: String) -> Bool? {
        guard let s = string(node, path) else { return nil }
        switch s.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default:
            problem(node, path, "'\(s)' is not true or false")
            return nil
        }
    }

    /// Durations: `500ms`, `2s`, `1m`, `1h`, `1d`, or a plain number of seconds (`DurationText`).
    public func duration(_ node: Node?, _ path: String, range: ClosedRange<Duration>) -> Duration? {
        guard let s = string(node, path) else { return nil }
        let d: Duration
        switch DurationText.parse(s) {
        case .success(let v): d = v
        case .failure(let f):
            problem(node, path, "'\(s)' \(f) (allowed here: \(format(range.lowerBound))...\(format(range.upperBound)))")
            return nil
        }
        guard range.contains(d) else {
            problem(node, path, "\(s) is out of range \(format(range.lowerBound))...\(format(range.upperBound))")
            return nil
        }
        return d
    }

    public func stringList(_ node: Node?, _ path: String) -> [String]? {
        guard let node else { return nil }
        if case .scalar = node { return string(node, path).map { [$0] } }
        guard let items = sequence(node, path) else { return nil }
        return items.enumerated().compactMap { string($1, "\(path)[\($0)]") }
    }
}
