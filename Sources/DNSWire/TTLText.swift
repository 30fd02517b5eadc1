/// TTL values in master files and in the config's TTL fields: plain seconds (`300`) or BIND-style units (`1h30m`, `2d`, `1W`), RFC 2181 §8.
public enum TTLText {
    /// Largest TTL a zone may hold (RFC 2181 §8: 2^31 - 1).
    public static let max: UInt64 = 2_147_483_647

    /// The value in seconds, or nil when `s` is not a TTL. Values above `max` are returned as they are
    /// (capped at UInt32.max + 1) so the caller can say what was too big.
    public static func parse(_ s: String) -> UInt64? {
        var s = s
        return s.withUTF8 { parse(bytes: $0) }
    }

    /// `parse` of the text's bytes (a zone file's token, without a `String` made for it).
    public static func parse(bytes: UnsafeBufferPointer<UInt8>) -> UInt64? {
        guard let first = bytes.first, first >= 0x30 && first <= 0x39 else { return nil }
        let cap: UInt64 = UInt64(UInt32.max) + 1
        var total: UInt64 = 0
        var number: UInt64 = 0
        var haveDigits = false
        var sawUnit = false
        for c in bytes {
            if c >= 0x30 && c <= 0x39 {
                number = Swift.min(number * 10 + UInt64(c - 0x30), cap)
                haveDigits = true
                continue
            }
            guard haveDigits else { return nil }
            let mult: UInt64
            switch c | 0x20 {
            case UInt8(ascii: "s"): mult = 1
            case UInt8(ascii: "m"): mult = 60
            case UInt8(ascii: "h"): mult = 3600
            case UInt8(ascii: "d"): mult = 86400
            case UInt8(ascii: "w"): mult = 604800
            default: return nil
            }
            total = Swift.min(total + number * mult, cap)
            number = 0
            haveDigits = false
            sawUnit = true
        }
        if haveDigits { total = Swift.min(total + number, cap) } else if !sawUnit { return nil }
        return total
    }
}
