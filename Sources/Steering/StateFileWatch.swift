import DNSWire
import Dispatch
import Glibc

/// Tells the steering loop when its state file may have changed under it (an edit by hand, or a
/// `gtmd override --offline` that raced the server's start), so the loop looks at the file then instead of
/// every `SteeringOptions.stateFileCheck`: an idle server then does nothing at all, and the code that looked
/// stays out of its resident memory.
///
/// An inotify watch on the file's folder (the file itself is replaced by a rename at every save, so a watch on
/// its inode would go stale), read by a Dispatch source on `queue`. Events for other names in the folder (the
/// lock files, a save's temporary file) are read and dropped there; `changed` hears only of the state file.
final class StateFileWatch: @unchecked Sendable {
    /// What the watch reports.
    enum Event: Equatable {
        /// Something happened to the state file (or the kernel dropped events: its queue overflowed).
        case changed
        /// The watch ended (its folder was removed or moved away): the loop stops it and goes back to checking
        /// on a timer.
        case lost(String)
    }

    private let source: DispatchSourceRead

    /// Events that name the file or tell that the watch itself ended.
    static let mask = UInt32(
        IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE | IN_MODIFY | IN_DELETE_SELF
            | IN_MOVE_SELF | IN_ONLYDIR
    )

    /// Starts watching `path`'s folder; `changed` runs on `queue`. An error says why no watch could be made
    /// (no inotify instance or watch left: `fs.inotify.max_user_instances` / `max_user_watches`; the folder
    /// missing or unreadable).
    static func start(
        _ path: String,
        queue: DispatchQueue,
        changed: @escaping @Sendable (Event) -> Void
    ) -> Result<StateFileWatch, StateFileError> {
        let folder = FilePaths.directory(of: path)
        let dir = folder.isEmpty ? "." : folder
        // The state file's name in its folder, as the kernel reports it (no NUL).
        let name = Array(FilePaths.lastComponent(path).utf8)
        let fd = inotify_init1(Int32(IN_CLOEXEC | IN_NONBLOCK))
        guard fd >= 0 else {
            return .failure(StateFileError(description: "inotify: \(String(cString: strerror(errno)))"))
        }
        guard inotify_add_watch(fd, dir, mask) >= 0 else {
            let problem = String(cString: strerror(errno))
            close(fd)
            return .failure(StateFileError(description: "inotify watch on \(dir): \(problem)"))
        }
        return .success(StateFileWatch(fd: fd, name: name, queue: queue, changed: changed))
    }

    private init(fd: Int32, name: [UInt8], queue: DispatchQueue, changed: @escaping @Sendable (Event) -> Void) {
        source = DispatchSource.makeReadSource(fileDescriptor: fd, queue: queue)
        source.setEventHandler { [fd, name] in
            if let event = Self.drain(fd, name: name) { changed(event) }
        }
        source.setCancelHandler { close(fd) }
        source.activate()
    }

    /// Stops watching; the descriptor is closed once the source has let go of it.
    func stop() { source.cancel() }

    /// Reads every queued event (a bounded number of reads); what they add up to for the state file `name`.
    static func drain(_ fd: Int32, name: [UInt8]) -> Event? {
        var result: Event? = nil
        // Room for at least one event with the longest name (NAME_MAX 255).
        var buffer = [UInt8](repeating: 0, count: 4096)
        for _ in 0..<64 {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            guard n > 0 else { break }
            buffer.withUnsafeBytes { raw in
                let got = parse(UnsafeRawBufferPointer(rebasing: raw[0..<n]), name: name)
                if case .lost = got { result = got } else if result == nil { result = got }
            }
        }
        return result
    }

    /// What a block of inotify events says about the file `name`: `struct inotify_event` (wd, mask, cookie,
    /// len: four 32-bit fields) followed by `len` bytes of NUL-padded name.
    static func parse(_ events: UnsafeRawBufferPointer, name: [UInt8]) -> Event? {
        var result: Event? = nil
        var at = 0
        while at + 16 <= events.count {
            let mask = events.loadUnaligned(fromByteOffset: at + 4, as: UInt32.self)
            let len = Int(events.loadUnaligned(fromByteOffset: at + 12, as: UInt32.self))
            let end = min(events.count, at + 16 + len)
            if mask & UInt32(IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF) != 0 {
                return .lost("the state file's folder was removed or moved")
            }
            if mask & UInt32(IN_Q_OVERFLOW) != 0 {
                result = .changed
            } else if len > 0 {
                let field = events[(at + 16)..<end]
                let named = field.prefix { $0 != 0 }
                if named.elementsEqual(name) { result = .changed }
            }
            at = end
        }
        return result
    }
}
