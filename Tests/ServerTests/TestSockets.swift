#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Plain blocking BSD sockets for talking to the server from the tests. Every wait is bounded by a deadline.

struct SocketError: Error, CustomStringConvertible {
    var description: String
    init(_ what: String, _ err: Int32 = errno) {
        description = "\(what): \(String(cString: strerror(err))) (errno \(err))"
    }
}

/// Monotonic milliseconds.
func nowMs() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
}

/// A socket address for an IP literal and port.
struct PeerAddress {
    var storage = sockaddr_storage()
    var length: socklen_t = 0
    var family: Int32 = 0

    init(host: String, port: Int) throws {
        var sin = sockaddr_in()
        if inet_pton(AF_INET, host, &sin.sin_addr) == 1 {
            sin.sin_family = sa_family_t(AF_INET)
            sin.sin_port = UInt16(port).bigEndian
            withUnsafeMutableBytes(of: &storage) { dst in withUnsafeBytes(of: &sin) { dst.copyMemory(from: $0) } }
            length = socklen_t(MemoryLayout<sockaddr_in>.size)
            family = AF_INET
            return
        }
        var sin6 = sockaddr_in6()
        if inet_pton(AF_INET6, host, &sin6.sin6_addr) == 1 {
            sin6.sin6_family = sa_family_t(AF_INET6)
            sin6.sin6_port = UInt16(port).bigEndian
            withUnsafeMutableBytes(of: &storage) { dst in withUnsafeBytes(of: &sin6) { dst.copyMemory(from: $0) } }
            length = socklen_t(MemoryLayout<sockaddr_in6>.size)
            family = AF_INET6
            return
        }
        throw SocketError("bad address \(host)", EINVAL)
    }
}

/// Waits until `fd` is readable or `deadlineMs` (monotonic) passes. True if readable (or hung up).
func waitReadable(_ fd: Int32, deadlineMs: Int64) -> Bool {
    while true {
        let left = deadlineMs - nowMs()
        if left <= 0 { return false }
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let r = poll(&p, 1, Int32(min(left, 1000)))
        if r > 0 { return true }
        if r < 0 && errno != EINTR { return false }
    }
}

/// A socket of `type` connected to host:port (UDP sockets get a 1 MiB receive buffer); closed on failure.
func connectedSocket(host: String, port: Int, type: Int32) throws -> Int32 {
    var peer = try PeerAddress(host: host, port: port)
    let fd = socket(peer.family, type, 0)
    guard fd >= 0 else { throw SocketError("socket") }
    if type == Int32(SOCK_DGRAM.rawValue) {
        var size: Int32 = 1 << 20
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
    }
    let len = peer.length
    let rc = withUnsafePointer(to: &peer.storage) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, len) }
    }
    guard rc == 0 else {
        let e = errno
        close(fd)
        throw SocketError("connect", e)
    }
    return fd
}

/// A UDP socket connected to the server.
final class UDPClient {
    let fd: Int32

    // `self.fd` is assigned only once setup succeeded: a class init that throws after full initialisation
    // still runs deinit, which would close the descriptor a second time (maybe someone else's by then).
    init(host: String, port: Int) throws {
        fd = try connectedSocket(host: host, port: port, type: Int32(SOCK_DGRAM.rawValue))
    }

    deinit { close(fd) }

    func send(_ bytes: [UInt8]) throws {
        let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, 0) }
        guard n == bytes.count else { throw SocketError("send") }
    }

    /// The next datagram, or nil if none arrives before the deadline.
    func receive(deadlineMs: Int64) -> [UInt8]? {
        guard waitReadable(fd, deadlineMs: deadlineMs) else { return nil }
        var buf = [UInt8](repeating: 0, count: 65536)
        let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
        guard n >= 0 else { return nil }
        return Array(buf[0..<n])
    }
}

/// A TCP connection to the server.
final class TCPClient {
    let fd: Int32
    private var pending: [UInt8] = []

