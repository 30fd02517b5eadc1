import DNSWire
import Geo

extension AnswerTable {
    /// Answers one query. Writes the response into `out` and returns its length; 0 means drop.
    /// `out.count` must be ≥ `maxUDPPayload` for UDP and ≥ `maxTCPPayload` for TCP.
    /// Never throws, never allocates; every malformed input becomes a drop or an rcode.
    public func respond(_ query: UnsafeRawBufferPointer, into out: UnsafeMutableRawBufferPointer,
                        client: ClientInfo, scratch: QueryScratch) -> Int {
        let result = QueryParser.parse(query, into: &scratch.fields, lowerName: scratch.lowerName,
                                       labelOffsets: scratch.labelOffsets)
        let q = scratch.fields
        scratch.client = client
        scratch.ecsScope = 0
        switch result {
        case .drop:
            scratch.counters.dropped += 1
            return 0
        case .formErrNoQuestion:
            return writeBare(query, q, out, rcode: Rcode.formErr, withQuestion: false, scratch: scratch)
        case .formErr:
            return writeBare(query, q, out, rcode: Rcode.formErr, withQuestion: true, scratch: scratch)
        case .notImp:
            return writeBare(query, q, out, rcode: Rcode.notImp, withQuestion: q.questionEnd > 12, scratch: scratch)
        case .ok:
            scratch.counters.byType.count(q.qtype)
        }
        let limit: Int
        if client.transport == .tcp {
            limit = min(out.count, AnswerTable.maxTCPPayload)
        } else if q.hasEDNS {
            limit = min(out.count, max(512, min(Int(q.ednsUDPSize), Int(options.ednsBufferSize))))
        } else {
            limit = min(out.count, 512)
        }
        if q.hasEDNS && q.ednsVersion > 0 {
            return writeEmpty(query, q, out, rcode: Rcode.badVers, aa: false, limit: limit, scratch: scratch)
        }
        let answer: Int
        if q.qclass == RRClass.IN {
            switch q.qtype {
            case RRType.AXFR, RRType.IXFR:
                return writeEmpty(query, q, out, rcode: UInt16(Rcode.refused), aa: false, limit: limit, scratch: scratch)
            case RRType.OPT:
                return writeEmpty(query, q, out, rcode: UInt16(Rcode.formErr), aa: false, limit: limit, scratch: scratch)
            case RRType.TKEY, RRType.TSIG, RRType.MAILA, RRType.MAILB:
                return writeEmpty(query, q, out, rcode: UInt16(Rcode.notImp), aa: false, limit: limit, scratch: scratch)
            default:
                answer = lookup(q, scratch: scratch)
            }
        } else if q.qclass == RRClass.CH {
            answer = lookupChaos(q, scratch: scratch)
        } else {
            answer = -1
        }
        if answer < 0 {
            return writeEmpty(query, q, out, rcode: UInt16(Rcode.refused), aa: false, limit: limit, scratch: scratch)
        }
        return write(answer: answer, query, q, out, limit: limit, scratch: scratch)
    }

    /// Finds the answer index for an IN question; -1 = outside every zone (REFUSED).
    @inline(__always)
    func lookup(_ q: QueryFields, scratch: QueryScratch) -> Int {
        let name = UnsafePointer(scratch.lowerName)
        let exact = find(name, q.qnameLength)
        if exact >= 0 { return answerAt(node: exact, qtype: q.qtype, id: q.id, scratch: scratch) }
        // Closest encloser: strip labels from the left until a node exists.
        var label = 1
        while label < q.labelCount {
            let off = Int(scratch.labelOffsets[label])
            let n = find(name + off, q.qnameLength - off)
            if n >= 0 { return belowEncloser(n, q, scratch: scratch) }
            label += 1
        }
        // The root zone is a node with an empty suffix: try it last.
        if q.labelCount > 0 {
            let n = find(name + q.qnameLength - 1, 1)
            if n >= 0 { return belowEncloser(n, q, scratch: scratch) }
        }
        return -1
    }

    /// The answer for a name that does not exist below closest encloser `n`: the referral of a cut
    /// above it, the wildcard's answer, or the zone's NXDOMAIN.
    @inline(__always)
    func belowEncloser(_ n: Int, _ q: QueryFields, scratch: QueryScratch) -> Int {
        let enc = nodes[n]
        if enc.referral >= 0 { return Int(enc.referral) }
        if enc.wildcard >= 0 { return answerAt(node: Int(enc.wildcard), qtype: q.qtype, id: q.id, scratch: scratch) }
        return Int(zones[Int(enc.zone)].nxdomain)
    }

    @inline(__always)
    func answerAt(node i: Int, qtype: UInt16, id: UInt16, scratch: QueryScratch) -> Int {
        let node = nodes[i]
        if node.referral >= 0 && !(node.isCut && qtype == RRType.DS) { return Int(node.referral) }
        if qtype == RRType.ANY { return Int(node.any) }
        var t = Int(node.typeStart)
        let end = t + Int(node.typeCount)
        while t < end {
            let e = types[t]
            if e.qtype == qtype {
                if e.regions > 1 {
                    if e.byQueryID { return Int(e.answer) + Int(id) % Int(e.regions) }
                    return Int(e.answer) + min(clientRegion(useECS: e.useECS, scratch: scratch), Int(e.regions) - 1)
                }
                return Int(e.answer)
            }
            t += 1
        }
        return Int(node.nodata)
    }

