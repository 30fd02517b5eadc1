import Foundation

/// Runs a command to completion with a deadline; returns exit status and output.
public struct CommandResult: Sendable {
    /// The exit code, or the signal number when `signaled` (a Swift trap is SIGILL or SIGTRAP).
    public var status: Int32
    public var stdout: String
    public var stderr: String
    public var signaled: Bool = false
}

public enum TestError: Error, CustomStringConvertible {
    case timeout(String)
    case failed(String)
    public var description: String {
        switch self {
        case .timeout(let s): return "timeout: \(s)"
        case .failed(let s): return s
        }
    }
}

@discardableResult
public func run(
    _ executable: String,
    _ args: [String],
    timeout: Double = 30,
    stdin: Data? = nil
) throws -> CommandResult {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: executable)
    p.arguments = args
    let out = Pipe()
    let err = Pipe()
    p.standardOutput = out
    p.standardError = err
    let inPipe = Pipe()
    p.standardInput = inPipe
    try p.run()
    if let stdin { inPipe.fileHandleForWriting.write(stdin) }
    try? inPipe.fileHandleForWriting.close()
    // Read both pipes on background threads so a large output cannot block the child.
    let outBox = DataBox()
    let errBox = DataBox()
    let g = DispatchGroup()
    g.enter()
    DispatchQueue.global().async {
        outBox.set(out.fileHandleForReading.readDataToEndOfFile())
        g.leave()
    }
    g.enter()
    DispatchQueue.global().async {
        errBox.set(err.fileHandleForReading.readDataToEndOfFile())
        g.leave()
    }
    let deadline = Date().addingTimeInterval(timeout)
    while p.isRunning && Date() < deadline { usleep(2_000) }
    if p.isRunning {
        p.terminate()
        usleep(100_000)
        if p.isRunning { kill(p.processIdentifier, SIGKILL) }
        throw TestError.timeout("\(executable) \(args.joined(separator: " "))")
    }
    _ = g.wait(timeout: .now() + 5)
    p.waitUntilExit()
    return CommandResult(
        status: p.terminationStatus,
        stdout: String(decoding: outBox.get(), as: UTF8.self),
        stderr: String(decoding: errBox.get(), as: UTF8.self),
        signaled: p.terminationReason == .uncaughtSignal
    )
}

final class DataBox: @unchecked Sendable {  // guarded by `lock`
    private let lock = NSLock()
    private var data = Data()
    func set(_ d: Data) {
        lock.lock()
        data = d
        lock.unlock()
    }
    func get() -> Data {
        lock.lock()
        defer { lock.unlock() }
        return data
    }
}

/// Polls `condition` every `interval` until it holds or `timeout` passes; returns the elapsed seconds.
@discardableResult
public func waitFor(
    _ what: String,
    timeout: Double,
    interval: Double = 0.02,
    _ condition: () throws -> Bool
) throws -> Double {
    let start = Date()
    var attempts = 0
    while attempts < 1_000_000 {
        if try condition() { return Date().timeIntervalSince(start) }
        if Date().timeIntervalSince(start) > timeout { throw TestError.timeout(what) }
        usleep(UInt32(interval * 1_000_000))
        attempts += 1
    }
    throw TestError.timeout(what)
}
