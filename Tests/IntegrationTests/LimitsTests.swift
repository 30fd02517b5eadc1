import Foundation
import TestSupport
import Testing

/// Resource bounds against the real binary: files that are too big or not files at all get a clear
/// error naming the file and the limit, and a reload that meets one changes nothing (and does not hang).
@Suite struct FileLimitsAgainstTheBinary {
    @Test func checkRefusesDevicesAndOversizedConfigs() throws {
        let zero = try run(GtmdServer.binary, ["check", "--config", "/dev/zero"], timeout: 20)
        #expect(zero.status == 1)
        #expect(
            (zero.stdout + zero.stderr).contains("/dev/zero: is not a regular file"),
            "\(zero.stdout)\(zero.stderr)"
        )
        let big = FileManager.default.temporaryDirectory.appendingPathComponent("gtmd-big-\(UUID().uuidString).yaml")
            .path
        try Data(repeating: 0x23, count: (4 << 20) + 1).write(to: URL(fileURLWithPath: big))
        defer { try? FileManager.default.removeItem(atPath: big) }
        let r = try run(GtmdServer.binary, ["check", "--config", big], timeout: 20)
        #expect(r.status == 1)
        #expect(
            (r.stdout + r.stderr).contains("\(big): file is 4194305 bytes; the limit is 4194304"),
            "\(r.stdout)\(r.stderr)"
        )
    }

    @Test func reloadOntoAFIFOZoneFailsAtOnceAndKeepsServing() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gtmd-fifo-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let zone = dir.appendingPathComponent("r.zone").path
        try "$TTL 60\n@ SOA ns1 host 1 3600 600 86400 30\n@ NS ns1\nns1 A 192.0.2.1\nwww A 192.0.2.10\n"
            .write(toFile: zone, atomically: true, encoding: .utf8)
        let s = try GtmdServer(["--zone", "r.test=\(zone)"])
        defer { s.stop() }
        #expect(try dig("www.r.test", port: s.port).answerData == ["192.0.2.10"])
        try FileManager.default.removeItem(atPath: zone)
        #expect(mkfifo(zone, 0o600) == 0)
        s.signal(SIGHUP)
        try waitFor("failed reload logged", timeout: 10) { s.log.contains("is not a regular file") }
        #expect(s.log.contains("reload failed"))
        #expect(try dig("www.r.test", port: s.port).answerData == ["192.0.2.10"])
        // The reload service is not stuck: a good zone is picked up by the next SIGHUP.
        try FileManager.default.removeItem(atPath: zone)
        try "$TTL 60\n@ SOA ns1 host 1 3600 600 86400 30\n@ NS ns1\nns1 A 192.0.2.1\nwww A 192.0.2.11\n"
            .write(toFile: zone, atomically: true, encoding: .utf8)
        s.signal(SIGHUP)
        try waitFor("reload to 192.0.2.11", timeout: 10) {
            try dig("www.r.test", port: s.port).answerData == ["192.0.2.11"]
        }
    }
}
