import CLdns

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

// Thin wrappers over libldns. Every ldns object made here is freed here; no ldns pointer leaves this
// file's internal API (CLdns is a DNSWire-only dependency).

/// A record's text that ldns could not turn into a resource record.
public struct RecordParseError: Error, Sendable, Equatable, CustomStringConvertible {
    /// ldns's status text (`ldns_get_errorstr_by_id`), or a short message for checks made here.
    public var status: String
    /// The text that was handed to the parser.
    public var text: String

    public init(status: String, text: String) {
        self.status = status
        self.text = text
    }

    public var description: String { "\(status): '\(text)'" }
}

/// Presentation-format records through ldns (`ldns_rr_new_frm_str`, `ldns_rr2str`).
public enum LdnsRR {
    /// Parses one record in presentation format, on one line (no parentheses, no comments):
    /// `owner [ttl] [class] type rdata`. Relative names (owner and rdata) are taken relative to `origin`
    /// and `@` is the origin; RFC 3597 `TYPEnnn` / `\# len hex` forms are accepted.
    /// A missing TTL becomes `defaultTTL` (ldns takes 0 to mean its own default, 3600, so pass an explicit
    /// TTL in the text when 0 is wanted). A missing owner (text starting with a blank) is `previousOwner`,
    /// or the origin when that is nil. The rdata is returned in uncompressed wire form.
    public static func parse(
        _ text: String,
        origin: DNSName,
        defaultTTL: UInt32,
        previousOwner: DNSName? = nil
    ) throws(RecordParseError) -> ResourceRecord {
        guard !text.utf8.contains(0) else { throw RecordParseError(status: "NUL byte in record text", text: text) }
        guard let originRdf = origin.makeLdnsRdf() else {
            throw RecordParseError(status: "out of memory", text: text)
        }
        defer { ldns_rdf_deep_free(originRdf) }
        var prev: UnsafeMutablePointer<ldns_rdf>? = previousOwner?.makeLdnsRdf()
        defer { if let p = prev { ldns_rdf_deep_free(p) } }
        var rr: UnsafeMutablePointer<ldns_rr>? = nil
        let status = ldns_rr_new_frm_str(&rr, text, defaultTTL, originRdf, &prev)
        guard status == LDNS_STATUS_OK, let rr else {
            if let rr { ldns_rr_free(rr) }
            throw RecordParseError(status: statusText(status), text: text)
        }
        defer { ldns_rr_free(rr) }
        guard let record = makeRecord(rr) else {
            throw RecordParseError(status: "ldns produced a record that cannot be converted", text: text)
        }
        return record
    }

    /// The record in presentation format, one line, fields separated by single spaces, e.g.
    /// `www.lab.example. 30 IN A 127.0.0.11`. Records whose rdata ldns cannot decode come out in
    /// RFC 3597 form (`TYPEnnn \# len hex`).
    public static func presentation(_ rr: ResourceRecord) -> String {
        guard let l = makeLdnsRR(rr) else { return genericPresentation(rr) }
        defer { ldns_rr_free(l) }
        guard let s = ldns_rr2str(l) else { return genericPresentation(rr) }
        defer { free(s) }
        return tidy(String(cString: s))
    }

    /// Only the rdata of `rr` in presentation format (`10 mail.lab.example.` for an MX).
    public static func rdataPresentation(_ rr: ResourceRecord) -> String {
        guard let l = makeLdnsRR(rr) else { return genericRdata(rr.rdata) }
        defer { ldns_rr_free(l) }
        var parts: [String] = []
        for i in 0..<ldns_rr_rd_count(l) {
            guard let rdf = ldns_rr_rdf(l, i), let s = ldns_rdf2str(rdf) else { return genericRdata(rr.rdata) }
            parts.append(tidy(String(cString: s)))
            free(s)
        }
        return parts.joined(separator: " ")
    }

    /// The type's mnemonic as ldns knows it (`A`, `SSHFP`, `TYPE65280`).
    public static func typeName(_ type: UInt16) -> String {
        guard let s = ldns_rr_type2str(ldns_rr_type(rawValue: UInt32(type))) else { return "TYPE\(type)" }
        defer { free(s) }
        return String(cString: s)
    }

    /// The type for a mnemonic or `TYPEnnn` (case-insensitive); nil when ldns does not know it.
    public static func typeValue(_ name: String) -> UInt16? {
        guard !name.isEmpty, !name.utf8.contains(0) else { return nil }
        let t = ldns_get_rr_type_by_name(name).rawValue
        guard t != 0 || name.uppercased() == "TYPE0", t <= UInt32(UInt16.max) else { return nil }
        return UInt16(t)
    }

    /// The class for a mnemonic (`IN`, `CH`, `HS`, `NONE`, `ANY`) or `CLASSnnn`; nil when unknown.
    public static func classValue(_ name: String) -> UInt16? {
        guard !name.isEmpty, !name.utf8.contains(0) else { return nil }
        let c = ldns_get_rr_class_by_name(name).rawValue
        guard c != 0 || name.uppercased() == "CLASS0", c <= UInt32(UInt16.max) else { return nil }
        return UInt16(c)
    }

    /// The class's mnemonic (`IN`, `CH`, `CLASS42`).
    public static func className(_ rrClass: UInt16) -> String {
        guard let s = ldns_rr_class2str(ldns_rr_class(rawValue: UInt32(rrClass))) else { return "CLASS\(rrClass)" }
        defer { free(s) }
        return String(cString: s)
    }

