import Foundation
import HealthModel
import TestSupport
import Testing

@testable import Health

/// Real loopback backends for the prober: one python3 process serving HTTP, several HTTPS ports (one per
/// test certificate), a closed port and a "blackhole" port whose accept queue is full. Certificates are
/// made at test time with the openssl CLI. The process exits when the test process does (its stdin closes).
final class Backend: Sendable {
    struct Ports: Codable, Sendable {
        var http: Int
        var closed: Int
        var blackhole: Int
        var https: [String: Int]
    }

    let ports: Ports
    let certDir: String
    let pid: Int32
    private let control: FileHandle

    var caFile: String { certDir + "/ca.pem" }
    func httpsPort(_ name: String) -> Int { ports.https[name]! }

    private init(ports: Ports, certDir: String, pid: Int32, control: FileHandle) {
        self.ports = ports
        self.certDir = certDir
        self.pid = pid
        self.control = control
    }

    /// The backend most tests share; started once.
    static let shared = Task { try Backend.start() }

    /// Makes `/flip/<key>` answer `status` from now on (0: hang).
    func set(_ key: String, _ status: Int) {
        control.write(Data("set \(key) \(status)\n".utf8))
    }

    func kill() {
        _ = Foundation.kill(pid, SIGKILL)
    }

    static func start() throws -> Backend {
        guard let python = Tools.python3, let openssl = Tools.openssl else {
            throw TestFailure("python3 and openssl are needed for the health backend tests")
        }
        let dir = FileManager.default.temporaryDirectory
            .appendingPathComponent("gtmd-health-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try makeCertificates(in: dir, openssl: openssl)
        let script = backendScript
        let portsFile = dir + "/ports.json"

        let p = Process()
        p.executableURL = URL(fileURLWithPath: python)
        p.arguments = [script, dir, portsFile]
        let stdin = Pipe()
        p.standardInput = stdin
        p.standardOutput = FileHandle.nullDevice
        _ = FileManager.default.createFile(atPath: dir + "/backend.log", contents: nil)
        p.standardError = FileHandle(forWritingAtPath: dir + "/backend.log")
        try p.run()
        let deadline = Date().addingTimeInterval(10)
        var tries = 0
        while tries < 2000, Date() < deadline {
            if let data = FileManager.default.contents(atPath: portsFile),
                let ports = try? JSONDecoder().decode(Ports.self, from: data)
            {
                return Backend(
                    ports: ports,
                    certDir: dir,
                    pid: p.processIdentifier,
                    control: stdin.fileHandleForWriting
                )
            }
            if !p.isRunning { break }
            usleep(10_000)
            tries += 1
        }
        let log = (try? String(contentsOfFile: dir + "/backend.log", encoding: .utf8)) ?? ""
        _ = Foundation.kill(p.processIdentifier, SIGKILL)
        throw TestFailure("backend did not start: \(log)")
    }

    /// CA, a second (untrusted) CA, and leaf certificates: valid, expired, wrongname, soon (3 days), untrusted.
    static func makeCertificates(in dir: String, openssl: String) throws {
        let script = Repo.root.appendingPathComponent("Tests/tools/make_test_certs.sh").path
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = [script, dir, openssl]
        p.standardOutput = FileHandle.nullDevice
        let err = Pipe()
        p.standardError = err
        try p.run()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw TestFailure("making test certificates failed: \(String(decoding: errData, as: UTF8.self))")
        }
    }

    /// The backend process (HTTP, HTTPS per certificate, closed and blackhole ports; `set KEY STATUS` on stdin).
    static let backendScript = Repo.root.appendingPathComponent("Tests/tools/health_backend.py").path
}

enum Tools {
    static let python3: String? = find("python3")
    static let openssl: String? = find("openssl")
    static var available: Bool { python3 != nil && openssl != nil }

    static func find(_ name: String) -> String? {
        var dirs = ["/usr/bin", "/usr/local/bin", "/bin"]
        if let path = ProcessInfo.processInfo.environment["PATH"] {
            dirs += path.split(separator: ":").map(String.init)
        }
        for d in dirs where FileManager.default.isExecutableFile(atPath: d + "/" + name) {
            return d + "/" + name
        }
        return nil
    }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// A unique key for `/flip/<key>`.
func uniqueKey(_ prefix: String = "k") -> String {
    "\(prefix)\(UInt64.random(in: 0...UInt64.max))"
}

extension Duration {
    var secondsDouble: Double {
        let (s, a) = components
        return Double(s) + Double(a) / 1e18
    }
}
