import DNSWire

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The rdata of the commonest record types in big zones (A, AAAA, NS, CNAME, PTR, MX, SRV, TXT) read without a
/// round trip through ldns's text parser, only for inputs whose reading is not in doubt: an address that
/// `inet_pton` takes (what ldns calls for A and AAAA; a dotted quad is read here by its rules), names of plain
/// characters (letters, digits, `-`, `_`, `*`, dots; relative to the origin as ldns reads them), an MX preference
/// and SRV numbers of plain digits up to 65535, TXT strings quoted, of printable ASCII without escapes (nor `;`,
/// `(`, `)`), 1 to 255 bytes each. Anything else (escapes, `@`, `\#` generic rdata, extra tokens, a bad value)
/// returns nil and goes to ldns, which reads it or reports the problem in its words. ldns still parses every other
/// type. Tested against ldns record by record (`FastRdataTests`).
enum FastRdata {
    /// The rdata of entry `e`'s tokens from `from` on, or nil for ldns to read.
    static func parse(type: UInt16, _ e: MasterFileLexer.Entry, from: Int, origin: DNSName) -> [UInt8]? {
        e.bytes.withUnsafeBufferPointer { buf in
            parse(type: type, e.tokens[from...], buf, origin: origin)
        }
    }

    static func parse(
        type: UInt16,
        _ tokens: ArraySlice<MasterFileLexer.Token>,
        _ buf: UnsafeBufferPointer<UInt8>,
        origin: DNSName
    ) -> [UInt8]? {
        func text(_ t: MasterFileLexer.Token) -> UnsafeBufferPointer<UInt8> {
            UnsafeBufferPointer(rebasing: buf[Int(t.start)..<Int(t.end)])
        }
        if type == RRType.TXT { return txt(tokens.map(text), quoted: tokens.allSatisfy(\.quoted)) }
        guard let first = tokens.first, !first.quoted else { return nil }
        switch type {
        case RRType.A:
            guard tokens.count == 1 else { return nil }
            return ipv4(text(first))
        case RRType.AAAA:
            guard tokens.count == 1 else { return nil }
            return address(text(first), family: AF_INET6, length: 16)
        case RRType.NS, RRType.CNAME, RRType.PTR:
            guard tokens.count == 1 else { return nil }
            return plainName(text(first), origin: origin)
        case RRType.MX:
            guard tokens.count == 2, let last = tokens.last, !last.quoted, let p = preference(text(first)),
                let name = plainName(text(last), origin: origin)
            else { return nil }
            var out: [UInt8] = []
            out.reserveCapacity(2 + name.count)
            out.append(UInt8(p >> 8))
            out.append(UInt8(p & 0xFF))
            out.append(contentsOf: name)
            return out
        case RRType.SRV:
            // Priority, weight, port, target.
            guard tokens.count == 4, let last = tokens.last, !last.quoted,
                let name = plainName(text(last), origin: origin)
            else { return nil }
            // Exactly its size: the rdata is kept for as long as the zone is served.
            var out: [UInt8] = []
            out.reserveCapacity(6 + name.count)
            for t in tokens.prefix(3) {
                guard !t.quoted, let v = preference(text(t)) else { return nil }
                out.append(UInt8(v >> 8))
                out.append(UInt8(v & 0xFF))
            }
            out.append(contentsOf: name)
            return out
        default:
            return nil
        }
    }

    /// TXT: quoted strings (`quoted`: every token is one) of printable ASCII without backslashes, each 1 to 255
    /// bytes.
    static func txt(_ tokens: [UnsafeBufferPointer<UInt8>], quoted: Bool) -> [UInt8]? {
        guard !tokens.isEmpty, quoted else { return nil }
        // Exactly its size (a length byte per string; the token's quotes are not kept).
        var out: [UInt8] = []
        out.reserveCapacity(tokens.reduce(0) { $0 + $1.count - 1 })
        for t in tokens {
            // The lexer writes a quoted token with both quotes.
            guard t.count >= 2, t[0] == UInt8(ascii: "\""), t[t.count - 1] == UInt8(ascii: "\"") else { return nil }
            let n = t.count - 2
            guard n >= 1 && n <= 255 else { return nil }
            out.append(UInt8(n))
            for c in t[1..<(t.count - 1)] {
                guard
                    c >= 0x20 && c <= 0x7E && c != UInt8(ascii: "\\") && c != UInt8(ascii: ";")
                        && c != UInt8(ascii: "(") && c != UInt8(ascii: ")") && c != UInt8(ascii: "\"")
                else { return nil }
                out.append(c)
            }
        }
        return out
    }

