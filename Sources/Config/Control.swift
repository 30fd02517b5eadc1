import ConfigText
import DNSWire
import FoundationEssentials
import Glibc

/// The control listener (the `control:` section): HTTP on loopback for /metrics, /status, /explain,
/// /v1/overrides, /healthz and /readyz.
/// Invariant: `listen` is nil (disabled) or a valid address; `tokenFile` is absolute when set.
public struct ControlSettings: Sendable, Equatable {
    public static let defaultListen = ListenAddress(host: "127.0.0.1", port: 8053)
    /// nil: no control listener.
    public var listen: ListenAddress? = ControlSettings.defaultListen
    /// File holding the bearer token that mutating requests must present; nil: mutating requests are refused.
    public var tokenFile: String? = nil
    /// Line of `control.token_file` in the config (for problems found after parsing).
    public var tokenFileLine: Int? = nil
    public init() {}

    /// Where the token is read from: under systemd the unit hands the token file over with `LoadCredential=`
    /// (the service user cannot read /etc/gtmd/control.token itself), so `$CREDENTIALS_DIRECTORY/<file name>`
    /// wins when it exists; else the configured path.
    public static func tokenPath(
        _ configured: String,
        environment: ProcessEnvironment = .current
    ) -> String {
        if let dir = environment["CREDENTIALS_DIRECTORY"] {
            let candidate = FilePaths.join(dir, FilePaths.lastComponent(configured))
            if FilePaths.exists(candidate) { return candidate }
        }
        return configured
    }

    /// Why the token file cannot serve (missing, unreadable by this user, not a file, empty); nil when it can.
    /// Checked by `gtmd check`, at start-up and on reload (not by the CLI clients, which may run as users
    /// that cannot read it).
    public func tokenFileProblem(environment: ProcessEnvironment = .current) -> String? {
        guard let configured = tokenFile else { return nil }
        switch ControlSettings.readTokenFile(ControlSettings.tokenPath(configured, environment: environment)) {
        case .token: return nil
        case .empty(let problem), .unreadable(let problem): return problem
        }
    }

    /// A token file holds one line; a larger file is not one (and is not read whole).
    public static let tokenFileMaxBytes = 65_536

    /// What a token file gives: the token, or why it gives none (the text names the file).
    public enum TokenFile: Equatable, Sendable {
        case token(String)
        case empty(String)
        case unreadable(String)
    }

    /// Reads the token at `path` (its text without surrounding space and line ends): the start-up check's and
    /// every mutating request's one way to read it. A FIFO or device is refused, not read.
    public static func readTokenFile(_ path: String) -> TokenFile {
        switch BoundedFile.read(path, maxBytes: tokenFileMaxBytes) {
        case .bytes(let bytes):
            let token = String(decoding: bytes, as: UTF8.self).trimmedSpace(newlines: true)
            return token.isEmpty ? .empty("'\(path)' is empty") : .token(token)
        case .missing: return .unreadable("'\(path)' does not exist (create it with a random token, mode 0600)")
        case .directory: return .unreadable("'\(path)' is a directory")
        case .notRegular: return .unreadable("'\(path)' is not a regular file (a FIFO, device or socket)")
        case .tooBig(let size):
            let what = size.map { "\($0) bytes" } ?? "over the limit"
            return .unreadable("'\(path)' is \(what): a token file holds one line (limit \(tokenFileMaxBytes) bytes)")
        case .unreadable(let reason):
            return .unreadable("'\(path)' cannot be read by this user (uid \(getuid())): \(reason)")
        }
    }

    /// Parses `ADDR:PORT`, `[V6]:PORT`, or `off` (disabled). Nil when the text is neither.
    public static func parseListen(_ text: String) -> ListenAddress?? {
        if ["off", "false", "no", "none"].contains(text.lowercased()) { return .some(nil) }
        guard let a = ListenAddress.parse(text) else { return nil }
        return .some(a)
    }
}

extension ConfigLoader {
    /// Reads `control: { listen: ADDR:PORT | off, token_file: PATH }`.
    static func readControl(
        _ root: [String: Node],
        _ r: YAMLReader,
        _ out: inout ControlSettings,
        baseDirectory: String
    ) {
        guard let node = root["control"] else { return }
        if case .scalar(let s) = node, ["off", "false", "no"].contains(s.string.lowercased()) {
            out.listen = nil
            return
        }
        guard let c = r.mapping(node, "control", allowed: controlKeys) else { return }
        if let l = c["listen"] {
            if case .scalar(let s) = l, ["off", "false", "no"].contains(s.string.lowercased()) {
                out.listen = nil
            } else if let text = r.string(l, "control.listen") {
                if let a = ListenAddress.parse(text) {
                    out.listen = a
                } else {
                    r.problem(
                        l,
                        "control.listen",
                        "'\(text)' is not an address:port or off (examples: 127.0.0.1:8053, [::1]:8053)"
                    )
                }
            }
        }
        if let t = r.string(c["token_file"], "control.token_file") {
            if t.isEmpty {
                r.problem(
                    c["token_file"],
                    "control.token_file",
                    "must not be empty (leave the key out to refuse mutating requests)"
                )
            } else {
                out.tokenFile = FilePaths.resolve(t, in: baseDirectory)
                out.tokenFileLine = c["token_file"]?.mark?.line
            }
        }
    }
}
