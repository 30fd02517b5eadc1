import DNSWire
import Zones

/// A signed zone's NSEC or NSEC3 chain (RFC 4034 §4, RFC 5155 with RFC 9276's parameters: SHA-1, no extra
/// iterations, no salt, no opt-out). The names in a zone do not change with health, only the types at service
/// names do: the chain's order is fixed at compile, and a service name's record is re-made at each publish.
/// Invariant: `keys` ascend; entry `i` of the chain is entry `entryStart + i` of the table's `denial`.
struct DenialChain {
    var nsec3: Bool
    var ttl: UInt32
    /// Per entry, in key order: the name it stands for (lower case), the record's owner (NSEC: the name;
    /// NSEC3: `<base32hex(hash)>.<zone>`) and its key (NSEC: canonical key; NSEC3: the hash).
    var names: [DNSName]
    var owners: [DNSName]
    var keys: [[UInt8]]
    var indexOf: [DNSName: Int]
    var entryStart: Int32
}

extension CompiledZones {
    /// The next key event (a key published, activated, retired or removed) of any signed zone after this
    /// compile (seconds since 1970): the zones must be compiled again then; nil when there is none.
    public var nextKeyEvent: UInt32? { signers.compactMap { $0?.nextKeyEvent }.min() }

    /// A name's canonical sort key (RFC 4034 §6.1): lower-case labels right to left, each followed by a zero byte.
    static func canonicalKey(_ name: DNSName) -> [UInt8] {
        name.lowercased.labels.reversed().flatMap { Array($0) + [0] }
    }

