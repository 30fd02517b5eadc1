import Foundation
import Glibc
import Policy

/// The state file: operator overrides (saved by the steering loop, or by `gtmd override --offline`) and the
/// services' remembered state (written by the server: current pool, manual-failback hold). JSON, replaced
/// atomically (write + rename) under an exclusive lock on `<file>.lock`, so the CLI and the server can
/// both update their own part without losing the other's.
public struct StateFileContent: Codable, Sendable, Equatable {
    public var overrides: [Override] = []
    public var services: [String: ServiceState] = [:]
    public init(overrides: [Override] = [], services: [String: ServiceState] = [:]) {
        self.overrides = overrides; self.services = services
    }
}

public struct StateFileError: Error, CustomStringConvertible {
    public var description: String
}

public enum StateFile {
    /// Where the state lives when the config does not say: `$STATE_DIRECTORY/state.json` under systemd,
    /// else `gtmd-state.json` beside the config file.
    public static func defaultPath(configFile: String, environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let dir = environment["STATE_DIRECTORY"]?.split(separator: ":").first { return "\(dir)/state.json" }
        return ((configFile as NSString).deletingLastPathComponent as NSString).appendingPathComponent("gtmd-state.json")
    }

    static let encoder: JSONEncoder = {
        let e = JSONEncoder(); e.outputFormatting = [.prettyPrinted, .sortedKeys]; e.dateEncodingStrategy = .iso8601; return e
    }()
    static let decoder: JSONDecoder = { let d = JSONDecoder(); d.dateDecodingStrategy = .iso8601; return d }()

    /// Reads the file; a missing file is empty state. A corrupt file is an error (never silently dropped).
    public static func read(_ path: String) throws(StateFileError) -> StateFileContent {
        guard FileManager.default.fileExists(atPath: path) else { return StateFileContent() }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw StateFileError(description: "\(path): cannot read the state file")
        }
        if data.isEmpty { return StateFileContent() }
        do { return try decoder.decode(StateFileContent.self, from: data) } catch {
            throw StateFileError(description: "\(path): not a valid gtmd state file: \(error)")
        }
    }

    /// Read-modify-write under the lock.
    @discardableResult
    public static func update(_ path: String, _ change: (inout StateFileContent) throws -> Void) throws -> StateFileContent {
        let dir = (path as NSString).deletingLastPathComponent
        if !dir.isEmpty { try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        let lockFD = open(path + ".lock", O_CREAT | O_RDWR | O_CLOEXEC, 0o600)
        guard lockFD >= 0 else { throw StateFileError(description: "\(path).lock: \(String(cString: strerror(errno)))") }
        defer { close(lockFD) }
        guard flock(lockFD, LOCK_EX) == 0 else { throw StateFileError(description: "\(path).lock: cannot lock") }
        defer { flock(lockFD, LOCK_UN) }
        var content = try read(path)
        try change(&content)
        let data = try encoder.encode(content)
        let tmp = path + ".tmp.\(getpid())"
        guard FileManager.default.createFile(atPath: tmp, contents: data, attributes: [.posixPermissions: 0o600]) else {
            throw StateFileError(description: "\(tmp): cannot write")
        }
        guard rename(tmp, path) == 0 else {
            unlink(tmp)
            throw StateFileError(description: "\(path): cannot replace: \(String(cString: strerror(errno)))")
        }
        return content
    }

    /// Modification time (nanoseconds where the file system keeps them), to notice changes cheaply.
    public static func mtime(_ path: String) -> Date? {
        (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date
    }
}