    init(host: String, port: Int) throws {
        fd = try connectedSocket(host: host, port: port, type: Int32(SOCK_STREAM.rawValue))
    }

    deinit { close(fd) }

    func send(_ bytes: [UInt8]) throws {
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + off, $0.count - off, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw SocketError("send") }
            off += n
        }
    }

    /// Sends `message` with its 2-byte length prefix.
    func sendFramed(_ message: [UInt8]) throws {
        try send([UInt8(message.count >> 8), UInt8(message.count & 0xFF)] + message)
    }

    /// Reads more bytes into `pending`; false on EOF, error or deadline.
    private func fill(deadlineMs: Int64) -> Bool {
        guard waitReadable(fd, deadlineMs: deadlineMs) else { return false }
        var buf = [UInt8](repeating: 0, count: 65536)
        let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
        guard n > 0 else { return false }
        pending += buf[0..<n]
        return true
    }

    /// The next length-prefixed message, or nil on EOF / deadline.
    func receiveFramed(deadlineMs: Int64) -> [UInt8]? {
        while true {
            if pending.count >= 2 {
                let len = Int(pending[0]) << 8 | Int(pending[1])
                if pending.count >= 2 + len {
                    let msg = Array(pending[2..<(2 + len)])
                    pending.removeFirst(2 + len)
                    return msg
                }
            }
            guard fill(deadlineMs: deadlineMs) else { return nil }
        }
    }

    /// True if the server closes the connection (EOF or reset) before the deadline; data is discarded.
    func waitForClose(deadlineMs: Int64) -> Bool {
        var buf = [UInt8](repeating: 0, count: 4096)
        while waitReadable(fd, deadlineMs: deadlineMs) {
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if n == 0 { return true }
            if n < 0 {
                if errno == EAGAIN || errno == EINTR { continue }
                return true
            }
        }
        return false
    }
}

/// A DNS query for example.com/A/IN with the given id (RD set).
func makeQuery(id: UInt16) -> [UInt8] {
    var q: [UInt8] = [UInt8(id >> 8), UInt8(id & 0xFF), 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]
    q += [7] + Array("example".utf8) + [3] + Array("com".utf8) + [0]
    q += [0, 1, 0, 1]
    return q
}

func messageID(_ m: [UInt8]) -> UInt16 { UInt16(m[0]) << 8 | UInt16(m[1]) }

/// True if the OS lets us bind a UDP socket to ::1.
func ipv6LoopbackAvailable() -> Bool {
    let fd = socket(AF_INET6, Int32(SOCK_DGRAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    guard var peer = try? PeerAddress(host: "::1", port: 0) else { return false }
    let len = peer.length
    let rc = withUnsafePointer(to: &peer.storage) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) }
    }
    return rc == 0
}

/// True if a plain UDP socket (no SO_REUSEPORT) can bind host:port, i.e. nobody holds it.
func canBindUDP(host: String, port: Int) -> Bool {
    guard var peer = try? PeerAddress(host: host, port: port) else { return false }
    let fd = socket(peer.family, Int32(SOCK_DGRAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    let len = peer.length
    let rc = withUnsafePointer(to: &peer.storage) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) }
    }
    return rc == 0
}

/// A TCP listener on 127.0.0.1 with an OS-chosen port (to provoke a bind conflict).
final class TCPBlocker {
    let fd: Int32
    let port: Int

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw SocketError("socket") }
        var peer = try PeerAddress(host: "127.0.0.1", port: 0)
        let len = peer.length
        let rc = withUnsafePointer(to: &peer.storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) }
        }
        guard rc == 0, listen(fd, 4) == 0 else {
            let e = errno
            close(fd)
            throw SocketError("bind", e)
        }
        var sin = sockaddr_in()
        var slen = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &sin) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &slen) }
        }
        self.fd = fd
        port = Int(UInt16(bigEndian: sin.sin_port))
    }

    deinit { close(fd) }
}
