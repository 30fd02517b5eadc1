import FoundationEssentials
import Glibc
import Logging
import Synchronization

/// One log line per event, readable in a terminal and in the journal:
/// `notice failover switch service=www.lab.example. from=primary to=standby ttl=5` (metadata sorted,
/// values with spaces quoted). Under systemd (`JOURNAL_STREAM` set) each line starts with the syslog
/// priority (`<5>`) so `journalctl -p notice` filters by level, and no timestamp (the journal adds one);
/// elsewhere it starts with an ISO 8601 timestamp.
public struct GtmdLogHandler: LogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    let journal: Bool
    let sink: @Sendable (String) -> Void

    public init(
        level: Logger.Level,
        journal: Bool = getenv("JOURNAL_STREAM") != nil,  // not `ProcessInfo.environment`: a dictionary per logger
        sink: @escaping @Sendable (String) -> Void = GtmdLogHandler.standardError
    ) {
        self.logLevel = level
        self.journal = journal
        self.sink = sink
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// syslog priorities (RFC 5424) for swift-log levels.
    static func priority(_ l: Logger.Level) -> Int {
        switch l {
        case .trace, .debug: return 7
        case .info: return 6
        case .notice: return 5
        case .warning: return 4
        case .error: return 3
        case .critical: return 2
        }
    }

    public func log(event: LogEvent) {
        var all = metadata
        if let m = event.metadata { all.merge(m) { $1 } }
        // Appended, not `joined(separator:)`: the generic join's first use costs ~0.3 ms of type look-ups.
        var body = event.level.rawValue + " \(event.message)"
        for (key, value) in all.sorted(by: { $0.key < $1.key }) {
            body += " " + key + "=" + GtmdLogHandler.quote("\(value)")
        }
        if journal {
            sink("<\(GtmdLogHandler.priority(event.level))>\(body)\n")
        } else {
            sink("\(GtmdLogHandler.timestamp()) \(body)\n")
        }
    }

    /// The time now as ISO 8601 in UTC to the second (`2026-11-30T04:42:42Z`, what `Date.ISO8601FormatStyle`
    /// writes), from `gmtime_r`: Foundation's formatter builds its calendar caches on the first line logged.
    static func timestamp(_ t: time_t = time(nil)) -> String {
        var tm = tm()
        var t = t
        gmtime_r(&t, &tm)
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        let year = Int(tm.tm_year) + 1900
        let y = year < 1000 ? String(repeating: "0", count: 4 - String(year).count) + String(year) : String(year)
        return "\(y)-\(two(tm.tm_mon + 1))-\(two(tm.tm_mday))T\(two(tm.tm_hour)):\(two(tm.tm_min)):\(two(tm.tm_sec))Z"
    }

    static func quote(_ v: String) -> String {
        guard v.isEmpty || v.contains(where: { $0 == " " || $0 == "\"" || $0 == "=" }) else { return v }
        var out = "\""
        out.reserveCapacity(v.utf8.count + 8)
        for c in v.unicodeScalars {
            if c == "\\" || c == "\"" { out.unicodeScalars.append("\\") }
            out.unicodeScalars.append(c)
        }
        return out + "\""
    }

    private static let stderrLock = Mutex<Void>(())
    @Sendable public static func standardError(_ line: String) {
        stderrLock.withLock { _ in
            var bytes = Array(line.utf8)
            var done = 0
            while done < bytes.count {
                let n = bytes.withUnsafeMutableBytes { write(2, $0.baseAddress! + done, $0.count - done) }
                if n < 0, errno == EINTR { continue }
                guard n > 0 else { return }  // stderr gone: the line is lost, as FileHandle would lose it
                done += n
            }
        }
    }
}
