#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Reads a file that must be a regular file of at most `maxBytes` bytes: the zone reader's and the config
/// reader's one way in (they sit on different branches of the target chain, DNSWire below both). Plain system
/// calls: open (non-blocking, so a FIFO without a writer cannot hang the reader), `fstat` of what was opened (no
/// window between the check and the read), at most `maxBytes + 1` bytes read (`/dev/zero` cannot exhaust
/// memory). Foundation's `attributesOfItem` cost a lookup of the owner's user and group names per file.
public enum BoundedFile {
    public enum Outcome: Equatable, Sendable {
        case bytes([UInt8])
        case missing
        case directory
        /// A FIFO, device or socket.
        case notRegular
        /// Larger than the limit: its size (nil when it grew past the limit while being read).
        case tooBig(Int?)
        /// The system's reason (permission denied, ...).
        case unreadable(String)
    }

    public static func read(_ path: String, maxBytes: Int) -> Outcome {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else {
            return errno == ENOENT || errno == ENOTDIR ? .missing : .unreadable(String(cString: strerror(errno)))
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { return .unreadable(String(cString: strerror(errno))) }
        switch st.st_mode & S_IFMT {
        case S_IFREG: break
        case S_IFDIR: return .directory
        default: return .notRegular
        }
        if Int(st.st_size) > maxBytes { return .tooBig(Int(st.st_size)) }
        var out = [UInt8](repeating: 0, count: min(maxBytes, Int(st.st_size)) + 1)
        var n = 0
        while true {
            if n == out.count {
                // The file grew after the fstat: read on, up to one byte past the limit.
                if out.count > maxBytes { break }
                out.append(contentsOf: repeatElement(0, count: min(max(out.count, 4096), maxBytes + 1 - out.count)))
            }
            let r = out.withUnsafeMutableBytes { systemRead(fd, $0.baseAddress! + n, $0.count - n) }
            if r == 0 { break }
            if r < 0 {
                if errno == EINTR { continue }
                return .unreadable(String(cString: strerror(errno)))
            }
            n += r
        }
        if n > maxBytes { return .tooBig(nil) }
        out.removeSubrange(n...)
        return .bytes(out)
    }

    private static func systemRead(_ fd: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int) -> Int {
        #if canImport(Glibc)
        Glibc.read(fd, buffer, count)
        #else
        Musl.read(fd, buffer, count)
        #endif
    }
}
