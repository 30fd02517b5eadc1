import DNSWire
import FoundationEssentials
import Glibc

/// Replaces a file the server owns (the state file, the fleet cache) in one step: the bytes go to
/// `<path>.tmp.<pid>` (mode 0600), which is then renamed over `path`, so a reader sees the old file or the
/// new one, never a part. The folder is made when missing. Plain system calls: FoundationEssentials'
/// `createFile` writes its own temporary file and renames it, then reads the attributes back.
public enum ReplaceFile {
    public static func write(_ data: Data, to path: String) throws(ReplaceFileError) {
        makeFolder(of: path)
        let tmp = path + ".tmp.\(getpid())"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw ReplaceFileError(path: tmp, errno: errno) }
        let written = data.withUnsafeBytes { bytes -> Int32 in
            var done = 0
            while done < bytes.count {
                let n = Glibc.write(fd, bytes.baseAddress! + done, bytes.count - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                done += n
            }
            return 0
        }
        if close(fd) != 0, written == 0 {
            unlink(tmp)
            throw ReplaceFileError(path: tmp, errno: errno)
        }
        guard written == 0 else {
            unlink(tmp)
            throw ReplaceFileError(path: tmp, errno: written)
        }
        guard rename(tmp, path) == 0 else {
            let e = errno
            unlink(tmp)
            throw ReplaceFileError(path: path, errno: e)
        }
    }
}

extension ReplaceFile {
    /// Makes the folder `path` is in when it is missing (a failure shows when the file is opened).
    public static func makeFolder(of path: String) {
        let dir = FilePaths.directory(of: path)
        if !dir.isEmpty, access(dir, F_OK) != 0 {
            try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        }
    }
}

/// Which file could not be written, and the system's reason.
public struct ReplaceFileError: Error, CustomStringConvertible {
    public let path: String
    public let reason: String

    init(path: String, errno: Int32) {
        self.path = path
        self.reason = String(cString: strerror(errno))
    }

    public var description: String { "\(path): cannot write: \(reason)" }
}
