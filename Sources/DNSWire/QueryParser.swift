/// Zero-allocation view of one incoming DNS query (RFC 1035 §4.1, RFC 6891 OPT).
/// The parser writes into a `QueryFields` value owned by the caller's per-worker scratch; the lowered
/// question name goes to a caller-owned 256-byte buffer, its label offsets to a 128-entry buffer.
/// Invariant: after `.ok`, `qnameLength` bytes of `lowerName` hold the question name in lower case and
/// `labelOffsets[0..<labelCount]` are the offsets of its labels.
public struct QueryFields {
    public var id: UInt16 = 0
    public var flags: UInt16 = 0
    public var opcode: UInt8 { UInt8((flags >> 11) & 0xF) }
    public var rd: Bool { flags & 0x0100 != 0 }
    public var cd: Bool { flags & 0x0010 != 0 }
    public var qdcount: UInt16 = 0
    /// Offset just past the question (qname + qtype + qclass) in the query.
    public var questionEnd: Int = 0
    public var qnameLength: Int = 0
    public var labelCount: Int = 0
    public var qtype: UInt16 = 0
    public var qclass: UInt16 = 0
    // EDNS
    public var hasEDNS = false
    public var ednsUDPSize: UInt16 = 0
    public var ednsVersion: UInt8 = 0
    public var ednsDO = false
    public var nsidRequested = false
    /// ECS option (RFC 7871) present: family, source prefix length and the address bytes (≤ 16).
    public var hasECS = false
    public var ecsFamily: UInt16 = 0
    public var ecsSourcePrefix: UInt8 = 0
    public var ecsScopePrefix: UInt8 = 0
    public var ecsAddress: (UInt64, UInt64) = (0, 0)
    /// A TSIG record (RFC 8945) is the last record of the additional section: where it starts (owner
    /// name), where its fixed fields start (TYPE), and where it ends.
    public var hasTSIG = false
    public var tsigStart = 0
    public var tsigFixed = 0
    public var tsigEnd = 0

    public init() {}
}

/// What the parser concluded.
public enum QueryParseResult: Equatable, Sendable {
    case ok
    /// Not a query we answer at all (short datagram, QR set): send nothing.
    case drop
    /// Header is readable but the question is not: FORMERR with an empty question section.
    case formErrNoQuestion
    /// The question is readable but something after it (or QDCOUNT) is malformed: FORMERR echoing it.
    case formErr
    /// Opcode other than QUERY (question echoed when readable; `questionEnd` is 12 when it is not).
    case notImp
}

