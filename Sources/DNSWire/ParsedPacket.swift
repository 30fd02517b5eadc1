import CLdns

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A DNS message decoded by ldns (`ldns_wire2pkt`), for tests that check responses: every field a
/// response test looks at, as plain values. The OPT pseudo-record is not in `additional`; it is `edns`.
public struct ParsedPacket: Sendable, Hashable {
    public struct Question: Sendable, Hashable {
        public var name: DNSName
        public var type: UInt16
        public var rrClass: UInt16
        /// The name in presentation form, e.g. `www.lab.example.`.
        public var nameText: String { name.description }
        public init(name: DNSName, type: UInt16, rrClass: UInt16) {
            self.name = name
            self.type = type
            self.rrClass = rrClass
        }
    }

    public struct Option: Sendable, Hashable {
        public var code: UInt16
        public var data: [UInt8]
        public init(code: UInt16, data: [UInt8]) {
            self.code = code
            self.data = data
        }
    }

    public struct EDNS: Sendable, Hashable {
        /// The OPT class field: the sender's UDP payload size.
        public var udpSize: UInt16
        /// Upper 8 bits of the 12-bit rcode (the OPT TTL's first byte).
        public var extendedRcode: UInt8
        public var version: UInt8
        public var doBit: Bool
        /// The 15 flag bits after DO.
        public var z: UInt16
        public var options: [Option]
        /// How many OPT records the message held (anything but 1 is a FORMERR-worthy message).
        public var optCount: Int
        public func option(_ code: UInt16) -> [UInt8]? { options.first { $0.code == code }?.data }
    }

    public var id: UInt16
    public var qr: Bool, aa: Bool, tc: Bool, rd: Bool, ra: Bool, ad: Bool, cd: Bool
    /// The reserved header bit between RA and AD (must be 0).
    public var zBit: Bool
    public var opcode: UInt8
    /// The 4-bit rcode from the header.
    public var headerRcode: UInt8
    /// The full rcode: header rcode plus the OPT extended rcode << 4 (BADVERS = 16).
    public var rcode: UInt16
    /// Header counts as sent (the OPT record is counted in `arcount`).
    public var qdcount: UInt16, ancount: UInt16, nscount: UInt16, arcount: UInt16
    public var questions: [Question]
    public var answer: [ResourceRecord]
    public var authority: [ResourceRecord]
    /// Additional records without the OPT record (and without a TSIG record, which ldns lifts out).
    public var additional: [ResourceRecord]
    public var edns: EDNS?
    /// Message length in bytes.
    public var size: Int
    /// Bytes after the last record the header counts announce (0 for a well-formed message).
    public var trailingBytes: Int
    /// ldns's dig-like rendering of the whole message (`ldns_pkt2str`), for failure messages.
    public var text: String
    /// Length of ldns's own encoding of the same message (`ldns_pkt2wire`: names compressed where RFC 3597
    /// §4 allows, against the question and earlier names); the size oracle for our compression.
    public var ldnsSize: Int

    public var question: Question? { questions.first }
    public var answerText: [String] { answer.map(LdnsRR.presentation) }
    public var authorityText: [String] { authority.map(LdnsRR.presentation) }
    public var additionalText: [String] { additional.map(LdnsRR.presentation) }

    /// Decodes `bytes` with ldns; nil when ldns rejects the message or its structure is broken
    /// (a name or record running past the end, a compression pointer that does not point backwards).
    public init?(wire bytes: [UInt8]) {
        guard bytes.count >= 12, let walk = WireWalk(bytes) else { return nil }
        var pkt: UnsafeMutablePointer<ldns_pkt>? = nil
        let st = bytes.withUnsafeBufferPointer { ldns_wire2pkt(&pkt, $0.baseAddress, $0.count) }
        guard st == LDNS_STATUS_OK, let p = pkt else {
            if let pkt { ldns_pkt_free(pkt) }
            return nil
        }
        defer { ldns_pkt_free(p) }

        id = ldns_pkt_id(p)
        qr = ldns_pkt_qr(p)
        aa = ldns_pkt_aa(p)
        tc = ldns_pkt_tc(p)
        rd = ldns_pkt_rd(p)
        ra = ldns_pkt_ra(p)
        ad = ldns_pkt_ad(p)
        cd = ldns_pkt_cd(p)
        zBit = bytes[3] & 0x40 != 0
        opcode = UInt8(truncatingIfNeeded: ldns_pkt_get_opcode(p).rawValue)
        headerRcode = UInt8(truncatingIfNeeded: ldns_pkt_get_rcode(p).rawValue) & 0x0f
        qdcount = UInt16(bytes[4]) << 8 | UInt16(bytes[5])
        ancount = UInt16(bytes[6]) << 8 | UInt16(bytes[7])
        nscount = UInt16(bytes[8]) << 8 | UInt16(bytes[9])
        arcount = UInt16(bytes[10]) << 8 | UInt16(bytes[11])
        size = bytes.count
        trailingBytes = bytes.count - walk.end

        var qs: [Question] = []
        if let list = ldns_pkt_question(p) {
            for i in 0..<ldns_rr_list_rr_count(list) {
                guard let rr = ldns_rr_list_rr(list, i), let o = ldns_rr_owner(rr),
                    let name = DNSName(wire: LdnsRR.rdfBytes(o))
                else { return nil }
                qs.append(
                    Question(
                        name: name,
                        type: UInt16(truncatingIfNeeded: ldns_rr_get_type(rr).rawValue),
                        rrClass: UInt16(truncatingIfNeeded: ldns_rr_get_class(rr).rawValue)
                    )
                )
            }
        }
        questions = qs
        guard let an = ParsedPacket.records(ldns_pkt_answer(p)),
            let ns = ParsedPacket.records(ldns_pkt_authority(p)),
            let ar = ParsedPacket.records(ldns_pkt_additional(p))
        else { return nil }
        answer = an
        authority = ns
        additional = ar.filter { $0.type != RRType.OPT }

        if let opt = walk.opt {
            let ext = ldns_pkt_edns_extended_rcode(p)
            edns = EDNS(
                udpSize: ldns_pkt_edns_udp_size(p),
                extendedRcode: ext,
                version: ldns_pkt_edns_version(p),
                doBit: ldns_pkt_edns_do(p),
                z: ldns_pkt_edns_z(p) & 0x7fff,
                options: opt.options,
                optCount: walk.optCount
            )
            rcode = UInt16(ext) << 4 | UInt16(headerRcode)
        } else {
            edns = nil
            rcode = UInt16(headerRcode)
        }
        if let s = ldns_pkt2str(p) {
            text = String(cString: s)
            free(s)
        } else {
            text = ""
        }
        var out: UnsafeMutablePointer<UInt8>? = nil
        var outSize = 0
        if ldns_pkt2wire(&out, p, &outSize) == LDNS_STATUS_OK, out != nil {
            ldnsSize = outSize
        } else {
            ldnsSize = -1
        }
        free(out)
    }

