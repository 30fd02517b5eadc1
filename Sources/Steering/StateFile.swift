import Config
import ConfigText
import DNSWire
import FoundationEssentials
import Glibc
import Policy

/// The state file: operator overrides (saved by the steering loop, or by `gtmd override --offline`) and the
/// services' remembered state (written by the server: current pool, manual-failback hold). JSON, replaced
/// atomically (write + rename) under an exclusive lock on `<file>.lock`, so the CLI and the server can
/// both update their own part without losing the other's.
/// The server also keeps its recent event history here (`events`, the newest `EventLog.defaultCapacity`) and the
/// seq its next event gets (`eventsNextSeq`); a file written before there was one (no `events` key) loads with an
/// empty history.
public struct StateFileContent: Codable, Sendable, Equatable {
    public var overrides: [Override] = []
    public var services: [String: ServiceState] = [:]
    public var events: [GtmdEvent] = []
    /// The seq after the history's last: lets the server number its new events before it has decoded the history
    /// (`StateFile.readDeferringHistory`). Absent in files written before it was kept.
    public var eventsNextSeq: UInt64?
    public init(
        overrides: [Override] = [],
        services: [String: ServiceState] = [:],
        events: [GtmdEvent] = [],
        eventsNextSeq: UInt64? = nil
    ) {
        self.overrides = overrides
        self.services = services
        self.events = events
        self.eventsNextSeq = eventsNextSeq
    }

    enum CodingKeys: String, CodingKey { case overrides, services, events, eventsNextSeq }

    public init(from decoder: any Decoder) throws {
        try self.init(from: decoder, history: true)
    }

    /// Without `history` the events are left undecoded (most of the file's decoding time when it holds a full
    /// history): `events` stays empty.
    init(from decoder: any Decoder, history: Bool) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        overrides = try c.decodeIfPresent([Override].self, forKey: .overrides) ?? []
        services = try c.decodeIfPresent([String: ServiceState].self, forKey: .services) ?? [:]
        eventsNextSeq = try c.decodeIfPresent(UInt64.self, forKey: .eventsNextSeq)
        if history { events = try c.decodeIfPresent([GtmdEvent].self, forKey: .events) ?? [] }
    }

    /// Everything but the event history.
    struct Head: Decodable {
        let content: StateFileContent
        init(from decoder: any Decoder) throws { content = try StateFileContent(from: decoder, history: false) }
    }

    /// The event history alone.
    struct History: Decodable {
        let events: [GtmdEvent]
        enum CodingKeys: String, CodingKey { case events }
        init(from decoder: any Decoder) throws {
            events =
                try decoder.container(keyedBy: CodingKeys.self).decodeIfPresent([GtmdEvent].self, forKey: .events)
                ?? []
        }
    }
}

public struct StateFileError: Error, CustomStringConvertible {
    public var description: String
}

