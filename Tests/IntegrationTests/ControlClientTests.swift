import Foundation
import TestSupport
import Testing

/// The CLI's control client (AsyncHTTPClient) against a plain HTTP/1.1 server (Tests/tools/http_fixture.py):
/// chunked replies, keep-alive connections the server never closes, timeouts and broken replies.
@Suite struct ControlClientTests {
    /// The fixture server; stopped (stdin closed) at the end.
    final class Fixture {
        let process = Process()
        let input = Pipe()
        let port: Int

        init(_ mode: String = "serve") throws {
            let out = Pipe()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["python3", Repo.root.appendingPathComponent("Tests/tools/http_fixture.py").path, mode]
            process.standardInput = input
            process.standardOutput = out
            process.standardError = FileHandle.nullDevice
            try process.run()
            var line = Data()
            let handle = out.fileHandleForReading
            while line.last != UInt8(ascii: "\n"), line.count < 16 {
                let byte = handle.readData(ofLength: 1)
                if byte.isEmpty { break }
                line.append(byte)
            }
            guard let p = Int(String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
            else {
                throw TestError.failed("http_fixture.py did not print its port")
            }
            port = p
        }

        func gtmd(_ args: [String], timeout: Double = 30) throws -> CommandResult {
            try run(GtmdServer.binary, args + ["--control", "127.0.0.1:\(port)"], timeout: timeout)
        }

        deinit {
            try? input.fileHandleForWriting.close()
            if process.isRunning { process.terminate() }
        }
    }

    @Test func readsAChunkedReplyOnAKeptAliveConnection() throws {
        let f = try Fixture()
        let start = Date()
        let r = try f.gtmd(["status", "--json", "--timeout", "20"])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        #expect(json?["chunked"] as? Bool == true)
        #expect((json?["pieces"] as? [String])?.map(\.count) == [3000, 3000])
        // The server keeps the connection open: the reply's end is its last chunk, not the connection's close.
        #expect(Date().timeIntervalSince(start) < 15)
    }

    @Test func readsASizedReplyOnAKeptAliveConnection() throws {
        let f = try Fixture()
        let r = try f.gtmd(["explain", "www.lab.example", "A", "--timeout", "20"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(
            r.stdout.contains("\"sized\": true") && r.stdout.contains("/explain?name=www.lab.example&type=A"),
            "\(r.stdout)"
        )
    }

    @Test func aServerThatNeverAnswersIsATimeout() throws {
        let f = try Fixture("hang")
        let r = try f.gtmd(["status", "--json", "--timeout", "0.5"])
        #expect(r.status != 0)
        #expect(r.stderr.contains("no complete reply within 0.5s"), "\(r.stderr)")
    }

    @Test func aReplyCutShortSaysSo() throws {
        let f = try Fixture("cut")
        let r = try f.gtmd(["status", "--json", "--timeout", "5"])
        #expect(r.status != 0)
        #expect(r.stderr.contains("127.0.0.1:\(f.port)"), "\(r.stderr)")
    }

    @Test func nothingListeningIsAClearError() throws {
        let r = try run(GtmdServer.binary, ["status", "--control", "127.0.0.1:1", "--timeout", "5"])
        #expect(r.status != 0)
        #expect(r.stderr.contains("cannot reach the gtmd control API at 127.0.0.1:1"), "\(r.stderr)")
        #expect(r.stderr.contains("control.listen or --control"), "\(r.stderr)")
    }
}