    static func records(_ list: UnsafeMutablePointer<ldns_rr_list>?) -> [ResourceRecord]? {
        guard let list else { return [] }
        var out: [ResourceRecord] = []
        for i in 0..<ldns_rr_list_rr_count(list) {
            guard let rr = ldns_rr_list_rr(list, i), let r = LdnsRR.makeRecord(rr) else { return nil }
            out.append(r)
        }
        return out
    }
}

extension LdnsRR {
    /// Decodes a DNS message with ldns (see `ParsedPacket`); nil when it does not parse.
    public static func parsePacket(_ bytes: [UInt8]) -> ParsedPacket? { ParsedPacket(wire: bytes) }
}

/// A strict structural walk over a message: where it ends and what its OPT record says. ldns is lenient
/// about trailing bytes and repeated OPT records; this catches both.
struct WireWalk {
    struct OPT { var options: [ParsedPacket.Option] }
    var end = 12
    var opt: OPT?
    var optCount = 0

    init?(_ b: [UInt8]) {
        guard b.count >= 12 else { return nil }
        func u16(_ i: Int) -> Int { Int(b[i]) << 8 | Int(b[i + 1]) }
        let qd = u16(4)
        let an = u16(6)
        let ns = u16(8)
        let ar = u16(10)
        var pos = 12
        for _ in 0..<qd {
            guard let p = WireWalk.skipName(b, pos), p + 4 <= b.count else { return nil }
            pos = p + 4
        }
        for i in 0..<(an + ns + ar) {
            guard let p = WireWalk.skipName(b, pos), p + 10 <= b.count else { return nil }
            let type = u16(p)
            let rdlen = u16(p + 8)
            let rdStart = p + 10
            guard rdStart + rdlen <= b.count else { return nil }
            if type == Int(RRType.OPT) && i >= an + ns {
                optCount += 1
                if opt == nil {
                    var options: [ParsedPacket.Option] = []
                    var o = rdStart
                    while o < rdStart + rdlen {
                        guard o + 4 <= rdStart + rdlen else { return nil }
                        let code = u16(o)
                        let len = u16(o + 2)
                        guard o + 4 + len <= rdStart + rdlen else { return nil }
                        options.append(.init(code: UInt16(code), data: Array(b[(o + 4)..<(o + 4 + len)])))
                        o += 4 + len
                    }
                    opt = OPT(options: options)
                }
            }
            pos = rdStart + rdlen
        }
        end = pos
    }

    /// Position after the name at `pos`; pointers must point strictly backwards.
    static func skipName(_ b: [UInt8], _ start: Int) -> Int? {
        var pos = start
        var total = 0
        while true {
            guard pos < b.count else { return nil }
            let l = Int(b[pos])
            if l == 0 { return pos + 1 }
            if l & 0xC0 == 0xC0 {
                guard pos + 1 < b.count else { return nil }
                let target = (l & 0x3F) << 8 | Int(b[pos + 1])
                guard target < pos else { return nil }
                // Follow the chain only to validate it; the name ends here in the message.
                var t = target
                var hops = 0
                while true {
                    guard t < b.count, hops < 128 else { return nil }
                    let tl = Int(b[t])
                    if tl == 0 { break }
                    if tl & 0xC0 == 0xC0 {
                        guard t + 1 < b.count else { return nil }
                        let nt = (tl & 0x3F) << 8 | Int(b[t + 1])
                        guard nt < t else { return nil }
                        t = nt
                        hops += 1
                        continue
                    }
                    guard tl <= 63 else { return nil }
                    total += tl + 1
                    guard total < 255 else { return nil }
                    t += tl + 1
                }
                return pos + 2
            }
            guard l <= 63 else { return nil }
            total += l + 1
            guard total < 255 else { return nil }
            pos += l + 1
        }
    }
}
