import Foundation

/// The real gtmd binary started for a test on loopback, port 0, stopped at the end.
public final class GtmdServer: @unchecked Sendable {  // process handle used from one test at a time
    public let process: Process
    public let port: Int
    public let readyFile: String
    public let logFile: String
    public let host: String
    /// The control listener's port (nil when it is off).
    public let controlPort: Int?

    public static var binary: String {
        if let env = ProcessInfo.processInfo.environment["GTMD_BIN"] { return env }
        // The test bundle sits in the same build folder as the gtmd executable.
        let exe = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var dir = exe.deletingLastPathComponent()
        for _ in 0..<5 {
            let candidate = dir.appendingPathComponent("gtmd").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            dir.deleteLastPathComponent()
        }
        return Repo.root.appendingPathComponent(".build/debug/gtmd").path
    }

    /// Starts `gtmd serve <args> --listen 127.0.0.1:0 --ready-file ...` and waits until it listens.
    public init(
        _ args: [String],
        listen: [String] = ["127.0.0.1:0"],
        environment: [String: String] = [:],
        timeout: Double = 20
    ) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gtmd-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        if args.contains("config/lab.yaml") { try Repo.prepareLab() }
        readyFile = dir.appendingPathComponent("ready.json").path
        logFile = dir.appendingPathComponent("gtmd.log").path
        _ = FileManager.default.createFile(atPath: logFile, contents: nil)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: GtmdServer.binary)
        // Each server gets its own state file unless the test names one.
        let state =
            args.contains("--state-file") ? [] : ["--state-file", dir.appendingPathComponent("state.json").path]
        // Each server gets its own control port unless the test names one.
        let control = args.contains("--control") ? [] : ["--control", "127.0.0.1:0"]
        p.arguments =
            ["serve"] + args + listen.flatMap { ["--listen", $0] } + state + control
            + ["--ready-file", readyFile, "--udp-workers", "1"]
        p.currentDirectoryURL = Repo.root
        if !environment.isEmpty {
            p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        let log = FileHandle(forWritingAtPath: logFile)!
        p.standardOutput = log
        p.standardError = log
        try p.run()
        process = p
        let rf = readyFile
        try waitFor("gtmd ready file", timeout: timeout) {
            guard p.isRunning else {
                throw TestError.failed(
                    "gtmd exited early:\n"
                        + ((try? String(contentsOfFile: dir.appendingPathComponent("gtmd.log").path, encoding: .utf8))
                            ?? "")
                )
            }
            return FileManager.default.fileExists(atPath: rf)
        }
        let data = try Data(contentsOf: URL(fileURLWithPath: readyFile))
        let json = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        let first = (json["listen"] as! [String])[0]
        let colon = first.lastIndex(of: ":")!
        port = Int(first[first.index(after: colon)...])!
        var h = String(first[..<colon])
        if h.hasPrefix("[") { h = String(h.dropFirst().dropLast()) }
        host = h
        if let c = json["control"] as? String, let colon = c.lastIndex(of: ":") {
            controlPort = Int(c[c.index(after: colon)...])
        } else {
            controlPort = nil
        }
    }

    /// One HTTP request to the control listener.
    public func control(
        _ method: String,
        _ target: String,
        headers: [String: String] = [:],
        body: String? = nil
    ) throws -> HTTPResponse {
        guard let port = controlPort else { throw TestError.failed("the control listener is off") }
        return try httpRequest("127.0.0.1", port, method, target, headers: headers, body: body)
    }

    public var log: String { (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? "" }

    public func signal(_ sig: Int32) { kill(process.processIdentifier, sig) }

    /// SIGTERM, then waits for the exit (SIGKILL after `timeout`); returns the exit status.
    @discardableResult
    public func stop(timeout: Double = 10) -> Int32 {
        if process.isRunning { kill(process.processIdentifier, SIGTERM) }
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            return -9
        }
        process.waitUntilExit()
        return process.terminationStatus
    }

    deinit { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
}
