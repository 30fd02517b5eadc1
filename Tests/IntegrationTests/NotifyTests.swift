import Foundation
import TestSupport
import Testing

/// A test-owned NOTIFY_SOCKET, as systemd provides for Type=notify services.
final class NotifySocket {
    let path: String
    let fd: Int32

    init() throws {
        path =
            FileManager.default.temporaryDirectory.appendingPathComponent("notify-\(UUID().uuidString.prefix(8)).sock")
            .path
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { throw TestError.failed("socket: \(errno)") }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in path.utf8.enumerated() { raw[i] = b }
        }
        let ok = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard ok == 0 else {
            close(fd)
            throw TestError.failed("bind \(path): \(errno)")
        }
        var tv = timeval(tv_sec: 0, tv_usec: 100_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Messages received until `timeout`, or until one contains `until`.
    func receive(until: String, timeout: Double) -> [String] {
        var out: [String] = []
        let deadline = Date().addingTimeInterval(timeout)
        var buf = [UInt8](repeating: 0, count: 4096)
        while Date() < deadline {
            let n = recv(fd, &buf, buf.count, 0)
            if n > 0 {
                let m = String(decoding: buf[0..<n], as: UTF8.self)
                out.append(m)
                if m.contains(until) { break }
            }
        }
        return out
    }

    deinit {
        close(fd)
        unlink(path)
    }
}

@Suite struct SystemdNotify {
    @Test func readyReloadWatchdogStopping() throws {
        let sock = try NotifySocket()
        let server = try GtmdServer(
            ["--config", "config/lab.yaml"],
            environment: ["NOTIFY_SOCKET": sock.path, "WATCHDOG_USEC": "400000"]
        )
        // READY=1 comes once the first probe round is done and the listeners are bound.
        let ready = sock.receive(until: "READY=1", timeout: 10)
        #expect(ready.contains { $0.contains("READY=1") && $0.contains("STATUS=serving") }, "\(ready)")
        #expect(try dig("www.lab.example.", port: server.port).status == "NOERROR")
        // Watchdog pings at half of WATCHDOG_USEC.
        let pings = sock.receive(until: "WATCHDOG=1", timeout: 3)
        #expect(pings.contains("WATCHDOG=1"), "\(pings)")
        // SIGHUP: RELOADING=1 with MONOTONIC_USEC, then READY=1 again.
        server.signal(SIGHUP)
        let reload = sock.receive(until: "READY=1", timeout: 10)
        #expect(reload.contains { $0.contains("RELOADING=1") && $0.contains("MONOTONIC_USEC=") }, "\(reload)")
        #expect(reload.contains { $0.contains("READY=1") && $0.contains("reloaded") }, "\(reload)")
        // SIGTERM: STOPPING=1, then a clean exit.
        server.signal(SIGTERM)
        let stop = sock.receive(until: "STOPPING=1", timeout: 10)
        #expect(stop.contains("STOPPING=1"), "\(stop)")
        #expect(server.stop() == 0)
    }

    @Test func noSocketNoNotifications() throws {
        // Without NOTIFY_SOCKET gtmd runs as a plain process (covered by every other test); an unusable
        // socket path must not stop it either.
        let server = try GtmdServer(
            ["--config", "config/lab.yaml"],
            environment: ["NOTIFY_SOCKET": "/nonexistent/notify.sock"]
        )
        #expect(try dig("www.lab.example.", port: server.port).status == "NOERROR")
        #expect(server.stop() == 0)
    }
}