    // MARK: - internals

    static func statusText(_ s: ldns_status) -> String {
        guard let p = ldns_get_errorstr_by_id(s) else { return "ldns status \(s.rawValue)" }
        return String(cString: p)
    }

    /// ldns text uses tabs between fields and ends in a newline; inside quoted strings it writes tabs raw.
    /// Fields get single spaces, tabs in strings become `\009`, the newline goes.
    static func tidy(_ s: String) -> String {
        var out: [UInt8] = []
        var inQuotes = false
        var escaped = false
        for c in s.utf8 {
            if escaped {
                out.append(c)
                escaped = false
                continue
            }
            switch c {
            case UInt8(ascii: "\\"):
                escaped = true
                out.append(c)
            case UInt8(ascii: "\""):
                inQuotes.toggle()
                out.append(c)
            case 0x09: out.append(contentsOf: inQuotes ? Array("\\009".utf8) : [0x20])
            case 0x0A where !inQuotes: break
            default: out.append(c)
            }
        }
        while out.last == 0x20 { out.removeLast() }
        return String(decoding: out, as: UTF8.self)
    }

    /// Copies an ldns rr into a ResourceRecord (rdata uncompressed, via `ldns_rr_rdata2buffer_wire`).
    static func makeRecord(_ rr: UnsafeMutablePointer<ldns_rr>) -> ResourceRecord? {
        guard let ownerRdf = ldns_rr_owner(rr), let owner = DNSName(wire: rdfBytes(ownerRdf)) else { return nil }
        guard let buf = ldns_buffer_new(512) else { return nil }
        defer { ldns_buffer_free(buf) }
        guard ldns_rr_rdata2buffer_wire(buf, rr) == LDNS_STATUS_OK else { return nil }
        let n = ldns_buffer_position(buf)
        guard n <= 65535 else { return nil }
        var rdata: [UInt8] = []
        if n > 0, let base = ldns_buffer_begin(buf) {
            rdata = Array(UnsafeBufferPointer(start: base, count: n))
        }
        let t = ldns_rr_get_type(rr).rawValue
        let c = ldns_rr_get_class(rr).rawValue
        guard t <= UInt32(UInt16.max), c <= UInt32(UInt16.max) else { return nil }
        return ResourceRecord(owner: owner, type: UInt16(t), rrClass: UInt16(c), ttl: ldns_rr_ttl(rr), rdata: rdata)
    }

    /// An ldns rr decoded from the record's wire form; caller frees. Nil when ldns rejects the rdata.
    static func makeLdnsRR(_ rr: ResourceRecord) -> UnsafeMutablePointer<ldns_rr>? {
        guard rr.rdata.count <= 65535 else { return nil }
        let wire = rr.wireForm()
        var out: UnsafeMutablePointer<ldns_rr>? = nil
        var pos = 0
        let st = wire.withUnsafeBufferPointer {
            ldns_wire2rr(&out, $0.baseAddress, $0.count, &pos, LDNS_SECTION_ANSWER)
        }
        guard st == LDNS_STATUS_OK, let out else {
            if let out { ldns_rr_free(out) }
            return nil
        }
        guard pos == wire.count else {
            ldns_rr_free(out)
            return nil
        }
        return out
    }

    static func rdfBytes(_ rdf: UnsafePointer<ldns_rdf>) -> [UInt8] {
        let n = ldns_rdf_size(rdf)
        guard n > 0, let d = ldns_rdf_data(rdf) else { return [] }
        return Array(UnsafeBufferPointer(start: d, count: n))
    }

    static func genericRdata(_ rdata: [UInt8]) -> String {
        "\\# \(rdata.count)" + (rdata.isEmpty ? "" : " " + hex(rdata))
    }

    static func genericPresentation(_ rr: ResourceRecord) -> String {
        "\(rr.owner) \(rr.ttl) \(className(rr.rrClass)) \(typeName(rr.type)) \(genericRdata(rr.rdata))"
    }

    static func hex(_ b: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(b.count * 2)
        for x in b {
            out.append(digits[Int(x >> 4)])
            out.append(digits[Int(x & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

extension DNSName {
    /// A fresh ldns dname rdf holding this name; the caller frees it with `ldns_rdf_deep_free`.
    func makeLdnsRdf() -> UnsafeMutablePointer<ldns_rdf>? {
        wire.withUnsafeBytes { ldns_rdf_new_frm_data(LDNS_RDF_TYPE_DNAME, $0.count, $0.baseAddress) }
    }
}

extension ResourceRecord {
    /// The whole record in uncompressed wire form: owner, type, class, TTL, rdlength, rdata.
    public func wireForm() -> [UInt8] {
        var w = owner.wire
        w.reserveCapacity(w.count + 10 + rdata.count)
        w.append(UInt8(type >> 8))
        w.append(UInt8(type & 0xff))
        w.append(UInt8(rrClass >> 8))
        w.append(UInt8(rrClass & 0xff))
        w.append(UInt8(ttl >> 24))
        w.append(UInt8((ttl >> 16) & 0xff))
        w.append(UInt8((ttl >> 8) & 0xff))
        w.append(UInt8(ttl & 0xff))
        let n = min(rdata.count, 65535)
        w.append(UInt8(n >> 8))
        w.append(UInt8(n & 0xff))
        w.append(contentsOf: rdata.prefix(n))
        return w
    }
}