    /// The chain's entry whose span covers `key`: the greatest key below it (the last entry when none is).
    static func coverIndex(_ c: DenialChain, _ key: [UInt8]) -> Int {
        var lo = 0
        var hi = c.keys.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if c.keys[mid].lexicographicallyPrecedes(key) { lo = mid + 1 } else { hi = mid }
        }
        return lo > 0 ? lo - 1 : c.keys.count - 1
    }

    func chainKey(_ c: DenialChain, _ name: DNSName) -> [UInt8] {
        c.nsec3 ? Denial.nsec3Hash(name.lowercased) : CompiledZones.canonicalKey(name)
    }

    /// Builds the chain of every signed zone and writes its entries into the base table.
    func buildChains(_ zones: [Zone]) {
        chains = Array(repeating: nil, count: origins.count)
        for zi in origins.indices {
            guard let signer = signers[zi] else { continue }
            var names: [DNSName] = []
            for n in order where n.zone == zi {
                if let cut = cutOf(n), cut !== n { continue }  // below a delegation: not ours
                // NSEC skips empty non-terminals; a service name with no zone data of its own is not one (its
                // types are its answers').
                if n.rrsets.isEmpty && !signer.nsec3 && serviceNodes[n.name] == nil { continue }
                names.append(n.name)
            }
            let keyed = names.map { n -> (DNSName, [UInt8]) in
                (n, signer.nsec3 ? Denial.nsec3Hash(n) : CompiledZones.canonicalKey(n))
            }.sorted { $0.1.lexicographicallyPrecedes($1.1) }
            var c = DenialChain(
                nsec3: signer.nsec3,
                ttl: zones[zi].negativeTTL,
                names: keyed.map(\.0),
                owners: keyed.map { signer.nsec3 ? origins[zi].prepending(label: Denial.base32hex($0.1)) : $0.0 },
                keys: keyed.map(\.1),
                indexOf: [:],
                entryStart: Int32(baseDenial.count)
            )
            for (i, n) in c.names.enumerated() { c.indexOf[n] = i }
            chains[zi] = c
            anySigned = true
            for i in c.names.indices {
                let (start, length, count) = writeEntry(zi, i, into: &base)
                baseDenial.append(
                    DenialEntry(
                        keyStart: Int32(denialKeys.count),
                        keyLength: Int32(c.keys[i].count),
                        blobStart: start,
                        blobLength: length,
                        count: count
                    )
                )
                denialKeys.append(contentsOf: c.keys[i])
            }
        }
    }

    /// The types a name holds now, as its NSEC/NSEC3 bitmap lists them (a delegation: NS and DS only; a
    /// service name: its zone data and every type its current answers give).
    func currentTypes(_ name: DNSName) -> Set<UInt16> {
        guard let n = nodeNamed(name) else { return [] }
        var types = Set(n.rrsets.keys)
        if let cut = cutOf(n), cut === n { types.formIntersection([RRType.NS, RRType.DS]) }
        if let d = dyn[name] {
            for v in d.variants { for r in v { types.insert(r.type) } }
        }
        return types
    }

    /// Entry `i` of zone `zi`'s chain as a record, with `types` instead of the name's current types when given.
    func chainRecord(_ zi: Int, _ i: Int, types given: Set<UInt16>? = nil) -> ResourceRecord {
        let c = chains[zi]!
        let name = c.names[i]
        var types = given ?? currentTypes(name)
        let next = (i + 1) % c.names.count
        if c.nsec3 {
            let unsignedCut =
                nodeNamed(name).map { cutOf($0) === $0 } == true && !types.contains(RRType.DS)
            if !types.isEmpty && !unsignedCut { types.insert(RRType.RRSIG) }
            let rdata: [UInt8] = [1, 0, 0, 0, 0, 20] + c.keys[next] + Denial.typeBitmap(types)
            return ResourceRecord(owner: c.owners[i], type: RRType.NSEC3, ttl: c.ttl, rdata: rdata)
        }
        types.formUnion([RRType.NSEC, RRType.RRSIG])
        return ResourceRecord(
            owner: c.owners[i],
            type: RRType.NSEC,
            ttl: c.ttl,
            rdata: c.names[next].wire + Denial.typeBitmap(types)
        )
    }

    /// Writes entry `i` of zone `zi`'s chain (the record and its RRSIGs, uncompressed) into `e.blob`.
    func writeEntry(_ zi: Int, _ i: Int, into e: inout Emitter) -> (Int32, Int32, UInt16) {
        let r = chainRecord(zi, i)
        let set = [r] + sigs([r])
        let start = e.blobEnd
        for rr in set { CompiledZones.appendUncompressed(rr, to: &e.blob) }
        return (Int32(start), Int32(e.blobEnd - start), UInt16(set.count))
    }

    static func appendUncompressed(_ rr: ResourceRecord, to b: inout ContiguousArray<UInt8>) {
        b.append(contentsOf: rr.owner.wire)
        b.append(contentsOf: [
            UInt8(rr.type >> 8), UInt8(rr.type & 0xFF), UInt8(rr.rrClass >> 8), UInt8(rr.rrClass & 0xFF),
            UInt8(rr.ttl >> 24), UInt8((rr.ttl >> 16) & 0xFF), UInt8((rr.ttl >> 8) & 0xFF), UInt8(rr.ttl & 0xFF),
            UInt8(rr.rdata.count >> 8), UInt8(rr.rdata.count & 0xFF),
        ])
        b.append(contentsOf: rr.rdata)
    }

    /// Re-makes the chain entries of the service names (their types follow the policy's answers).
    func remakeServiceEntries(_ denial: inout ContiguousArray<DenialEntry>, into e: inout Emitter) {
        for name in serviceNodes.keys {
            guard let n = nodeNamed(name), let c = chains[n.zone], let i = c.indexOf[name] else { continue }
            let (start, length, count) = writeEntry(n.zone, i, into: &e)
            let k = Int(c.entryStart) + i
            denial[k].blobStart = start
            denial[k].blobLength = length
            denial[k].count = count
        }
    }

    /// The records proving a type is absent at node `n` (NODATA): its own NSEC/NSEC3 (with `variantTypes` in
    /// place of its address and alias types, for one variant of a policy answer); NSEC at an empty
    /// non-terminal: the record covering it; NSEC3 at a wildcard: the wildcard's and its parent's records
    /// (the responder adds the cover of the next closer name).
    func nodeProof(_ n: BNode, variantTypes: Set<UInt16>? = nil) -> [[ResourceRecord]] {
        guard let c = chains[n.zone] else { return [] }
        touched.insert(n.name)
        if let i = c.indexOf[n.name] {
            let types = variantTypes.map {
                currentTypes(n.name).subtracting([RRType.A, RRType.AAAA, RRType.CNAME]).union($0)
            }
            var out = [[chainRecord(n.zone, i, types: types)]]
            if c.nsec3, n.name.isWildcard, let p = n.name.parent, let j = c.indexOf[p] {
                touched.insert(p)
                out.append([chainRecord(n.zone, j)])
            }
            return out
        }
        let j = CompiledZones.coverIndex(c, chainKey(c, n.name))
        touched.insert(c.names[j])
        return [[chainRecord(n.zone, j)]]
    }

    /// NXDOMAIN for `target` (the end of a CNAME chain), known when the table is built: NSEC: the records
    /// covering the name and the wildcard at its closest encloser; NSEC3: the encloser's record and the ones
    /// covering the next closer name and the wildcard.
    func staticNXProof(_ target: DNSName, zone zi: Int) -> [[ResourceRecord]] {
        guard let c = chains[zi] else { return [] }
        var encloser = target
        var nextCloser = target
        while nodeIndex(encloser) == nil, let p = encloser.parent {
            nextCloser = encloser
            encloser = p
        }
        var idx: [Int] = []
        if c.nsec3 {
            if let m = c.indexOf[encloser] { idx.append(m) }
            idx.append(CompiledZones.coverIndex(c, chainKey(c, nextCloser)))
        } else {
            idx.append(CompiledZones.coverIndex(c, chainKey(c, target)))
        }
        idx.append(CompiledZones.coverIndex(c, chainKey(c, encloser.prepending(label: "*"))))
        var seen: Set<Int> = []
        return idx.filter { seen.insert($0).inserted }.map { i in
            touched.insert(c.names[i])
            return [chainRecord(zi, i)]
        }
    }

    /// The table's denial entries proving no wildcard below node `n` (NXDOMAIN with `n` as closest encloser).
    func nxProofEntries(_ n: BNode, zone zi: Int) -> (Int32, Int32) {
        guard let c = chains[zi] else { return (-1, -1) }
        let wild = CompiledZones.coverIndex(c, chainKey(c, n.name.prepending(label: "*")))
        if c.nsec3 {
            let own = c.indexOf[n.name].map { c.entryStart + Int32($0) } ?? -1
            return (own, c.entryStart + Int32(wild))
        }
        return (c.entryStart + Int32(wild), -1)
    }

    /// The RRSIGs for `rrset` when it is authoritative data of a signed zone (not a delegation's NS or glue,
    /// not a CNAME synthesized from a DNAME); a DS at a child apex is signed by the parent zone.
    func sigs(_ rrset: [ResourceRecord]) -> [ResourceRecord] {
        guard let first = rrset.first, first.type != RRType.RRSIG, first.rrClass == RRClass.IN else { return [] }
        let owner = first.owner.lowercased
        guard var zi = zoneOf(owner) else { return [] }
        if first.type == RRType.DS && owner == origins[zi] {
            guard let pz = parentZone[zi] else { return [] }
            zi = pz
        } else if let cut = cutAbove(owner, zone: zi),
            !(cut.name == owner && (first.type == RRType.DS || first.type == RRType.NSEC))
        {
            return []
        }
        guard let signer = signers[zi] else { return [] }
        if first.type == RRType.CNAME && belowDNAME(owner) { return [] }
        let r = signer.signatures(rrset)
        expiry = min(expiry, r.expiration)
        renew = min(renew, r.renewAt)
        return r.records
    }

    /// Emits `d`, and when it holds data of a signed zone, its signed twin (RRSIGs after each signed RRset,
    /// denial records at the end of the authority section) for queries with DO=1.
    func emitAnswer(_ d: Draft, into e: inout Emitter) -> Int32 {
        let idx = d.emit(into: &e, plain: true)
        if anySigned { emitTwin(d, of: idx, into: &e) }
        return idx
    }

    /// Emits `drafts` as consecutive answers (per-region and weighted variants are found by offset), then
    /// their signed twins; returns the first index.
    func emitAnswers(_ drafts: [Draft], into e: inout Emitter) -> Int32 {
        var first: Int32 = -1
        for d in drafts {
            let idx = d.emit(into: &e, plain: true)
            if first < 0 { first = idx }
        }
        guard anySigned else { return first }
        for (i, d) in drafts.enumerated() { emitTwin(d, of: first + Int32(i), into: &e) }
        return first
    }

    func emitTwin(_ d: Draft, of idx: Int32, into e: inout Emitter) {
        var s = Draft(anchor: d.anchor, keepOps: false)
        s.rcode = d.rcode
        s.aa = d.aa
        s.ede = d.ede
        s.proof = d.proof
        s.skipEntries = d.skipEntries
        if emittingWildcard && d.rcode == Rcode.noError { s.proof = Proof.cover }
        var signedAny = s.proof != 0 || !d.proofs.isEmpty
        var proofsDone = false
        for op in d.ops {
            if op.section == .additional && !proofsDone {
                for p in d.proofs {
                    s.add(p, owner: .name(p[0].owner), section: .authority, required: true, sigs: sigs(p))
                }
                proofsDone = true
            }
            // A per-query proof is appended after the authority section: no additional data then.
            if op.section == .additional && s.proof != 0 { continue }
            let sg = sigs(op.rrset)
            if !sg.isEmpty || op.signedOnly { signedAny = true }
            s.add(op.rrset, owner: op.owner, section: op.section, required: op.required, sigs: sg)
        }
        if !proofsDone {
            for p in d.proofs {
                s.add(p, owner: .name(p[0].owner), section: .authority, required: true, sigs: sigs(p))
            }
        }
        guard signedAny else { return }
        let t = s.emit(into: &e)
        e.answers[Int(idx) - e.answerBase].signed = t
    }
}