    /// The client's region: by the ECS address (source prefix capped) when allowed and present, else by
    /// the source address. Sets the ECS scope when the ECS address decided.
    @inline(__always)
    func clientRegion(useECS: Bool, scratch: QueryScratch) -> Int {
        guard let locator = options.locator else { return 0 }
        let q = scratch.fields
        let ecs = useECS && q.hasECS ? AddressBits(family: q.ecsFamily == 1 ? 4 : 6, hi: q.ecsAddress.0, lo: q.ecsAddress.1) : nil
        let (a, bits, byECS) = locator.clientAddress(source: scratch.client.addressBits, ecs: ecs, ecsPrefix: Int(q.ecsSourcePrefix))
        let (region, scope) = locator.locate(a, bits: bits)
        if byECS { scratch.ecsScope = UInt8(scope) }
        return region
    }

    func lookupChaos(_ q: QueryFields, scratch: QueryScratch) -> Int {
        guard q.qtype == RRType.TXT || q.qtype == RRType.ANY else { return -1 }
        for entry in chaos where entry.name.count == q.qnameLength {
            if entry.name.withUnsafeBufferPointer({ memcmpBytes($0.baseAddress!, scratch.lowerName, q.qnameLength) }) {
                return Int(entry.answer)
            }
        }
        return -1
    }

    /// Copies header and question, patches flags and counts; returns the offset after the question.
    @inline(__always)
    func writeHeader(_ query: UnsafeRawBufferPointer, _ q: QueryFields, _ out: UnsafeMutableRawBufferPointer,
                     questionEnd: Int, aa: Bool, tc: Bool, rcode: UInt8, an: UInt16, ns: UInt16, ar: UInt16) {
        out.baseAddress!.copyMemory(from: query.baseAddress!, byteCount: questionEnd)
        // QR=1, opcode copied, AA, TC, RD copied; RA=0, Z=0, AD=0, CD copied.
        out[2] = 0x80 | (query[2] & 0x78) | (aa ? 0x04 : 0) | (tc ? 0x02 : 0) | (query[2] & 0x01)
        out[3] = (query[3] & 0x10) | (rcode & 0x0F)
        out[4] = 0; out[5] = questionEnd > 12 ? 1 : 0
        out[6] = UInt8(an >> 8); out[7] = UInt8(an & 0xFF)
        out[8] = UInt8(ns >> 8); out[9] = UInt8(ns & 0xFF)
        out[10] = UInt8(ar >> 8); out[11] = UInt8(ar & 0xFF)
    }

    @inline(__always)
    func optLength(_ q: QueryFields) -> Int {
        guard q.hasEDNS else { return 0 }
        return 11 + (q.nsidRequested ? nsidOption.count : 0) + (q.hasECS ? 8 + (Int(q.ecsSourcePrefix) + 7) / 8 : 0)
    }

    /// Appends our OPT record at `at`; returns the new end.
    @inline(__always)
    func writeOPT(_ q: QueryFields, _ out: UnsafeMutableRawBufferPointer, at: Int, extendedRcode: UInt8, scratch: QueryScratch) -> Int {
        var o = at
        let size = options.ednsBufferSize
        let nsid = q.nsidRequested ? nsidOption.count : 0
        let ecsAddress = q.hasECS ? (Int(q.ecsSourcePrefix) + 7) / 8 : 0
        let rdlength = nsid + (q.hasECS ? 8 + ecsAddress : 0)
        out[o] = 0                                          // root owner
        out[o + 1] = 0; out[o + 2] = 41                     // TYPE OPT
        out[o + 3] = UInt8(size >> 8); out[o + 4] = UInt8(size & 0xFF)
        out[o + 5] = extendedRcode; out[o + 6] = 0          // EXTENDED-RCODE, VERSION 0
        out[o + 7] = q.ednsDO ? 0x80 : 0; out[o + 8] = 0    // DO echoed
        out[o + 9] = UInt8(rdlength >> 8); out[o + 10] = UInt8(rdlength & 0xFF)
        o += 11
        if nsid > 0 {
            nsidOption.withUnsafeBytes { src in
                (out.baseAddress! + o).copyMemory(from: src.baseAddress!, byteCount: nsid)
            }
            o += nsid
        }
        if q.hasECS {
            // RFC 7871 §7.2.1: FAMILY, SOURCE PREFIX-LENGTH and ADDRESS echoed; SCOPE = how widely the answer holds
            // (0 when it does not depend on the client).
            out[o] = 0; out[o + 1] = 8
            out[o + 2] = 0; out[o + 3] = UInt8(4 + ecsAddress)
            out[o + 4] = UInt8(q.ecsFamily >> 8); out[o + 5] = UInt8(q.ecsFamily & 0xFF)
            out[o + 6] = q.ecsSourcePrefix; out[o + 7] = min(scratch.ecsScope, q.ecsSourcePrefix)
            o += 8
            var k = 0
            while k < ecsAddress {
                out[o + k] = k < 8 ? UInt8(truncatingIfNeeded: q.ecsAddress.0 >> UInt64(56 - 8 * k))
                                   : UInt8(truncatingIfNeeded: q.ecsAddress.1 >> UInt64(56 - 8 * (k - 8)))
                k += 1
            }
            o += ecsAddress
        }
        return o
    }

