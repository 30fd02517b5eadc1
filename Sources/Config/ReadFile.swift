import ConfigText
import DNSWire
import FoundationEssentials
import Glibc

extension ConfigLoader {
    /// Reads a config file of at most `maxBytes` bytes. Refuses FIFOs, devices and sockets (they would
    /// block or never end) and reads at most `maxBytes + 1` bytes, so `/dev/zero` cannot exhaust memory.
    static func readBounded(path: String, maxBytes: Int) -> Result<Data, ConfigProblem> {
        func fail(_ m: String) -> Result<Data, ConfigProblem> {
            .failure(ConfigProblem(file: path, line: nil, path: "", message: m))
        }
        switch BoundedFile.read(path, maxBytes: maxBytes) {
        case .bytes(let b): return .success(Data(b))
        case .missing, .unreadable: return fail("cannot read the file")
        case .directory: return fail("is a directory")
        case .notRegular: return fail("is not a regular file (a FIFO, device or socket cannot be a config)")
        case .tooBig(let size?): return fail("file is \(size) bytes; the limit is \(maxBytes)")
        case .tooBig(nil): return fail("file is over the limit of \(maxBytes) bytes")
        }
    }
}
