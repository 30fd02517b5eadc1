import DNSWire

/// Hooks for response rate limiting (RRL, done by the UDP workers in `Server`): the identity of the
/// response just written (for the limiter's key) and the "slip" reply (a truncated, empty answer that
/// makes a real client retry over TCP). Both read only what `respond` left in the scratch and the reply.
extension QueryScratch {
    /// Feeds the identity of the last response into `hasher`: the lower-cased question name, the
    /// question type and the reply's rcode. Two replies with the same identity are "identical responses"
    /// for RRL. No allocation. `reply` is what `respond` wrote (at least 12 bytes when non-empty).
    public func combineResponseIdentity(into hasher: inout Hasher, reply: UnsafeRawBufferPointer) {
        let n = fields.qnameLength
        hasher.combine(bytes: UnsafeRawBufferPointer(start: lowerName, count: n))
        hasher.combine(fields.qtype)
        hasher.combine(reply.count >= 4 ? reply[3] & 0x0F : 0xFF)
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
        // Our OPT, when present, is the last record of every reply we build (11 bytes + NSID option).
        let opt = optLength(q)
        let arcount = Int(out[10]) << 8 | Int(out[11])
        var keepOPT = false
        if opt > 0 && arcount > 0 && length - opt >= qEnd {
            let o = length - opt
            keepOPT = out[o] == 0 && out[o + 1] == 0 && out[o + 2] == 41
            if keepOPT && o > qEnd {
                (out.baseAddress! + qEnd).copyMemory(from: out.baseAddress! + o, byteCount: opt)
            }
        }
        out[2] |= 0x02                                      // TC
        out[6] = 0; out[7] = 0; out[8] = 0; out[9] = 0      // AN, NS
        out[10] = 0; out[11] = keepOPT ? 1 : 0              // AR: the OPT only
        return qEnd + (keepOPT ? opt : 0)
    }
}