    /// A dotted quad as `inet_pton(AF_INET)` reads it (what ldns calls): four decimal octets of at most 255,
    /// without a leading zero, nothing else; read here, as one in every few records of a big zone is an A record.
    static func ipv4(_ text: UnsafeBufferPointer<UInt8>) -> [UInt8]? {
        guard text.count >= 7 && text.count <= 15 else { return nil }
        var octets: UInt32 = 0
        var value: UInt32 = 0
        var digits = 0
        var dots = 0
        for c in text {
            if c >= 0x30 && c <= 0x39 {
                if digits == 1 && value == 0 { return nil }
                value = value * 10 + UInt32(c &- 0x30)
                guard value <= 255 else { return nil }
                digits += 1
            } else if c == UInt8(ascii: ".") && digits > 0 && dots < 3 {
                octets = octets << 8 | value
                value = 0
                digits = 0
                dots += 1
            } else {
                return nil
            }
        }
        guard dots == 3 && digits > 0 else { return nil }
        octets = octets << 8 | value
        return [
            UInt8(octets >> 24), UInt8(truncatingIfNeeded: octets >> 16), UInt8(truncatingIfNeeded: octets >> 8),
            UInt8(truncatingIfNeeded: octets),
        ]
    }

    static func address(_ text: UnsafeBufferPointer<UInt8>, family: Int32, length: Int) -> [UInt8]? {
        // The text NUL-terminated on the stack (the longest address inet_pton reads is 45 bytes), read into 16
        // bytes on the stack; the rdata is made by appending to an empty array, whose allocation is specialised for
        // UInt8 (`[UInt8](repeating:count:)` went through the unspecialised generic allocation, which looks the
        // storage class's metadata up on every call: 650 instructions an address).
        guard text.count < 64 else { return nil }
        var cText: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0)
        var buf: (UInt64, UInt64) = (0, 0)
        let ok = withUnsafeMutableBytes(of: &cText) { c in
            c.copyMemory(from: UnsafeRawBufferPointer(text))
            return withUnsafeMutableBytes(of: &buf) { b in
                inet_pton(family, c.baseAddress!.assumingMemoryBound(to: CChar.self), b.baseAddress)
            }
        }
        guard ok == 1 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(length)
        withUnsafeBytes(of: &buf) { out.append(contentsOf: UnsafeRawBufferPointer(rebasing: $0[0..<length])) }
        return out
    }

    static func preference(_ text: UnsafeBufferPointer<UInt8>) -> UInt16? {
        guard !text.isEmpty, text.count <= 5 else { return nil }
        var v = 0
        for c in text {
            guard c >= 0x30 && c <= 0x39 else { return nil }
            v = v * 10 + Int(c - 0x30)
        }
        return v <= 65535 ? UInt16(v) : nil
    }

    static func plainName(_ text: UnsafeBufferPointer<UInt8>, origin: DNSName) -> [UInt8]? {
        for c in text {
            let plain =
                (c >= 0x61 && c <= 0x7A) || (c >= 0x41 && c <= 0x5A) || (c >= 0x30 && c <= 0x39)
                || c == UInt8(ascii: "-") || c == UInt8(ascii: "_") || c == UInt8(ascii: "*") || c == UInt8(ascii: ".")
            guard plain else { return nil }
        }
        guard let name = try? DNSName(presentation: text, origin: origin) else { return nil }
        return name.wire
    }
}
