import Foundation
import Glibc

public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: [String: String]
    public var body: String
}

/// A minimal HTTP/1.1 client for tests (one request per connection, IPv4 literal, 10 s bound), independent
/// of gtmd's own client so the control listener is checked from outside.
public func httpRequest(
    _ host: String,
    _ port: Int,
    _ method: String,
    _ target: String,
    headers: [String: String] = [:],
    body: String? = nil,
    raw: [UInt8]? = nil
) throws -> HTTPResponse {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw TestError.failed("socket: \(errno)") }
    defer { close(fd) }
    var tv = timeval(tv_sec: 10, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    var sa = sockaddrIn(host, port)
    let ok = withUnsafePointer(to: &sa) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
        }
    }
    guard ok == 0 else { throw TestError.failed("connect \(host):\(port): errno \(errno)") }
    var request: [UInt8]
    if let raw {
        request = raw
    } else {
        var head = "\(method) \(target) HTTP/1.1\r\nHost: \(host):\(port)\r\nConnection: close\r\n"
        for (k, v) in headers { head += "\(k): \(v)\r\n" }
        if let body { head += "Content-Length: \(body.utf8.count)\r\n" }
        request = Array((head + "\r\n" + (body ?? "")).utf8)
    }
    var sent = 0
    while sent < request.count {
        let n = request[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        if n <= 0 { break }  // the server may close early (limits); read what it answered
        sent += n
    }
    var data: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 16384)
    for _ in 0..<100_000 {
        let n = recv(fd, &buf, buf.count, 0)
        if n <= 0 { break }
        data += buf[0..<n]
    }
    let text = String(decoding: data, as: UTF8.self)
    guard let split = text.range(of: "\r\n\r\n") else { throw TestError.failed("not an HTTP response: '\(text)'") }
    let lines = text[..<split.lowerBound].components(separatedBy: "\r\n")
    guard let status = Int(lines[0].split(separator: " ").dropFirst().first ?? "") else {
        throw TestError.failed("bad status line '\(lines[0])'")
    }
    var hs: [String: String] = [:]
    for l in lines.dropFirst() {
        if let c = l.firstIndex(of: ":") {
            hs[l[..<c].lowercased()] = l[l.index(after: c)...].trimmingCharacters(in: .whitespaces)
        }
    }
    return HTTPResponse(status: status, headers: hs, body: String(text[split.upperBound...]))
}

/// Prometheus text exposition → sample name with labels (as written) → value.
public func parsePrometheus(_ text: String) throws -> [String: Double] {
    var out: [String: Double] = [:]
    for line in text.split(separator: "\n") where !line.hasPrefix("#") && !line.isEmpty {
        guard let space = line.lastIndex(of: " "), let v = Double(line[line.index(after: space)...]) else {
            throw TestError.failed("bad metrics line '\(line)'")
        }
        out[String(line[..<space])] = v
    }
    return out
}

/// A long-lived HTTP response read as it arrives (an event stream): the request is sent at once, `text` is what
/// has arrived so far, `waitFor` polls it with a deadline. IPv4 literal only; closed on deinit.
public final class HTTPStream: @unchecked Sendable {  // used from one test at a time
    let fd: Int32
    public private(set) var text = ""

    public init(_ host: String, _ port: Int, _ target: String, headers: [String: String] = [:]) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestError.failed("socket: \(errno)") }
        var sa = sockaddrIn(host, port)
        let ok = withUnsafePointer(to: &sa) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard ok == 0 else {
            close(fd)
            throw TestError.failed("connect \(host):\(port): errno \(errno)")
        }
        var head = "GET \(target) HTTP/1.1\r\nHost: \(host):\(port)\r\nAccept: text/event-stream\r\n"
        for (k, v) in headers { head += "\(k): \(v)\r\n" }
        let bytes = Array((head + "\r\n").utf8)
        _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    /// Reads whatever arrives within `ms` milliseconds; false once the server closed.
    @discardableResult
    public func poll(ms: Int32) -> Bool {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard Glibc.poll(&p, 1, ms) > 0 else { return true }
        var buf = [UInt8](repeating: 0, count: 16384)
        let n = recv(fd, &buf, buf.count, 0)
        if n <= 0 { return false }
        text += String(decoding: buf[0..<n], as: UTF8.self)
        return true
    }

    /// Polls until `condition(text)` holds; throws after `timeout` seconds or when the server closes first.
    @discardableResult
    public func waitFor(_ what: String, timeout: Double, _ condition: (String) -> Bool) throws -> Double {
        let start = Date()
        for _ in 0..<1_000_000 {
            if condition(text) { return Date().timeIntervalSince(start) }
            if Date().timeIntervalSince(start) > timeout { throw TestError.timeout("\(what); got:\n\(text)") }
            if !poll(ms: 50), !condition(text) { throw TestError.failed("\(what): the stream closed; got:\n\(text)") }
        }
        throw TestError.timeout(what)
    }

    deinit { close(fd) }
}
