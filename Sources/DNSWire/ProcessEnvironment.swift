#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Environment variables as gtmd reads them (`STATE_DIRECTORY`, `CREDENTIALS_DIRECTORY`, `NOTIFY_SOCKET`, ...):
/// the process's own, one `getenv` per name, or a fixed set written as a dictionary literal (tests).
/// `ProcessInfo.processInfo.environment` copied the whole environment into a dictionary for each of these
/// look-ups at start-up. gtmd never changes its own environment, so `getenv` is safe from any thread.
public struct ProcessEnvironment: Sendable, ExpressibleByDictionaryLiteral {
    /// nil: the process's own environment.
    let fixed: [String: String]?

    /// The process's own environment.
    public static let current = ProcessEnvironment(fixed: nil)

    init(fixed: [String: String]?) { self.fixed = fixed }

    public init(dictionaryLiteral elements: (String, String)...) {
        fixed = Dictionary(elements, uniquingKeysWith: { _, last in last })
    }

    public subscript(name: String) -> String? {
        if let fixed { return fixed[name] }
        return getenv(name).map { String(cString: $0) }
    }
}