    @inline(__always)
    func count(_ rcode: UInt16, _ scratch: QueryScratch) {
        scratch.counters.queries += 1
        withUnsafeMutableBytes(of: &scratch.counters.byRcode) { raw in
            let p = raw.bindMemory(to: Int.self)
            let i = rcode == Rcode.badVers ? 16 : Int(min(rcode, 15))
            p[i] += 1
        }
    }

    /// FORMERR / NOTIMP replies: header (and question when readable), no OPT.
    func writeBare(_ query: UnsafeRawBufferPointer, _ q: QueryFields, _ out: UnsafeMutableRawBufferPointer,
                   rcode: UInt8, withQuestion: Bool, scratch: QueryScratch) -> Int {
        let end = withQuestion ? 12 + q.qnameLength + 4 : 12
        guard end <= query.count, end <= out.count else { scratch.counters.dropped += 1; return 0 }
        writeHeader(query, q, out, questionEnd: end, aa: false, tc: false, rcode: rcode, an: 0, ns: 0, ar: 0)
        count(UInt16(rcode), scratch)
        return end
    }

    /// A reply with no records but the OPT (REFUSED, BADVERS ...).
    func writeEmpty(_ query: UnsafeRawBufferPointer, _ q: QueryFields, _ out: UnsafeMutableRawBufferPointer,
                    rcode: UInt16, aa: Bool, limit: Int, scratch: QueryScratch) -> Int {
        let qEnd = 12 + q.qnameLength + 4
        let opt = optLength(q)
        writeHeader(query, q, out, questionEnd: qEnd, aa: aa, tc: false, rcode: UInt8(rcode & 0xF),
                    an: 0, ns: 0, ar: opt > 0 ? 1 : 0)
        var end = qEnd
        if opt > 0 { end = writeOPT(q, out, at: qEnd, extendedRcode: UInt8(rcode >> 4), scratch: scratch) }
        count(rcode, scratch)
        return end
    }

    /// Writes a prebuilt answer, cutting it at an RRset boundary when it does not fit `limit`.
    func write(answer index: Int, _ query: UnsafeRawBufferPointer, _ q: QueryFields,
               _ out: UnsafeMutableRawBufferPointer, limit: Int, scratch: QueryScratch) -> Int {
        let a = answers[index]
        let qEnd = 12 + q.qnameLength + 4
        let opt = optLength(q)
        let space = limit - qEnd - opt
        var length = Int(a.blobLength)
        var an = a.an, ns = a.ns, ar = a.ar
        var tc = false
        if length > space {
            // Largest cut that fits; cut 0 (empty) always exists.
            var c = Int(a.cutStart) + Int(a.cutCount) - 1
            while c > Int(a.cutStart) && Int(cuts[c].length) > space { c -= 1 }
            let cut = cuts[c]
            length = Int(cut.length) <= space ? Int(cut.length) : 0
            an = cut.an; ns = cut.ns; ar = cut.ar; tc = cut.tc
            if length == 0 { an = 0; ns = 0; ar = 0; tc = true }
            scratch.counters.truncated += tc ? 1 : 0
        }
        writeHeader(query, q, out, questionEnd: qEnd, aa: a.aa, tc: tc, rcode: a.rcode,
                    an: an, ns: ns, ar: ar + (opt > 0 ? 1 : 0))
        let base = out.baseAddress! + qEnd
        if length > 0 {
            blob.withUnsafeBufferPointer { b in
                base.copyMemory(from: b.baseAddress! + Int(a.blobStart), byteCount: length)
            }
            relocs.withUnsafeBufferPointer { r in
                var i = Int(a.relocStart)
                let end = i + Int(a.relocCount)
                while i < end {
                    let rel = r[i]
                    let pos = Int(rel.position)
                    if pos + 2 > length { break }
                    let target = rel.suffixLength == 0 ? 12 : 12 + q.qnameLength - Int(rel.suffixLength)
                    base.storeBytes(of: UInt8(0xC0 | (target >> 8)), toByteOffset: pos, as: UInt8.self)
                    base.storeBytes(of: UInt8(target & 0xFF), toByteOffset: pos + 1, as: UInt8.self)
                    i += 1
                }
            }
        }
        var end = qEnd + length
        if opt > 0 { end = writeOPT(q, out, at: end, extendedRcode: 0, scratch: scratch) }
        count(UInt16(a.rcode), scratch)
        return end
    }
}