public enum StateFile {
    /// Where the state lives when the config does not say: `$STATE_DIRECTORY/state.json` under systemd,
    /// else `gtmd-state.json` beside the config file.
    public static func defaultPath(
        configFile: String,
        environment: ProcessEnvironment = .current
    ) -> String {
        if let dir = environment["STATE_DIRECTORY"]?.split(separator: ":").first { return "\(dir)/state.json" }
        return FilePaths.join(FilePaths.directory(of: configFile), "gtmd-state.json")
    }

    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        e.dateEncodingStrategy = .iso8601
        return e
    }()
    static let decoder: JSONDecoder = {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .iso8601
        return d
    }()

    /// Reads the file; a missing file is empty state. A corrupt file is an error (never silently dropped).
    public static func read(_ path: String) throws(StateFileError) -> StateFileContent {
        guard let data = try contents(path) else { return StateFileContent() }
        return try decode(StateFileContent.self, data, path)
    }

    /// Far above what gtmd writes (a bounded event history, the overrides, the services' state): a larger file
    /// is refused with its size, not read into memory.
    static let maxBytes = 256 << 20

    /// The file's bytes; nil for a missing or empty file.
    static func contents(_ path: String) throws(StateFileError) -> Data? {
        switch BoundedFile.read(path, maxBytes: maxBytes) {
        case .bytes(let bytes): return bytes.isEmpty ? nil : Data(bytes)
        case .missing: return nil
        case .directory: throw StateFileError(description: "\(path): cannot read the state file: it is a directory")
        case .notRegular:
            throw StateFileError(description: "\(path): cannot read the state file: not a regular file")
        case .tooBig(let size):
            throw StateFileError(
                description: "\(path): the state file is \(size.map { "\($0) bytes" } ?? "over the limit"); "
                    + "the limit is \(maxBytes) bytes"
            )
        case .unreadable(let reason):
            throw StateFileError(description: "\(path): cannot read the state file: \(reason)")
        }
    }

    static func decode<T: Decodable>(_ type: T.Type, _ data: Data, _ path: String) throws(StateFileError) -> T {
        do { return try decoder.decode(type, from: data) } catch {
            throw StateFileError(description: "\(path): not a valid gtmd state file: \(error)")
        }
    }

    /// The file without its event history, and the bytes that hold the history (`history`, for `decodeHistory`
    /// later): what the server reads at start and when another process changed the file (the history there is
    /// its own). A file that does not say where its events' seqs go on (`eventsNextSeq`: written before it was
    /// kept) is decoded whole at once, and `history` is nil.
    public struct DeferredRead: Sendable {
        public let content: StateFileContent
        public let snapshot: Snapshot?
        public let history: Data?
    }

    /// Reads the file leaving its history undecoded (`DeferredRead`). The whole file must be valid JSON; its
    /// events are checked when they are decoded.
    public static func readDeferringHistory(_ path: String) throws(StateFileError) -> DeferredRead {
        let v = version(path)
        var content = StateFileContent()
        var history: Data? = nil
        if let data = try contents(path) {
            content = try decode(StateFileContent.Head.self, data, path).content
            if content.eventsNextSeq == nil {
                content = try decode(StateFileContent.self, data, path)
            } else {
                history = data
            }
        }
        return DeferredRead(
            content: content,
            snapshot: v.map { Snapshot(version: $0, content: content) },
            history: history
        )
    }

    /// The event history of a file `readDeferringHistory` read.
    public static func decodeHistory(_ data: Data, path: String) throws(StateFileError) -> [GtmdEvent] {
        try decode(StateFileContent.History.self, data, path).events
    }

    /// What this process last read from or wrote to the file, and which file that was (`version`).
    public struct Snapshot: Sendable {
        public let version: Version
        public let content: StateFileContent
    }

    /// Read-modify-write under the lock.
    @discardableResult
    public static func update(
        _ path: String,
        _ change: (inout StateFileContent) throws -> Void
    ) throws -> StateFileContent {
        var none: Snapshot? = nil
        return try update(path, known: &none, change)
    }

    /// Read-modify-write under the lock; the read is skipped when the file is still the one `known` describes
    /// (the server's own last write: decoding a full event history again on every save cost milliseconds).
    /// `known` is the written file afterwards.
    @discardableResult
    public static func update(
        _ path: String,
        known: inout Snapshot?,
        _ change: (inout StateFileContent) throws -> Void
    ) throws -> StateFileContent {
        ReplaceFile.makeFolder(of: path)
        let lockFD = open(path + ".lock", O_CREAT | O_RDWR | O_CLOEXEC, 0o600)
        guard lockFD >= 0 else {
            throw StateFileError(description: "\(path).lock: \(String(cString: strerror(errno)))")
        }
        defer { close(lockFD) }
        guard flock(lockFD, LOCK_EX) == 0 else { throw StateFileError(description: "\(path).lock: cannot lock") }
        defer { flock(lockFD, LOCK_UN) }
        var content: StateFileContent
        if let known, known.version == version(path) { content = known.content } else { content = try read(path) }
        try change(&content)
        let data = try encoder.encode(content)
        do { try ReplaceFile.write(data, to: path) } catch { throw StateFileError(description: error.description) }
        known = version(path).map { Snapshot(version: $0, content: content) }
        return content
    }

    /// Modification time (nanoseconds where the file system keeps them): one `stat`. (FileManager's attributes
    /// also resolve the owner's user and group names, which read /etc/passwd and /etc/group.)
    public static func mtime(_ path: String) -> Date? { version(path)?.mtime }

    /// Which file is at `path` now, to notice a change cheaply (one `stat` per steering tick). The time alone
    /// is not enough: the kernel stamps files with a clock that moves every few milliseconds, so a write right
    /// after ours can carry our time. Every write replaces the file (a rename), and the replaced file is still
    /// linked while its successor is made, so the successor has another inode.
    public struct Version: Equatable, Sendable {
        let device: UInt64
        let inode: UInt64
        let size: Int64
        let mtime: Date
    }

    public static func version(_ path: String) -> Version? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return Version(
            device: UInt64(st.st_dev),
            inode: UInt64(st.st_ino),
            size: Int64(st.st_size),
            mtime: Date(timeIntervalSince1970: TimeInterval(st.st_mtim.tv_sec) + TimeInterval(st.st_mtim.tv_nsec) / 1e9)
        )
    }
}