public enum QueryParser {
    /// Parses `pkt`. `lowerName` must have room for 256 bytes, `labelOffsets` for 128 entries.
    public static func parse(
        _ pkt: UnsafeRawBufferPointer,
        into q: inout QueryFields,
        lowerName: UnsafeMutablePointer<UInt8>,
        labelOffsets: UnsafeMutablePointer<UInt8>
    ) -> QueryParseResult {
        let n = pkt.count
        guard n >= 12 else { return .drop }
        q.id = UInt16(pkt[0]) << 8 | UInt16(pkt[1])
        q.flags = UInt16(pkt[2]) << 8 | UInt16(pkt[3])
        guard q.flags & 0x8000 == 0 else { return .drop }
        q.qdcount = UInt16(pkt[4]) << 8 | UInt16(pkt[5])
        let ancount = Int(pkt[6]) << 8 | Int(pkt[7])
        let nscount = Int(pkt[8]) << 8 | Int(pkt[9])
        let arcount = Int(pkt[10]) << 8 | Int(pkt[11])
        q.hasEDNS = false
        q.nsidRequested = false
        q.hasECS = false
        q.ednsDO = false
        q.ednsVersion = 0
        q.hasTSIG = false
        q.questionEnd = 12
        q.qnameLength = 0
        q.labelCount = 0

        let isQuery = q.opcode == Opcode.query
        guard q.qdcount == 1 else { return isQuery ? .formErrNoQuestion : .notImp }

        // Question name: no compression allowed, labels ≤ 63, name ≤ 255. First the label structure, then the
        // whole name is copied in lower case at once (length bytes are ≤ 63, so lowering leaves them alone).
        var i = 12
        var labels = 0
        while true {
            guard i < n else { return isQuery ? .formErrNoQuestion : .notImp }
            let l = Int(pkt[i])
            if l == 0 {
                i += 1
                break
            }
            // i < n ≤ Int.max / 2 and l ≤ 63: the sums below cannot overflow, so they skip the checks.
            guard l <= 63, labels < 127 else { return isQuery ? .formErrNoQuestion : .notImp }
            guard i &+ 1 &+ l <= n, i &- 12 &+ 1 &+ l < 255 else { return isQuery ? .formErrNoQuestion : .notImp }
            labelOffsets[labels] = UInt8(truncatingIfNeeded: i &- 12)
            labels &+= 1
            i &+= l &+ 1
        }
        let len = i - 12
        lowerCopy(pkt.baseAddress! + 12, to: lowerName, count: len)
        guard i + 4 <= n else { return isQuery ? .formErrNoQuestion : .notImp }
        q.qnameLength = len
        q.labelCount = labels
        q.qtype = UInt16(pkt[i]) << 8 | UInt16(pkt[i + 1])
        q.qclass = UInt16(pkt[i + 2]) << 8 | UInt16(pkt[i + 3])
        i += 4
        q.questionEnd = i
        guard isQuery else { return .notImp }

        // Answer and authority sections of a query are skipped (they should be empty).
        var rr = 0
        while rr < ancount + nscount {
            guard let next = skipRR(pkt, i) else { return .formErr }
            i = next.end
            rr += 1
        }
        // Additional: find OPT (at most one) and TSIG (at most one, and last: RFC 8945 §5.1), skip the rest.
        rr = 0
        while rr < arcount {
            guard let next = skipRR(pkt, i) else { return .formErr }
            if next.type == RRType.TSIG {
                guard rr == arcount - 1 else { return .formErr }
                q.hasTSIG = true
                q.tsigStart = i
                q.tsigFixed = next.fixedAt
                q.tsigEnd = next.end
            }
            if next.type == RRType.OPT {
                if q.hasEDNS { return .formErr }
                // OPT owner must be the root name.
                guard next.nameLength == 1 else { return .formErr }
                q.hasEDNS = true
                let f = next.fixedAt
                q.ednsUDPSize = UInt16(pkt[f + 2]) << 8 | UInt16(pkt[f + 3])
                q.ednsVersion = pkt[f + 5]
                q.ednsDO = pkt[f + 6] & 0x80 != 0
                // Options.
                var o = f + 10
                let end = next.end
                while o < end {
                    guard o + 4 <= end else { return .formErr }
                    let code = UInt16(pkt[o]) << 8 | UInt16(pkt[o + 1])
                    let olen = Int(pkt[o + 2]) << 8 | Int(pkt[o + 3])
                    guard o + 4 + olen <= end else { return .formErr }
                    switch code {
                    case EDNSOption.nsid:
                        q.nsidRequested = true
                    case EDNSOption.clientSubnet:
                        if q.hasECS { return .formErr }
                        guard parseECS(pkt, at: o + 4, length: olen, into: &q) else { return .formErr }
                    default:
                        break
                    }
                    o += 4 + olen
                }
            }
            i = next.end
            rr += 1
        }
        return .ok
    }

    /// Copies `count` bytes to `to`, ASCII upper case lowered: eight bytes per step (SWAR: a byte is upper case
    /// when its low seven bits are in 0x41...0x5A and its top bit is clear; 0x20 is added to exactly those), then
    /// byte by byte.
    @inline(__always)
    static func lowerCopy(_ from: UnsafeRawPointer, to: UnsafeMutablePointer<UInt8>, count: Int) {
        let dst = UnsafeMutableRawPointer(to)
        var k = 0
        while k + 8 <= count {
            let x = from.loadUnaligned(fromByteOffset: k, as: UInt64.self)
            let low7 = x & 0x7F7F_7F7F_7F7F_7F7F
            let atLeastA = low7 &+ 0x3F3F_3F3F_3F3F_3F3F
            let aboveZ = low7 &+ 0x2525_2525_2525_2525
            let upper = atLeastA & ~aboveZ & ~x & 0x8080_8080_8080_8080
            dst.storeBytes(of: x | (upper >> 2), toByteOffset: k, as: UInt64.self)
            k += 8
        }
        while k < count {
            to[k] = asciiLower(from.load(fromByteOffset: k, as: UInt8.self))
            k += 1
        }
    }

