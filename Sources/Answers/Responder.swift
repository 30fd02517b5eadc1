import DNSWire
import Geo

extension AnswerTable {
    /// Answers one query. Writes the response into `out` and returns its length; 0 means drop.
    /// `out.count` must be ≥ `maxUDPPayload` for UDP and ≥ `maxTCPPayload` for TCP.
    /// Never throws, never allocates; every malformed input becomes a drop or an rcode.
    public func respond(
        _ query: UnsafeRawBufferPointer,
        into out: UnsafeMutableRawBufferPointer,
        client: ClientInfo,
        scratch: QueryScratch
    ) -> Int {
        let result = QueryParser.parse(
            query,
            into: &scratch.fields,
            lowerName: scratch.lowerName,
            labelOffsets: scratch.labelOffsets
        )
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
        // RFC 8945 §5.2: we hold no keys, so every signed query is answered NOTAUTH with TSIG error BADKEY.
        if q.hasTSIG { return writeTSIGError(query, q, out, limit: limit, scratch: scratch) }
        if q.hasEDNS && q.ednsVersion > 0 {
            return writeEmpty(query, q, out, rcode: Rcode.badVers, aa: false, limit: limit, scratch: scratch)
        }
        let answer: Int
        scratch.dnameNode = -1
        scratch.encloser = -1
        // QCLASS ANY (RFC 1035 §3.2.5) is answered as IN, as NSD and Knot do: IN is the only class we serve.
        if q.qclass == RRClass.IN || q.qclass == RRClass.ANY {
            switch q.qtype {
            case RRType.AXFR, RRType.IXFR:
                return writeEmpty(
                    query,
                    q,
                    out,
                    rcode: UInt16(Rcode.refused),
                    aa: false,
                    limit: limit,
                    scratch: scratch
                )
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
        if scratch.dnameNode >= 0 {
            return writeDNAME(
                dnames[Int(nodes[Int(scratch.dnameNode)].dname)],
                node: Int(scratch.dnameNode),
                query,
                q,
                out,
                limit: limit,
                scratch: scratch
            )
        }
        return write(answer: answer, query, q, out, limit: limit, scratch: scratch)
    }

    /// Finds the answer index for an IN question; -1 = outside every zone (REFUSED).
    @inline(__always)
    func lookup(_ q: QueryFields, scratch: QueryScratch) -> Int {
        lookup(
            UnsafePointer(scratch.lowerName),
            q.qnameLength,
            labels: scratch.labelOffsets,
            labelCount: q.labelCount,
            qtype: q.qtype,
            id: q.id,
            scratch: scratch
        )
    }

    /// The answer index for the lower-case wire name `name` of `length` bytes (label offsets `labels`);
    /// -1 = outside every zone. Below a DNAME it sets `scratch.dnameNode` and returns the DNAME's answer.
    @inline(__always)
    func lookup(
        _ name: UnsafePointer<UInt8>,
        _ length: Int,
        labels: UnsafePointer<UInt8>,
        labelCount: Int,
        qtype: UInt16,
        id: UInt16,
        scratch: QueryScratch
    ) -> Int {
        let exact = find(name, length)
        if exact >= 0 {
            scratch.encloser = Int32(exact)
            return answerAt(node: exact, qtype: qtype, id: id, scratch: scratch)
        }
        // Closest encloser: strip labels from the left until a node exists.
        var label = 1
        while label < labelCount {
            let off = Int(labels[label])
            let n = find(name + off, length - off)
            if n >= 0 { return belowEncloser(n, qtype: qtype, id: id, scratch: scratch) }
            label += 1
        }
        // The root zone is a node with an empty suffix: try it last.
        if labelCount > 0 {
            let n = find(name + length - 1, 1)
            if n >= 0 { return belowEncloser(n, qtype: qtype, id: id, scratch: scratch) }
        }
        return -1
    }

    /// The answer for a name that does not exist below closest encloser `n`: the referral of a cut
    /// above it, DNAME substitution, the wildcard's answer, or the zone's NXDOMAIN.
    @inline(__always)
    func belowEncloser(_ n: Int, qtype: UInt16, id: UInt16, scratch: QueryScratch) -> Int {
        scratch.encloser = Int32(n)
        let enc = nodes[n]
        if enc.referral >= 0 { return Int(enc.referral) }
        if enc.dname >= 0 {
            scratch.dnameNode = Int32(n)
            return Int(dnames[Int(enc.dname)].answer)
        }
        if enc.wildcard >= 0 { return answerAt(node: Int(enc.wildcard), qtype: qtype, id: id, scratch: scratch) }
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
                    if e.perRegion > 1 {
                        let n = Int(e.perRegion)
                        let region = min(clientRegion(useECS: e.useECS, scratch: scratch), Int(e.regions) / n - 1)
                        return Int(e.answer) + region * n + Int(id) % n
                    }
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
        let ecs =
            useECS && q.hasECS
            ? AddressBits(family: q.ecsFamily == 1 ? 4 : 6, hi: q.ecsAddress.0, lo: q.ecsAddress.1) : nil
        let (a, bits, byECS) = locator.clientAddress(
            source: scratch.client.addressBits,
            ecs: ecs,
            ecsPrefix: Int(q.ecsSourcePrefix)
        )
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
    func writeHeader(
        _ query: UnsafeRawBufferPointer,
        _ q: QueryFields,
        _ out: UnsafeMutableRawBufferPointer,
        questionEnd: Int,
        aa: Bool,
        tc: Bool,
        rcode: UInt8,
        an: UInt16,
        ns: UInt16,
        ar: UInt16
    ) {
        out.baseAddress!.copyMemory(from: query.baseAddress!, byteCount: questionEnd)
        // QR=1, opcode copied, AA, TC, RD copied; RA=0, Z=0, AD=0, CD copied.
        out[2] = 0x80 | (query[2] & 0x78) | (aa ? 0x04 : 0) | (tc ? 0x02 : 0) | (query[2] & 0x01)
        out[3] = (query[3] & 0x10) | (rcode & 0x0F)
        out[4] = 0
        out[5] = questionEnd > 12 ? 1 : 0
        out[6] = UInt8(an >> 8)
        out[7] = UInt8(an & 0xFF)
        out[8] = UInt8(ns >> 8)
        out[9] = UInt8(ns & 0xFF)
        out[10] = UInt8(ar >> 8)
        out[11] = UInt8(ar & 0xFF)
    }

    /// Length of our OPT record for this query (0 without EDNS), with an EDE option of `ede` bytes.
    @inline(__always)
    func optLength(_ q: QueryFields, ede: Int = 0) -> Int {
        guard q.hasEDNS else { return 0 }
        return 11 + (q.nsidRequested ? nsidOption.count : 0) + (q.hasECS ? 8 + (Int(q.ecsSourcePrefix) + 7) / 8 : 0)
            + ede
    }

    /// Appends our OPT record at `at` (with the EDE option `extras[edeStart..<edeStart + edeLength]`);
    /// returns the new end.
    @inline(__always)
    func writeOPT(
        _ q: QueryFields,
        _ out: UnsafeMutableRawBufferPointer,
        at: Int,
        extendedRcode: UInt8,
        scratch: QueryScratch,
        edeStart: Int = 0,
        edeLength: Int = 0
    ) -> Int {
        var o = at
        let size = options.ednsBufferSize
        let nsid = q.nsidRequested ? nsidOption.count : 0
        let ecsAddress = q.hasECS ? (Int(q.ecsSourcePrefix) + 7) / 8 : 0
        let rdlength = nsid + (q.hasECS ? 8 + ecsAddress : 0) + edeLength
        out[o] = 0  // root owner
        out[o + 1] = 0
        out[o + 2] = 41  // TYPE OPT
        out[o + 3] = UInt8(size >> 8)
        out[o + 4] = UInt8(size & 0xFF)
        out[o + 5] = extendedRcode
        out[o + 6] = 0  // EXTENDED-RCODE, VERSION 0
        out[o + 7] = q.ednsDO ? 0x80 : 0
        out[o + 8] = 0  // DO echoed
        out[o + 9] = UInt8(rdlength >> 8)
        out[o + 10] = UInt8(rdlength & 0xFF)
        o += 11
        if nsid > 0 {
            nsidOption.withUnsafeBytes { src in
                (out.baseAddress! + o).copyMemory(from: src.baseAddress!, byteCount: nsid)
            }
            o += nsid
        }
        if q.hasECS {
            // RFC 7871 §7.2.1: FAMILY, SOURCE PREFIX-LENGTH and ADDRESS echoed; SCOPE = how widely the answer holds
            // (0 when it does not depend on the client). A SCOPE longer than the SOURCE says the source
            // was too short to tell the rules apart (a more specific rule lies inside it).
            out[o] = 0
            out[o + 1] = 8
            out[o + 2] = 0
            out[o + 3] = UInt8(4 + ecsAddress)
            out[o + 4] = UInt8(q.ecsFamily >> 8)
            out[o + 5] = UInt8(q.ecsFamily & 0xFF)
            out[o + 6] = q.ecsSourcePrefix
            out[o + 7] = scratch.ecsScope
            o += 8
            // The address bytes in network order: the words big-endian, then the first `ecsAddress` (≤ 16) of them.
            var wire = (q.ecsAddress.0.bigEndian, q.ecsAddress.1.bigEndian)
            withUnsafeBytes(of: &wire) {
                (out.baseAddress! + o).copyMemory(from: $0.baseAddress!, byteCount: ecsAddress)
            }
            o += ecsAddress
        }
        if edeLength > 0 {
            extras.withPointer(at: edeStart, count: edeLength) { src in
                (out.baseAddress! + o).copyMemory(from: src, byteCount: edeLength)
            }
            o += edeLength
        }
        scratch.optStart = at
        scratch.optLength = o - at
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
    func writeBare(
        _ query: UnsafeRawBufferPointer,
        _ q: QueryFields,
        _ out: UnsafeMutableRawBufferPointer,
        rcode: UInt8,
        withQuestion: Bool,
        scratch: QueryScratch
    ) -> Int {
        let end = withQuestion ? 12 + q.qnameLength + 4 : 12
        guard end <= query.count, end <= out.count else {
            scratch.counters.dropped += 1
            return 0
        }
        scratch.optLength = 0
        writeHeader(query, q, out, questionEnd: end, aa: false, tc: false, rcode: rcode, an: 0, ns: 0, ar: 0)
        count(UInt16(rcode), scratch)
        return end
    }

    /// A reply with no records but the OPT (REFUSED, BADVERS ...).
    func writeEmpty(
        _ query: UnsafeRawBufferPointer,
        _ q: QueryFields,
        _ out: UnsafeMutableRawBufferPointer,
        rcode: UInt16,
        aa: Bool,
        limit: Int,
        scratch: QueryScratch
    ) -> Int {
        let qEnd = 12 + q.qnameLength + 4
        // RFC 8914: REFUSED carries EDE 20 (Not Authoritative).
        let ede = rcode == UInt16(Rcode.refused) ? AnswerTable.refusedEDE.count : 0
        let opt = optLength(q, ede: ede)
        scratch.optLength = 0
        writeHeader(
            query,
            q,
            out,
            questionEnd: qEnd,
            aa: aa,
            tc: false,
            rcode: UInt8(rcode & 0xF),
            an: 0,
            ns: 0,
            ar: opt > 0 ? 1 : 0
        )
        var end = qEnd
        if opt > 0 {
            end = writeOPT(q, out, at: qEnd, extendedRcode: UInt8(rcode >> 4), scratch: scratch, edeLength: ede)
        }
        count(rcode, scratch)
        return end
    }

    /// RFC 8945 §5.2.2, §5.3.2: NOTAUTH with an unsigned TSIG record (the query's key and algorithm names,
    /// time signed and fudge, no MAC, original ID, error BADKEY) after our OPT. A TSIG record that cannot be
    /// read, or a reply that would not fit, is FORMERR.
    func writeTSIGError(
        _ query: UnsafeRawBufferPointer,
        _ q: QueryFields,
        _ out: UnsafeMutableRawBufferPointer,
        limit: Int,
        scratch: QueryScratch
    ) -> Int {
        let qEnd = 12 + q.qnameLength + 4
        let opt = optLength(q)
        scratch.optLength = 0
        var end = qEnd
        if opt > 0 { end = writeOPT(q, out, at: qEnd, extendedRcode: 0, scratch: scratch) }
        let room = UnsafeMutableRawBufferPointer(rebasing: out[0..<min(out.count, limit)])
        // Owner: the key name.
        guard let key = QueryParser.copyName(query, q.tsigStart, to: room, at: end) else {
            return writeBare(query, q, out, rcode: Rcode.formErr, withQuestion: true, scratch: scratch)
        }
        var o = end + key.written
        let f = q.tsigFixed
        let rdStart = f + 10
        // Algorithm name, then time signed (6), fudge (2), MAC size (2), MAC, original ID (2), error, other.
        guard o + 10 <= room.count, let alg = QueryParser.copyName(query, rdStart, to: room, at: o + 10),
            alg.end + 10 <= q.tsigEnd
        else {
            return writeBare(query, q, out, rcode: Rcode.formErr, withQuestion: true, scratch: scratch)
        }
        let macSize = Int(query[alg.end + 8]) << 8 | Int(query[alg.end + 9])
        let idAt = alg.end + 10 + macSize
        let rdlength = alg.written + 16
        guard idAt + 2 <= q.tsigEnd, o + 10 + rdlength <= room.count else {
            return writeBare(query, q, out, rcode: Rcode.formErr, withQuestion: true, scratch: scratch)
        }
        // TYPE TSIG, CLASS ANY, TTL 0, RDLENGTH.
        let fixed: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) = (0, 250, 0, 255, 0, 0, 0, 0)
        withUnsafeBytes(of: fixed) { (out.baseAddress! + o).copyMemory(from: $0.baseAddress!, byteCount: 8) }
        out[o + 8] = UInt8(rdlength >> 8)
        out[o + 9] = UInt8(rdlength & 0xFF)
        o += 10 + alg.written
        var k = 0
        while k < 8 {
            out[o + k] = query[alg.end + k]
            k += 1
        }  // time signed, fudge
        out[o + 8] = 0
        out[o + 9] = 0  // MAC size 0
        out[o + 10] = query[idAt]
        out[o + 11] = query[idAt + 1]  // original ID
        out[o + 12] = 0
        out[o + 13] = UInt8(Rcode.badKey)  // error BADKEY
        out[o + 14] = 0
        out[o + 15] = 0  // other len
        o += 16
        writeHeader(
            query,
            q,
            out,
            questionEnd: qEnd,
            aa: false,
            tc: false,
            rcode: Rcode.notAuth,
            an: 0,
            ns: 0,
            ar: (opt > 0 ? 1 : 0) + 1
        )
        count(UInt16(Rcode.notAuth), scratch)
        return o
    }

    /// Writes a prebuilt answer, cutting it at an RRset boundary when it does not fit `limit`.
    func write(
        answer index: Int,
        _ query: UnsafeRawBufferPointer,
        _ q: QueryFields,
        _ out: UnsafeMutableRawBufferPointer,
        limit: Int,
        scratch: QueryScratch
    ) -> Int {
        var a = answers[index]
        // DO=1 (RFC 4035 §3.1): the signed twin, when the zone is signed.
        if q.ednsDO && a.signed >= 0 { a = answers[Int(a.signed)] }
        let qEnd = 12 + q.qnameLength + 4
        let opt = optLength(q, ede: Int(a.edeLength))
        let space = limit - qEnd - opt
        var length = Int(a.blobLength)
        var an = a.an
        var ns = a.ns
        var ar = a.ar
        var tc = false
        // Denial records chosen per query (a wildcard answer's cover, NXDOMAIN's proof): up to three entries.
        var proofs: (Int, Int, Int) = (-1, -1, -1)
        var proofLength = 0
        if a.proof != 0 && scratch.encloser >= 0 {
            proofs = denialProof(a.proof, q, scratch: scratch, skip: (Int(a.skip0), Int(a.skip1)))
            var k = 0
            while k < 3 {
                let p = k == 0 ? proofs.0 : k == 1 ? proofs.1 : proofs.2
                if p >= 0 {
                    proofLength += Int(denial[p].blobLength)
                    ns += denial[p].count
                }
                k += 1
            }
        }
        if length + proofLength > space {
            // Never a partial proof: without room for all of it, the reply is cut with TC (RFC 4035 §3.1).
            if proofLength > 0 { tc = true }
            proofs = (-1, -1, -1)
            proofLength = 0
            ns = a.ns
            if length > space {
                let cut = largestCut(a, space: space)
                length = Int(cut.length)
                an = cut.an
                ns = cut.ns
                ar = cut.ar
                tc = tc || cut.tc
            }
            scratch.counters.truncated += tc ? 1 : 0
        }
        writeHeader(
            query,
            q,
            out,
            questionEnd: qEnd,
            aa: a.aa,
            tc: tc,
            rcode: a.rcode,
            an: an,
            ns: ns,
            ar: ar + (opt > 0 ? 1 : 0)
        )
        copy(a, length: length, to: out, at: qEnd, name: (12, q.qnameLength, 0, 0))
        var end = qEnd + length
        if proofLength > 0 {
            denial.withUnsafeBufferPointer { d in
                var k = 0
                while k < 3 {
                    let p = k == 0 ? proofs.0 : k == 1 ? proofs.1 : proofs.2
                    if p >= 0 {
                        let e = d[p]
                        blob.withPointer(at: Int(e.blobStart), count: Int(e.blobLength)) { b in
                            (out.baseAddress! + end).copyMemory(from: b, byteCount: Int(e.blobLength))
                        }
                        end += Int(e.blobLength)
                    }
                    k += 1
                }
            }
        }
        scratch.optLength = 0
        if opt > 0 {
            end = writeOPT(
                q,
                out,
                at: end,
                extendedRcode: 0,
                scratch: scratch,
                edeStart: Int(a.edeStart),
                edeLength: Int(a.edeLength)
            )
        }
        count(UInt16(a.rcode), scratch)
        return end
    }

    /// The largest cut of `a` within `space` bytes, for an answer longer than `space` (the whole answer, not stored,
    /// never fits); none fits: nothing, with TC (cut 0, not stored).
    @inline(__always)
    func largestCut(_ a: Answer, space: Int) -> Cut {
        var c = Int(a.cutStart) + Int(a.cutCount) - 1
        while c >= Int(a.cutStart) && Int(cuts[c].length) > space { c -= 1 }
        if c < Int(a.cutStart) { return Cut(length: 0, an: 0, ns: 0, ar: 0, tc: true) }
        return cuts[c]
    }

    /// Copies the first `length` bytes of answer `a` to `out` at `at` and patches its pointers. Pointers to
    /// the question name's suffixes go to `name`: a name of `length` bytes written at `start`, whose last
    /// `tailLength` bytes are a pointer to a name at `tailStart` (0: the whole name is at `start`).
    @inline(__always)
    func copy(
        _ a: Answer,
        length: Int,
        to out: UnsafeMutableRawBufferPointer,
        at: Int,
        name: (start: Int, length: Int, tailStart: Int, tailLength: Int)
    ) {
        guard length > 0 else { return }
        let base = out.baseAddress! + at
        blob.withPointer(at: Int(a.blobStart), count: length) { b in base.copyMemory(from: b, byteCount: length) }
        guard a.relocCount > 0 else { return }
        relocs.withPointer(at: Int(a.relocStart), count: Int(a.relocCount)) { r in
            var i = 0
            let end = Int(a.relocCount)
            while i < end {
                let rel = r[i]
                let pos = Int(rel.position)
                if pos + 2 > length { break }
                let target: Int
                if rel.target < 0 {
                    target = at + Int(-rel.target - 1)
                } else {
                    let suffix = rel.target == 0 ? name.length : Int(rel.target)
                    target =
                        suffix <= name.tailLength
                        ? name.tailStart + name.tailLength - suffix : name.start + name.length - suffix
                }
                base.storeBytes(of: UInt8(0xC0 | (target >> 8)), toByteOffset: pos, as: UInt8.self)
                base.storeBytes(of: UInt8(target & 0xFF), toByteOffset: pos + 1, as: UInt8.self)
                i += 1
            }
        }
    }

    /// A name below a DNAME (RFC 6672 §3.1): the DNAME, the CNAME synthesized from it (owner the question,
    /// TTL the DNAME's, target the question's labels above the DNAME owner, then a pointer to the DNAME's
    /// target), and, when the new name is in our zones, its answer (one substitution; a second DNAME on
    /// the way is not followed). YXDOMAIN with the DNAME alone when the new name would exceed 255 bytes.
    /// The synthesis is the only per-query writing beyond pointer patches: a copy of the question's
    /// labels and one pointer.
    func writeDNAME(
        _ dn: DNAMEEntry,
        node: Int,
        _ query: UnsafeRawBufferPointer,
        _ q: QueryFields,
        _ out: UnsafeMutableRawBufferPointer,
        limit: Int,
        scratch: QueryScratch
    ) -> Int {
        var a = answers[Int(dn.answer)]
        if q.ednsDO && a.signed >= 0 { a = answers[Int(a.signed)] }
        let qEnd = 12 + q.qnameLength + 4
        let prefix = q.qnameLength - Int(nodes[node].nameLength)
        let targetLength = Int(dn.targetLength)
        let newLength = prefix + targetLength
        let aLength = Int(a.blobLength)
        // The DNAME's target name, in the reply.
        let tailStart = qEnd + Int(dn.targetOffset)
        guard newLength <= 255 else {
            var opt = optLength(q)
            if qEnd + aLength + opt > limit { opt = 0 }
            writeHeader(
                query,
                q,
                out,
                questionEnd: qEnd,
                aa: true,
                tc: false,
                rcode: Rcode.yxDomain,
                an: a.an,
                ns: 0,
                ar: opt > 0 ? 1 : 0
            )
            copy(a, length: aLength, to: out, at: qEnd, name: (12, q.qnameLength, 0, 0))
            var end = qEnd + aLength
            scratch.optLength = 0
            if opt > 0 { end = writeOPT(q, out, at: end, extendedRcode: 0, scratch: scratch) }
            count(UInt16(Rcode.yxDomain), scratch)
            return end
        }
        // The new name, lower case, for the second lookup.
        var labels = 0
        var k = 0
        while k < prefix {
            scratch.targetLabels[labels] = UInt8(k)
            labels += 1
            let l = Int(scratch.lowerName[k])
            var j = 0
            while j <= l {
                scratch.targetName[k + j] = scratch.lowerName[k + j]
                j += 1
            }
            k += l + 1
        }
        blob.withPointer(at: Int(a.blobStart), count: Int(a.blobLength)) { b in
            let t = b + Int(dn.targetOffset)
            var j = 0
            while j < targetLength {
                let l = Int(t[j])
                if l > 0 {
                    scratch.targetLabels[labels] = UInt8(prefix + j)
                    labels += 1
                }
                scratch.targetName[prefix + j] = UInt8(l)
                var m = 1
                while m <= l {
                    scratch.targetName[prefix + j + m] = asciiLower(t[j + m])
                    m += 1
                }
                j += l + 1
            }
        }
        var second = -1
        if q.qtype != RRType.CNAME {
            scratch.dnameNode = -1
            second = lookup(
                UnsafePointer(scratch.targetName),
                newLength,
                labels: UnsafePointer(scratch.targetLabels),
                labelCount: labels,
                qtype: q.qtype,
                id: q.id,
                scratch: scratch
            )
            if scratch.dnameNode >= 0 { second = -1 }
        }
        // DNAME, then CNAME: pointer to the question, TYPE, CLASS, TTL, RDLENGTH, labels, pointer.
        let cnameLength = 12 + prefix + 2
        let opt = optLength(q)
        let space = limit - qEnd - opt
        var length = aLength + cnameLength
        var an = a.an + 1
        var ns: UInt16 = 0
        var ar: UInt16 = 0
        var tc = false
        var rcode = a.rcode
        var b = a
        var bLength = 0
        if second >= 0 {
            b = answers[second]
            if q.ednsDO && b.signed >= 0 { b = answers[Int(b.signed)] }
            rcode = b.rcode
            bLength = Int(b.blobLength)
            an += b.an
            ns = b.ns
            ar = b.ar
            if length + bLength > space {
                let cut = largestCut(b, space: space - length)
                bLength = Int(cut.length)
                an = a.an + 1 + cut.an
                ns = cut.ns
                ar = cut.ar
                tc = cut.tc
            }
        }
        if length > space {
            length = 0
            bLength = 0
            an = 0
            ns = 0
            ar = 0
            tc = true
        }
        scratch.counters.truncated += tc ? 1 : 0
        writeHeader(
            query,
            q,
            out,
            questionEnd: qEnd,
            aa: true,
            tc: tc,
            rcode: rcode,
            an: an,
            ns: ns,
            ar: ar + (opt > 0 ? 1 : 0)
        )
        var end = qEnd
        if length > 0 {
            copy(a, length: aLength, to: out, at: qEnd, name: (12, q.qnameLength, 0, 0))
            var o = qEnd + aLength
            let ttl = dn.ttl
            let rdlength = prefix + 2
            let fixed: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) = (
                0xC0, 0x0C, 0, UInt8(RRType.CNAME), 0, UInt8(RRClass.IN)
            )
            withUnsafeBytes(of: fixed) { (out.baseAddress! + o).copyMemory(from: $0.baseAddress!, byteCount: 6) }
            out[o + 6] = UInt8(truncatingIfNeeded: ttl >> 24)
            out[o + 7] = UInt8(truncatingIfNeeded: ttl >> 16)
            out[o + 8] = UInt8(truncatingIfNeeded: ttl >> 8)
            out[o + 9] = UInt8(truncatingIfNeeded: ttl)
            out[o + 10] = UInt8(rdlength >> 8)
            out[o + 11] = UInt8(rdlength & 0xFF)
            let rdata = o + 12
            // The question's labels above the DNAME owner, as the client wrote them.
            (out.baseAddress! + rdata).copyMemory(from: query.baseAddress! + 12, byteCount: prefix)
            out[rdata + prefix] = UInt8(0xC0 | (tailStart >> 8))
            out[rdata + prefix + 1] = UInt8(tailStart & 0xFF)
            o = rdata + prefix + 2
            if bLength > 0 {
                copy(b, length: bLength, to: out, at: o, name: (rdata, newLength, tailStart, targetLength))
                o += bLength
            }
            end = o
        }
        scratch.optLength = 0
        if opt > 0 { end = writeOPT(q, out, at: end, extendedRcode: 0, scratch: scratch) }
        count(UInt16(rcode), scratch)
        return end
    }
}
