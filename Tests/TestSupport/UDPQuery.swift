import DNSWire
import Foundation

/// One DNS query over UDP to an IPv4 loopback address, without spawning dig (for tight deadlines).
public enum UDPQuery {
    /// The reply's A records as dotted quads, or nil when no reply came within `timeout` seconds.
    public static func addresses(
        _ name: String,
        host: String = "127.0.0.1",
        port: Int,
        id: UInt16 = 7,
        timeout: Double = 1
    ) -> [String]? {
        var q = QueryBuilder(name, RRType.A)
        q.id = id
        guard let reply = ask(q.bytes, host: host, port: port, timeout: timeout),
            let p = LdnsRR.parsePacket(reply), p.id == id
        else { return nil }
        return p.answer.filter { $0.type == RRType.A }.map { LdnsRR.rdataPresentation($0) }
    }

    /// Sends `query`, returns the first datagram that comes back (nil on timeout).
    public static func ask(_ query: [UInt8], host: String, port: Int, timeout: Double) -> [UInt8]? {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var tv = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - Double(Int(timeout))) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var sa = sockaddrIn(host, port)
        let sent = query.withUnsafeBytes { q in
            withUnsafePointer(to: &sa) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(fd, q.baseAddress, q.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        }
        guard sent == query.count else { return nil }
        var buf = [UInt8](repeating: 0, count: 65535)
        let n = recv(fd, &buf, buf.count, 0)
        return n > 0 ? Array(buf[0..<n]) : nil
    }
}
