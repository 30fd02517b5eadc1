import DNSWire
import Foundation
import Testing

/// The one reader of zone and config files: regular files up to a limit, everything else named.
@Suite struct BoundedFileTests {
    @Test func readsRegularFilesUpToTheLimitAndNamesEverythingElse() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("bounded-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("f").path
        try Data("0123456789".utf8).write(to: URL(fileURLWithPath: file))
        #expect(BoundedFile.read(file, maxBytes: 10) == .bytes(Array("0123456789".utf8)))
        #expect(BoundedFile.read(file, maxBytes: 9) == .tooBig(10))
        let empty = dir.appendingPathComponent("e").path
        _ = FileManager.default.createFile(atPath: empty, contents: Data())
        #expect(BoundedFile.read(empty, maxBytes: 0) == .bytes([]))
        #expect(BoundedFile.read(dir.appendingPathComponent("none").path, maxBytes: 10) == .missing)
        #expect(BoundedFile.read(file + "/below", maxBytes: 10) == .missing)
        #expect(BoundedFile.read(dir.path, maxBytes: 10) == .directory)
        #expect(BoundedFile.read("/dev/zero", maxBytes: 10) == .notRegular)
        // A FIFO without a writer: named at once, never waited on.
        let fifo = dir.appendingPathComponent("p").path
        #expect(mkfifo(fifo, 0o600) == 0)
        #expect(BoundedFile.read(fifo, maxBytes: 10) == .notRegular)
    }
}
