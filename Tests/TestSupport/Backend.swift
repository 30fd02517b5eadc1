import Foundation
import Synchronization

/// A lab health backend (Tests/tools/lab_backend.py: GET /healthz → 200) on a loopback address, which a
/// test can kill (connection refused from then on) and start again on the same address and port.
public final class HealthBackend: @unchecked Sendable {  // used from one test at a time
    public let address: String
    public let port: Int
    private var process: Process?

    public init(address: String, port: Int) throws {
        self.address = address
        self.port = port
        try start()
    }

    public func start() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = [
            "python3", Repo.root.appendingPathComponent("Tests/tools/lab_backend.py").path, address, "\(port)",
            // The delay `blackhole()` switches on: far beyond any test's check timeout.
            "30",
        ]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        process = p
        let (a, port) = (address, port)
        try waitFor("backend \(a):\(port) listening", timeout: 10) { tcpConnects(a, port) }
    }

    /// No more answers (connections still accepted): every probe times out, as behind a black hole.
    public func blackhole() {
        if let p = process { Foundation.kill(p.processIdentifier, SIGUSR1) }
    }

    /// SIGKILL, and wait until the port refuses connections.
    public func kill() {
        guard let p = process else { return }
        Foundation.kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        process = nil
    }

    deinit { kill() }
}

/// A fresh set of loopback addresses for one test (127.N.M.x), so parallel tests never share a backend.
public enum LoopbackNet {
    private static let counter = Mutex<Int>(0)
    /// Returns a prefix like "127.23.7." unique within this process (and very likely across processes).
    public static func fresh() -> String {
        let n = counter.withLock {
            $0 += 1
            return $0
        }
        let pid = Int(getpid())
        return "127.\(10 + (pid % 200)).\(n % 250 + 1)."
    }

    /// A port that is free for TCP and UDP on every address given (checked by binding), taken below the
    /// kernel's ephemeral range. A listening port inside that range can be handed to a client (dig, unbound's
    /// upstream socket) as its own source port; a connected UDP socket from 127.0.0.1:P to 127.0.0.1:P then
    /// receives its own query back as the "answer" (seen once in CI: a reply without QR, the query's cookie).
    public static func freePort(on addresses: [String]) throws -> Int {
        let ports = listenPorts
        for _ in 0..<100 {
            let port = Int.random(in: ports)
            if addresses.allSatisfy({ canBind($0, port) && canBindUDP($0, port) }) { return port }
        }
        throw TestError.failed("no free port in \(ports) on \(addresses)")
    }

    /// 10000 up to the start of net.ipv4.ip_local_port_range (32768 on Linux by default).
    static let listenPorts: ClosedRange<Int> = {
        let text = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8)) ?? ""
        let low = text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).first.flatMap { Int($0) }
        guard let low, low > 12000 else { return 61000...65000 }  // a range moved down: use the ports above it
        return 10000...(low - 1)
    }()
}

func sockaddrIn(_ address: String, _ port: Int) -> sockaddr_in {
    var sa = sockaddr_in()
    sa.sin_family = sa_family_t(AF_INET)
    sa.sin_port = in_port_t(UInt16(port).bigEndian)
    inet_pton(AF_INET, address, &sa.sin_addr)
    return sa
}

/// Runs `call` (bind or connect) on a new socket of `type` with `address:port`; true when it returns 0.
func onSocket(
    _ type: __socket_type,
    _ address: String,
    _ port: Int,
    _ call: (Int32, UnsafePointer<sockaddr>, socklen_t) -> Int32
) -> Bool {
    let fd = socket(AF_INET, Int32(type.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var sa = sockaddrIn(address, port)
    return withUnsafePointer(to: &sa) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            call(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
        }
    }
}

func canBind(_ address: String, _ port: Int) -> Bool { onSocket(SOCK_STREAM, address, port, bind) }

/// True when a UDP socket can bind `address:port`.
func canBindUDP(_ address: String, _ port: Int) -> Bool { onSocket(SOCK_DGRAM, address, port, bind) }

public func tcpConnects(_ address: String, _ port: Int) -> Bool { onSocket(SOCK_STREAM, address, port, connect) }
