// in_addr and in6_addr reach Swift through the CMaxMindDB module (its header includes <netinet/in.h> first).
import CMaxMindDB
import Glibc

/// An IPv4 or IPv6 address literal, parsed with inet_pton.
public enum IPAddress: Hashable, Sendable, CustomStringConvertible {
    case v4([UInt8])
    case v6([UInt8])

    public static func parse(_ text: String) -> IPAddress? {
        var b4 = in_addr()
        if inet_pton(AF_INET, text, &b4) == 1 {
            return .v4(withUnsafeBytes(of: &b4) { Array($0) })
        }
        var b6 = in6_addr()
        if inet_pton(AF_INET6, text, &b6) == 1 {
            return .v6(withUnsafeBytes(of: &b6) { Array($0) })
        }
        return nil
    }

    public var bytes: [UInt8] {
        switch self {
        case .v4(let b), .v6(let b): return b
        }
    }

    public var description: String {
        var buf = [CChar](repeating: 0, count: 64)
        switch self {
        case .v4(var b): _ = b.withUnsafeMutableBytes { inet_ntop(AF_INET, $0.baseAddress, &buf, 64) }
        case .v6(var b): _ = b.withUnsafeMutableBytes { inet_ntop(AF_INET6, $0.baseAddress, &buf, 64) }
        }
        return String(decoding: buf.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