    /// RFC 7871 §6: FAMILY (1 or 2), SOURCE PREFIX-LENGTH within the family's width, SCOPE 0 in queries,
    /// exactly ceil(source/8) address bytes, and no bits set beyond the source prefix.
    static func parseECS(_ pkt: UnsafeRawBufferPointer, at o: Int, length: Int, into q: inout QueryFields) -> Bool {
        guard length >= 4 else { return false }
        let family = UInt16(pkt[o]) << 8 | UInt16(pkt[o + 1])
        let source = Int(pkt[o + 2])
        let scope = pkt[o + 3]
        let width: Int
        switch family {
        case 1: width = 32
        case 2: width = 128
        default: return false
        }
        guard source <= width, scope == 0 else { return false }
        let addrLen = (source + 7) / 8
        guard length - 4 == addrLen else { return false }
        // The address bytes into two zeroed words (network order), then read big-endian.
        var words: (UInt64, UInt64) = (0, 0)
        withUnsafeMutableBytes(of: &words) {
            $0.baseAddress!.copyMemory(from: pkt.baseAddress! + o + 4, byteCount: addrLen)
        }
        if source % 8 != 0 {
            let mask = UInt8(truncatingIfNeeded: 0xFF << (8 - source % 8))
            guard pkt[o + 4 + addrLen - 1] & ~mask == 0 else { return false }
        }
        let hi = UInt64(bigEndian: words.0)
        let lo = UInt64(bigEndian: words.1)
        q.hasECS = true
        q.ecsFamily = family
        q.ecsSourcePrefix = UInt8(source)
        q.ecsScopePrefix = scope
        q.ecsAddress = (hi, lo)
        return true
    }

    /// Copies the (possibly compressed) name at `start` of `pkt` uncompressed to `out` at `at`: pointers
    /// must point backwards, the name must fit 255 bytes and `out`. Returns the offset after the name in
    /// `pkt` and the bytes written, nil when the name is malformed or does not fit.
    public static func copyName(
        _ pkt: UnsafeRawBufferPointer,
        _ start: Int,
        to out: UnsafeMutableRawBufferPointer,
        at: Int
    ) -> (end: Int, written: Int)? {
        var i = start
        var end = -1
        var w = 0
        var hops = 0
        while true {
            guard i < pkt.count else { return nil }
            let l = Int(pkt[i])
            if l & 0xC0 == 0xC0 {
                guard i + 2 <= pkt.count, hops < 64 else { return nil }
                let target = (l & 0x3F) << 8 | Int(pkt[i + 1])
                guard target < i else { return nil }
                if end < 0 { end = i + 2 }
                i = target
                hops += 1
                continue
            }
            guard l <= 63, i + 1 + l <= pkt.count, w + 1 + l <= 255, at + w + 1 + l <= out.count else { return nil }
            out[at + w] = UInt8(l)
            var k = 1
            while k <= l {
                out[at + w + k] = pkt[i + k]
                k += 1
            }
            w += 1 + l
            if l == 0 { return (end < 0 ? i + 1 : end, w) }
            i += 1 + l
        }
    }

    /// Skips a (possibly compressed) name; returns the offset after it and its length as written.
    @inline(__always)
    static func skipName(_ pkt: UnsafeRawBufferPointer, _ start: Int) -> (end: Int, length: Int)? {
        var i = start
        var total = 0
        while true {
            guard i < pkt.count else { return nil }
            let l = Int(pkt[i])
            if l == 0 { return (i + 1, i + 1 - start) }
            if l & 0xC0 == 0xC0 {
                guard i + 2 <= pkt.count else { return nil }
                return (i + 2, i + 2 - start)
            }
            guard l <= 63 else { return nil }
            total += l + 1
            guard total < 255 else { return nil }
            i += l + 1
        }
    }

    @inline(__always)
    static func skipRR(
        _ pkt: UnsafeRawBufferPointer,
        _ start: Int
    ) -> (end: Int, type: UInt16, fixedAt: Int, nameLength: Int)? {
        guard let name = skipName(pkt, start) else { return nil }
        let f = name.end
        guard f + 10 <= pkt.count else { return nil }
        let type = UInt16(pkt[f]) << 8 | UInt16(pkt[f + 1])
        let rdlen = Int(pkt[f + 8]) << 8 | Int(pkt[f + 9])
        guard f + 10 + rdlen <= pkt.count else { return nil }
        return (f + 10 + rdlen, type, f, name.length)
    }
}
