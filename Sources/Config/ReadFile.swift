import ConfigText
import Foundation

extension ConfigLoader {
    /// Reads a config file of at most `maxBytes` bytes. Refuses FIFOs, devices and sockets (they would
    /// block or never end) and reads at most `maxBytes + 1` bytes, so `/dev/zero` cannot exhaust memory.
    static func readBounded(path: String, maxBytes: Int) -> Result<Data, ConfigProblem> {
        func fail(_ m: String) -> Result<Data, ConfigProblem> {
            .failure(ConfigProblem(file: path, line: nil, path: "", message: m))
        }
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path) else {
            return fail("cannot read the file")
        }
        if let type = attributes[.type] as? FileAttributeType, type != .typeRegular {
            return fail(
                type == .typeDirectory
                    ? "is a directory" : "is not a regular file (a FIFO, device or socket cannot be a config)"
            )
        }
        if let size = attributes[.size] as? NSNumber, size.intValue > maxBytes {
            return fail("file is \(size.intValue) bytes; the limit is \(maxBytes)")
        }
        guard let fh = FileHandle(forReadingAtPath: path) else { return fail("cannot read the file") }
        defer { try? fh.close() }
        guard let data = try? fh.read(upToCount: maxBytes + 1) else { return fail("cannot read the file") }
        guard data.count <= maxBytes else { return fail("file is over the limit of \(maxBytes) bytes") }
        return .success(data)
    }
}
