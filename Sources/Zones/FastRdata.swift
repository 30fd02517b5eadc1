import DNSWire

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The rdata of the commonest record types in big zones (A, AAAA, NS, CNAME, PTR, MX) read without a round trip
/// through ldns's text parser, only for inputs whose reading is not in doubt: an address that `inet_pton`
/// takes (what ldns calls for A and AAAA), names of plain characters (letters, digits, `-`, `_`, `*`, dots;
/// relative to the origin as ldns reads them), an MX preference of plain digits up to 65535. Anything else
/// (escapes, `@`, `\#` generic rdata, extra tokens, a bad value) returns nil and goes to ldns, which reads it or
/// reports the problem in its words. ldns still parses every other type. Tested against ldns record by record
/// (`FastRdataTests`).
enum FastRdata {
    static func parse(type: UInt16, _ tokens: ArraySlice<MasterFileLexer.Token>, origin: DNSName) -> [UInt8]? {
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
        default:
            return nil
        }
    }

    static func address(_ text: String, family: Int32, length: Int) -> [UInt8]? {
        var out = [UInt8](repeating: 0, count: length)
        let ok = out.withUnsafeMutableBytes { buf in
            text.withCString { inet_pton(family, $0, buf.baseAddress) }
        }
        return ok == 1 ? out : nil
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
