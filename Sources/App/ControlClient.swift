import Config
import Foundation
import Glibc

public struct ControlClientError: Error, CustomStringConvertible, Sendable {
    public var description: String
}

/// A small blocking HTTP/1.1 client for the control API (`gtmd status`, `explain`, `override`): one request
/// per connection, IP literals only (the listener is on loopback), bounded by a timeout.
public struct ControlClient: Sendable {
    public var address: ListenAddress
    public var token: String?
    public var timeout: Double

    public init(address: ListenAddress, token: String? = nil, timeout: Double = 5) {
        self.address = address; self.token = token; self.timeout = timeout
    }

    /// Parses `127.0.0.1:8053`, `[::1]:8053` or `http://127.0.0.1:8053[/]`.
    public static func parseTarget(_ text: String) -> ListenAddress? {
        var t = text
        if t.hasPrefix("http://") { t = String(t.dropFirst(7)) }
        while t.hasSuffix("/") { t = String(t.dropLast()) }
        return ListenAddress.parse(t)
    }

    public struct Response: Sendable {
        public var status: Int
        public var body: String
    }

    public func request(_ method: String, _ target: String, body: [UInt8]? = nil) throws(ControlClientError) -> Response {
        let v6 = address.host.contains(":")
        let fd = socket(v6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ControlClientError(description: "socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var tv = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - Double(Int(timeout))) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let ok: Int32
        if v6 {
            var sa = sockaddr_in6()
            sa.sin6_family = sa_family_t(AF_INET6)
            sa.sin6_port = in_port_t(UInt16(address.port).bigEndian)
            inet_pton(AF_INET6, address.host, &sa.sin6_addr)
            ok = withUnsafePointer(to: &sa) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) } }
        } else {
            var sa = sockaddr_in()
            sa.sin_family = sa_family_t(AF_INET)
            sa.sin_port = in_port_t(UInt16(address.port).bigEndian)
            inet_pton(AF_INET, address.host, &sa.sin_addr)
            ok = withUnsafePointer(to: &sa) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        }
        guard ok == 0 else {
            throw ControlClientError(description: "cannot reach the gtmd control API at \(address): \(String(cString: strerror(errno))) "
                                     + "(is gtmd running with its control listener there? see control.listen or --control)")
        }
        var head = "\(method) \(target) HTTP/1.1\r\nHost: \(address)\r\nConnection: close\r\nAccept: application/json\r\n"
        if let token { head += "Authorization: Bearer \(token)\r\n" }
        if let body { head += "Content-Type: application/json\r\nContent-Length: \(body.count)\r\n" }
        let bytes = Array((head + "\r\n").utf8) + (body ?? [])
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw ControlClientError(description: "\(address): send failed: \(String(cString: strerror(errno)))") }
            sent += n
        }
        var data: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 16384)
        while data.count < 64 << 20 {
            let n = recv(fd, &buf, buf.count, 0)
            if n == 0 { break }
            guard n > 0 else {
                throw ControlClientError(description: "\(address): no complete response within \(timeout)s: \(String(cString: strerror(errno)))")
            }
            data += buf[0..<n]
        }
        let text = String(decoding: data, as: UTF8.self)
        guard let split = text.range(of: "\r\n\r\n"), text.hasPrefix("HTTP/1."),
              let status = Int(text.split(separator: " ", maxSplits: 2).dropFirst().first ?? "") else {
            throw ControlClientError(description: "\(address): not an HTTP response")
        }
        return Response(status: status, body: String(text[split.upperBound...]))
    }
}
