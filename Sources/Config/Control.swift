import Foundation
import Yams

/// The control listener (the `control:` section): HTTP on loopback for /metrics, /status, /explain,
/// /v1/overrides, /healthz and /readyz.
/// Invariant: `listen` is nil (disabled) or a valid address; `tokenFile` is absolute when set.
public struct ControlSettings: Sendable, Equatable {
    public static let defaultListen = ListenAddress(host: "127.0.0.1", port: 8053)
    /// nil: no control listener.
    public var listen: ListenAddress? = ControlSettings.defaultListen
    /// File holding the bearer token that mutating requests must present; nil: mutating requests are refused.
    public var tokenFile: String? = nil
    public init() {}

    /// Parses `ADDR:PORT`, `[V6]:PORT`, or `off` (disabled). Nil when the text is neither.
    public static func parseListen(_ text: String) -> ListenAddress?? {
        if ["off", "false", "no", "none"].contains(text.lowercased()) { return .some(nil) }
        guard let a = ListenAddress.parse(text) else { return nil }
        return .some(a)
    }
}

extension ConfigLoader {
    /// Reads `control: { listen: ADDR:PORT | off, token_file: PATH }`.
    static func readControl(_ root: [String: Node], _ r: YAMLReader, _ out: inout ControlSettings, baseDirectory: String) {
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
                if let a = ListenAddress.parse(text) { out.listen = a } else {
                    r.problem(l, "control.listen", "'\(text)' is not an address:port or off (examples: 127.0.0.1:8053, [::1]:8053)")
                }
            }
        }
        if let t = r.string(c["token_file"], "control.token_file") {
            if t.isEmpty {
                r.problem(c["token_file"], "control.token_file", "must not be empty (leave the key out to refuse mutating requests)")
            } else {
                out.tokenFile = t.hasPrefix("/") ? t : (baseDirectory as NSString).appendingPathComponent(t)
            }
        }
    }
}
