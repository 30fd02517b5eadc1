import Logging
import Synchronization

/// A swift-log handler that keeps every line (`level message key=value ...`, keys sorted) for assertions.
public final class LogCapture: Sendable {
    private let lines = Mutex<[String]>([])
    public init() {}

    public var all: [String] { lines.withLock { $0 } }
    public func clear() { lines.withLock { $0.removeAll() } }
    /// Lines containing every one of `parts`.
    public func matching(_ parts: String...) -> [String] { all.filter { l in parts.allSatisfy { l.contains($0) } } }

    public func logger(level: Logger.Level = .debug) -> Logger {
        Logger(label: "test") { _ in Handler(capture: self, logLevel: level) }
    }

    func append(_ s: String) { lines.withLock { $0.append(s) } }

    struct Handler: LogHandler {
        let capture: LogCapture
        var logLevel: Logger.Level
        var metadata: Logger.Metadata = [:]
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            var all = metadata
            if let m = event.metadata { all.merge(m) { $1 } }
            let fields = all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
            capture.append(([event.level.rawValue, "\(event.message)"] + fields).joined(separator: " "))
        }
    }
}
