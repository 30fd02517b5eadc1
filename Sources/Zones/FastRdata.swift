import DNSWire

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The rdata of the commonest record types in big zones (A, AAAA, NS, CNAME, PTR, MX, SRV, TXT) read without a round trip
/// through ldns's text parser, only for inputs whose reading is not in doubt: an address that `inet_pton`
/// takes (what ldns calls for A and AAAA), names of plain characters (letters, digits, `-`, `_`, `*`, dots;
/// relative to the origin as ldns reads them), an MX preference and SRV numbers of plain digits up to 65535, TXT
/// strings quoted, of printable ASCII without escapes (nor `;`, `(`, `)`), 1 to 255 bytes each. Anything else
/// (escapes, `@`, `\#` generic rdata, extra tokens, a bad value) returns nil and goes to ldns, which reads it or
/// reports the problem in its words. ldns still parses every other type. Tested against ldns record by record
/// (`FastRdataTests`).
enum FastRdata {
    static func parse(type: UInt16, _ tokens: ArraySlice<MasterFileLexer.Token>, origin: DNSName) -> [UInt8]? {
        if type == RRType.TXT { return txt(tokens) }
        guard let first = tokens.first, !first.quoted else { return nil }
        switch type {
        case RRType.A:
            guard tokens.count == 1 else { return nil }
            return address(first.text, family: AF_INET, length: 4)
        case RRType.AAAA:
            guard tokens.count == 1 else { return nil }
            return address(first.text, family: AF_INET6, length: 16)
        case RRType.NS, RRType.CNAME, RRType.PTR:
            guard tokens.count == 1 else { return nil }
            return plainName(first.text, origin: origin)
        case RRType.MX:
            guard tokens.count == 2, let last = tokens.last, !last.quoted, let p = preference(first.text),
                let name = plainName(last.text, origin: origin)
            else { return nil }
            return [UInt8(p >> 8), UInt8(p & 0xFF)] + name
        case RRType.SRV:
            // Priority, weight, port, target.
            guard tokens.count == 4, let last = tokens.last, !last.quoted,
                let name = plainName(last.text, origin: origin)
            else { return nil }
            // Exactly its size: the rdata is kept for as long as the zone is served.
            var out: [UInt8] = []
            out.reserveCapacity(6 + name.count)
            for t in tokens.prefix(3) {
                guard !t.quoted, let v = preference(t.text) else { return nil }
                out.append(UInt8(v >> 8))
                out.append(UInt8(v & 0xFF))
            }
            out.append(contentsOf: name)
            return out
        default:
            return nil
        }
    }

    /// TXT: quoted strings of printable ASCII without backslashes, each 1 to 255 bytes.
    static func txt(_ tokens: ArraySlice<MasterFileLexer.Token>) -> [UInt8]? {
        guard !tokens.isEmpty else { return nil }
        // Exactly its size (a length byte per string; the token's quotes are not kept).
        var out: [UInt8] = []
        out.reserveCapacity(tokens.reduce(0) { $0 + $1.text.utf8.count - 1 })
        for t in tokens {
            guard t.quoted else { return nil }
            let start = out.count
            out.append(0)
            var first = true
            for c in t.text.utf8 {
                if first {
                    first = false
                    continue
                }
                guard
                    c >= 0x20 && c <= 0x7E && c != UInt8(ascii: "\\") && c != UInt8(ascii: ";")
                        && c != UInt8(ascii: "(") && c != UInt8(ascii: ")")
                else { return nil }
                out.append(c)
            }
            // Drop the closing quote (the lexer always writes one).
            guard out.count > start + 1, out.removeLast() == UInt8(ascii: "\"") else { return nil }
            let n = out.count - start - 1
            guard n >= 1 && n <= 255 else { return nil }
            out[start] = UInt8(n)
        }
        return out
    }

    static func address(_ text: String, family: Int32, length: Int) -> [UInt8]? {
        // Read into 16 bytes on the stack; the rdata is made by appending to an empty array, whose allocation is
        // specialised for UInt8 (`[UInt8](repeating:count:)` went through the unspecialised generic allocation,
        // which looks the storage class's metadata up on every call: 650 instructions an address).
        var buf: (UInt64, UInt64) = (0, 0)
        let ok = withUnsafeMutableBytes(of: &buf) { b in text.withCString { inet_pton(family, $0, b.baseAddress) } }
        guard ok == 1 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(length)
        withUnsafeBytes(of: &buf) { out.append(contentsOf: UnsafeRawBufferPointer(rebasing: $0[0..<length])) }
        return out
    }

    static func preference(_ text: String) -> UInt16? {
        guard !text.isEmpty, text.utf8.count <= 5 else { return nil }
        var v = 0
        for c in text.utf8 {
            guard c >= 0x30 && c <= 0x39 else { return nil }
            v = v * 10 + Int(c - 0x30)
        }
        return v <= 65535 ? UInt16(v) : nil
    }

    static func plainName(_ text: String, origin: DNSName) -> [UInt8]? {
        for c in text.utf8 {
            let plain =
                (c >= 0x61 && c <= 0x7A) || (c >= 0x41 && c <= 0x5A) || (c >= 0x30 && c <= 0x39)
                || c == UInt8(ascii: "-") || c == UInt8(ascii: "_") || c == UInt8(ascii: "*") || c == UInt8(ascii: ".")
            guard plain else { return nil }
        }
        guard let name = try? DNSName(text, origin: origin) else { return nil }
        return name.wire
    }
}
