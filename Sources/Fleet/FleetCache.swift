import Config
import FoundationEssentials
import Glibc

/// The node's local copy of what it last knew from the store: the shared overrides and the last fleet
/// verdicts, so a node that restarts while etcd is down still answers with the fleet's overrides and
/// (with `on_store_loss: freeze`) the last fleet decision. JSON, replaced atomically (write + rename).
public struct FleetCache: Sendable {
    public struct Content: Codable, Sendable, Equatable {
        public var overrides: [String: Data]
        public var verdicts: [String: Bool]
        public init(overrides: [String: Data] = [:], verdicts: [String: Bool] = [:]) {
            self.overrides = overrides
            self.verdicts = verdicts
        }
    }

    public let path: String
    public init(path: String) { self.path = path }

    /// Where the cache lives by default: beside the state file.
    public static func defaultPath(stateFile: String) -> String { stateFile + ".fleet" }

    /// The cached content; nil when there is none or it cannot be read (the caller starts empty).
    public func load() -> Content? {
        guard let data = FileManager.default.contents(atPath: path), !data.isEmpty else { return nil }
        return try? JSONDecoder().decode(Content.self, from: data)
    }

    public func save(_ content: Content) throws {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        let data = try e.encode(content)
        try ReplaceFile.write(data, to: path)
    }
}