/// A running gtmd's hold on its state file: an exclusive `flock` on `<file>.server.lock`, taken at start and
/// kept for the process's life (the kernel drops it when the process ends, even on a crash). The file holds
/// the server's pid. `gtmd override --offline` refuses to edit a held state file: the running server is the
/// one writer then (its control API), and a file replaced by another user (root, under the service's
/// DynamicUser) could become unreadable to the server.
public final class StateFileHold: Sendable {
    let fd: Int32
    init(fd: Int32) { self.fd = fd }
    deinit { close(fd) }
}

extension StateFile {
    public static func serverLockPath(_ path: String) -> String { path + ".server.lock" }

    /// Takes the server's hold on `path`; an error when another process holds it or the lock file cannot be made.
    public static func holdForServer(_ path: String) -> Result<StateFileHold, StateFileError> {
        let dir = FilePaths.directory(of: path)
        if !dir.isEmpty { try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        let lock = serverLockPath(path)
        let fd = open(lock, O_CREAT | O_RDWR | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            return .failure(StateFileError(description: "\(lock): \(String(cString: strerror(errno)))"))
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            let pid = heldByServer(path).map { " (pid \($0))" } ?? ""
            return .failure(StateFileError(description: "\(path): another gtmd\(pid) holds this state file"))
        }
        // Written over the old pid, then cut to its length: truncating to 0 first freed the file's block, and on a
        // file system mounted with `discard` that waited for the device (0.4–2 ms of every start, measured).
        let text = Array("\(getpid())\n".utf8)
        _ = text.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        _ = ftruncate(fd, off_t(text.count))
        return .success(StateFileHold(fd: fd))
    }

    /// The pid of the running gtmd that holds `path` (0 when its pid cannot be read), or nil when none does.
    public static func heldByServer(_ path: String) -> Int32? {
        let lock = serverLockPath(path)
        let fd = open(lock, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            // Present but not openable (another user's server): treat it as held only if it exists.
            return errno == ENOENT ? nil : 0
        }
        defer { close(fd) }
        if flock(fd, LOCK_SH | LOCK_NB) == 0 {
            flock(fd, LOCK_UN)
            return nil
        }
        var buf = [UInt8](repeating: 0, count: 32)
        let n = buf.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        let text = n > 0 ? String(decoding: buf[..<n], as: UTF8.self) : ""
        return Int32(text.trimmedSpace(newlines: true)) ?? 0
    }
}
