import HealthModel

/// A plain HTTP probe that judges the status only, done on the probe thread (`ProbeLoop`) with non-blocking
/// system calls instead of a NIO channel: the request goes out once the connect ends, and the response is read
/// until its header block is complete. HTTPS checks, checks of a host name and checks of the body text go
/// through NIO (`Prober`); the request is the same (`ResolvedCheck.requestHeaders`), and so are the reasons.
struct HTTPStatusExchange {
    /// The most response bytes read before the header block must have ended.
    static let maxHeaderBytes = 16 * 1024

    let request: [UInt8]
    let expect: StatusRanges
    var sent = 0
    var connected = false
    var response: [UInt8] = []

    init(_ check: ResolvedCheck) {
        var text = "\(check.spec.method == .head ? "HEAD" : "GET") \(check.path) HTTP/1.1\r\n"
        for (name, value) in check.requestHeaders { text += "\(name): \(value)\r\n" }
        text += "\r\n"
        request = Array(text.utf8)
        expect = check.spec.expectStatus
    }

    /// A result's reason, `status CODE`. The codes a healthy backend answers are literals: formatting the number
    /// at every probe ran the standard library's integer and string code, whose one unsplittable section kept
    /// 64 KiB windows of an idle server's code resident for it.
    static func reason(_ code: Int) -> String {
        switch code {
        case 200: "status 200"
        case 204: "status 204"
        case 301: "status 301"
        case 302: "status 302"
        default: "status \(code)"
        }
    }

    /// What the response read so far says: nil while its header block has not all arrived.
    enum Verdict: Equatable {
        case status(Int)
        case invalid(String)
    }

    var verdict: Verdict? { Self.verdict(of: response) }

    /// The status of an HTTP/1.x response once its header block has ended (an empty line, CRLF or LF);
    /// nil before. A status line that is not `HTTP/1.<digit> <three digits>` followed by a space or the line's
    /// end is invalid; so is a header block over `maxHeaderBytes`. Header lines are not judged: the status is
    /// the verdict.
    static func verdict(of bytes: [UInt8]) -> Verdict? {
        guard let end = headerEnd(bytes) else {
            return bytes.count > maxHeaderBytes ? .invalid("headers over \(maxHeaderBytes) bytes") : nil
        }
        guard end <= maxHeaderBytes else { return .invalid("headers over \(maxHeaderBytes) bytes") }
        // "HTTP/1.1 200" is 12 bytes; the line ends at the first LF.
        let line = bytes[..<(bytes[..<end].firstIndex(of: 0x0A) ?? end)]
        let prefix: [UInt8] = Array("HTTP/1.".utf8)
        guard line.count >= 12, line.starts(with: prefix) else { return .invalid("status line") }
        let b = line.startIndex
        guard isDigit(line[b + 7]), line[b + 8] == 0x20,
            isDigit(line[b + 9]), isDigit(line[b + 10]), isDigit(line[b + 11])
        else { return .invalid("status line") }
        if line.count > 12, line[b + 12] != 0x20, line[b + 12] != 0x0D { return .invalid("status line") }
        let code = Int(line[b + 9] - 0x30) * 100 + Int(line[b + 10] - 0x30) * 10 + Int(line[b + 11] - 0x30)
        guard (100...599).contains(code) else { return .invalid("status \(code)") }
        return .status(code)
    }

    private static func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }

    /// The index just past the empty line that ends the header block, if it has arrived.
    static func headerEnd(_ bytes: [UInt8]) -> Int? {
        var i = 0
        while let lf = bytes[i...].firstIndex(of: 0x0A) {
            let next = lf + 1
            if next < bytes.count, bytes[next] == 0x0A { return next + 1 }
            if next + 1 < bytes.count, bytes[next] == 0x0D, bytes[next + 1] == 0x0A { return next + 2 }
            i = next
            if i >= bytes.count { break }
        }
        return nil
    }
}
