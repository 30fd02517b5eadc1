import DNSWire
import Dispatch
import FoundationEssentials
import Glibc

/// The systemd notify protocol (sd_notify(3)) without libsystemd: datagrams to `$NOTIFY_SOCKET`
/// (a path, or an abstract socket when it starts with `@`). Does nothing when the variable is unset,
/// so gtmd runs the same outside systemd. `WATCHDOG_USEC` (for this PID) turns on watchdog pings.
public struct SystemdNotifier: Sendable {
    let socketPath: String?
    /// Half the watchdog timeout, when systemd asked for pings.
    public let watchdogInterval: Duration?

    public init(environment: ProcessEnvironment = .current) {
        socketPath = environment["NOTIFY_SOCKET"].flatMap { $0.isEmpty ? nil : $0 }
        if let usec = environment["WATCHDOG_USEC"].flatMap(UInt64.init), usec > 0,
            environment["WATCHDOG_PID"].map({ $0 == String(getpid()) }) ?? true
        {
            watchdogInterval = .microseconds(Int64(usec / 2))
        } else {
            watchdogInterval = nil
        }
    }

    public var isActive: Bool { socketPath != nil }

    public func ready(status: String) { send("READY=1\nSTATUS=\(status)") }
    public func reloading() {
        // DispatchTime counts CLOCK_MONOTONIC on Linux, the clock systemd expects here.
        let usec = DispatchTime.now().uptimeNanoseconds / 1000
        send("RELOADING=1\nMONOTONIC_USEC=\(usec)")
    }
    public func stopping() { send("STOPPING=1") }
    public func watchdog() { send("WATCHDOG=1") }
    public func status(_ s: String) { send("STATUS=\(s)") }

    /// Sends one notification; failures are ignored (systemd may be gone during shutdown).
    @discardableResult
    public func send(_ message: String) -> Bool {
        guard let path = socketPath else { return false }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(path.utf8)
        if bytes.first == UInt8(ascii: "@") { bytes[0] = 0 }  // abstract namespace
        let capacity = MemoryLayout.size(ofValue: addr.sun_path)
        guard bytes.count < capacity else { return false }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
        }
        let len = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + (bytes.first == 0 ? 0 : 1))
        let sent = message.withCString { msg in
            withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(fd, msg, strlen(msg), Int32(MSG_NOSIGNAL), $0, len)
                }
            }
        }
        return sent >= 0
    }
}
