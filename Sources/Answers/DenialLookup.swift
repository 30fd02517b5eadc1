import DNSWire

// Authenticated denial on the query path: the NSEC or NSEC3 record covering the question (or its next closer
// name) is found by binary search in the zone's sorted chain; the closest encloser's no-wildcard records are
// precomputed per node. No allocation: the key is built in the scratch buffer.
extension AnswerTable {
    /// The denial entries of a proof: the cover, then (for NXDOMAIN) the encloser's records not already given;
    /// -1 for none.
    @inline(__always)
    func denialProof(
        _ kind: UInt8,
        _ q: QueryFields,
        scratch: QueryScratch,
        skip: (Int, Int) = (-1, -1)
    ) -> (Int, Int, Int) {
        let enc = nodes[Int(scratch.encloser)]
        let z = zones[Int(enc.zone)]
        guard z.denialCount > 0 else { return (-1, -1, -1) }
        let keyLength: Int
        if z.nsec3 {
            // The next closer name: the question's suffix one label longer than the closest encloser.
            let encLength = Int(enc.nameLength)
            var off = -1
            var i = 0
            while i < q.labelCount {
                let o = Int(scratch.labelOffsets[i])
                if q.qnameLength - o > encLength { off = o } else { break }
                i += 1
            }
            guard off >= 0 else { return (-1, -1, -1) }
            Denial.sha1(UnsafePointer(scratch.lowerName + off), q.qnameLength - off, into: scratch.denialKey)
            keyLength = 20
        } else {
            keyLength = canonicalKey(q, scratch: scratch)
        }
        var cover = findCover(z, length: keyLength, key: scratch.denialKey)
        if cover == skip.0 || cover == skip.1 { cover = -1 }
        guard kind == Proof.nxdomain else { return (cover, -1, -1) }
        var b = Int(enc.nxProof0)
        var c = Int(enc.nxProof1)
        if b == cover { b = -1 }
        if c == cover || c == b { c = -1 }
        return (cover, b, c)
    }

    /// The question's canonical sort key (labels right to left, each followed by a zero byte) in the scratch
    /// buffer; returns its length.
    @inline(__always)
    func canonicalKey(_ q: QueryFields, scratch: QueryScratch) -> Int {
        var o = 0
        var i = q.labelCount - 1
        while i >= 0 {
            let off = Int(scratch.labelOffsets[i])
            let l = Int(scratch.lowerName[off])
            var j = 0
            while j < l {
                scratch.denialKey[o + j] = scratch.lowerName[off + 1 + j]
                j += 1
            }
            o += l
            scratch.denialKey[o] = 0
            o += 1
            i -= 1
        }
        return o
    }

    /// The entry of zone `z` with the greatest key below `key` (the record whose span covers it); the last
    /// entry when none is below (NSEC3: the span from the last hash wraps to the first).
    @inline(__always)
    func findCover(_ z: ZoneEntry, length: Int, key: UnsafePointer<UInt8>) -> Int {
        var lo = Int(z.denialStart)
        var hi = lo + Int(z.denialCount)  // first entry with a key ≥ key, searched in [lo, hi)
        let last = hi - 1
        denial.withUnsafeBufferPointer { d in
            denialKeys.withUnsafeBufferPointer { k in
                while lo < hi {
                    let mid = (lo + hi) / 2
                    let e = d[mid]
                    if AnswerTable.keyLess(k.baseAddress! + Int(e.keyStart), Int(e.keyLength), key, length) {
                        lo = mid + 1
                    } else {
                        hi = mid
                    }
                }
            }
        }
        return lo > Int(z.denialStart) ? lo - 1 : last
    }

    @inline(__always)
    static func keyLess(_ a: UnsafePointer<UInt8>, _ an: Int, _ b: UnsafePointer<UInt8>, _ bn: Int) -> Bool {
        let n = min(an, bn)
        var i = 0
        while i < n {
            if a[i] != b[i] { return a[i] < b[i] }
            i += 1
        }
        return an < bn
    }
}
