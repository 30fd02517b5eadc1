import DNSWire

/// Hooks for response rate limiting (RRL, done by the UDP workers in `Server`): the identity of the
/// response just written (for the limiter's key) and the "slip" reply (a truncated, empty answer that
/// makes a real client retry over TCP). Both read only what `respond` left in the scratch and the reply.
extension QueryScratch {
    /// Feeds the identity of the last response into `hasher`, in BIND's classes: a positive answer is
    /// its lower-cased question name, type and rcode; an NXDOMAIN is its zone (the apex its SOA's owner
    /// points at) and rcode, so floods of random names share one bucket; any other rcode (REFUSED,
    /// FORMERR, NOTIMP, SERVFAIL, BADVERS) is the rcode alone. No allocation. `reply` is what `respond`
    /// wrote (at least 12 bytes when non-empty).
    public func combineResponseIdentity(into hasher: inout Hasher, reply: UnsafeRawBufferPointer) {
        let rcode = reply.count >= 12 ? reply[3] & 0x0F : 0xFF
        hasher.combine(rcode)
        let n = fields.qnameLength
        switch rcode {
        case 0:
            hasher.combine(bytes: UnsafeRawBufferPointer(start: lowerName, count: n))
            hasher.combine(fields.qtype)
        case 3:
            // With no answer records, the first authority record is the SOA, owned by a pointer to the
            // zone apex inside the question name.
            let qEnd = 12 + n + 4
            let ancount = reply[6] == 0 && reply[7] == 0
            if ancount && reply[5] == 1 && reply.count >= qEnd + 2 && reply[qEnd] & 0xC0 == 0xC0 {
                let off = (Int(reply[qEnd] & 0x3F) << 8 | Int(reply[qEnd + 1])) - 12
                if off >= 0 && off < n {
                    hasher.combine(bytes: UnsafeRawBufferPointer(start: lowerName + off, count: n - off))
                    return
                }
            }
            hasher.combine(bytes: UnsafeRawBufferPointer(start: lowerName, count: n))
        default:
            break
        }
    }
}

extension AnswerTable {
    /// Rewrites the reply of `length` bytes in `out` (as `respond` wrote it, with this same `scratch`)
    /// into a slip reply: header with TC=1 and the same rcode, the question, our OPT when the reply had
    /// one, no records. Returns the new length (never more than `length`).
    public func slip(_ out: UnsafeMutableRawBufferPointer, length: Int, scratch: QueryScratch) -> Int {
        guard length >= 12, out.count >= length else { return 0 }
        let q = scratch.fields
        let hasQuestion = out[5] == 1 && out[4] == 0
        let qEnd = hasQuestion ? 12 + q.qnameLength + 4 : 12
        guard qEnd <= length else { return 0 }
        // Our OPT, when the reply has one, is where `respond` noted it (the last record but a TSIG's).
        let opt = scratch.optLength
        let arcount = Int(out[10]) << 8 | Int(out[11])
        var keepOPT = false
        if opt > 0 && arcount > 0 && scratch.optStart >= qEnd && scratch.optStart + opt <= length {
            let o = scratch.optStart
            keepOPT = out[o] == 0 && out[o + 1] == 0 && out[o + 2] == 41
            if keepOPT && o > qEnd {
                (out.baseAddress! + qEnd).copyMemory(from: out.baseAddress! + o, byteCount: opt)
            }
        }
        out[2] |= 0x02  // TC
        out[6] = 0
        out[7] = 0
        out[8] = 0
        out[9] = 0  // AN, NS
        out[10] = 0
        out[11] = keepOPT ? 1 : 0  // AR: the OPT only
        return qEnd + (keepOPT ? opt : 0)
    }
}
