import DNSWire

/// Whole-zone rules, applied after every file has been read:
/// one SOA, at the apex; NS at the apex; CNAME alone at its name (RFC 1034 §3.6.2, RFC 2181 §10.1;
/// RRSIG and NSEC may sit beside it, RFC 4035 §2.5) and only one; one TTL per RRset (RFC 2181 §5.2,
/// a warning: the RRset is given its lowest TTL); identical records merged silently; one DNAME per name
/// and nothing below it (RFC 6672 §2.3, 2.4); no DNSSEC records (gtmd signs zones itself); no RRset too large for
/// any DNS message (65,535 bytes).
struct ZoneChecks {
    let apex: DNSName
    let topFile: String
    var records: [ZoneRecord]
    var problems: [ZoneProblem] = []
    var soa: ResourceRecord?

    init(apex: DNSName, topFile: String, records: [ZoneRecord]) {
        self.apex = apex
        self.topFile = topFile
        self.records = records
    }

    private mutating func error(_ r: ZoneRecord, _ message: String) {
        problems.append(ZoneProblem(file: r.file, line: r.line, message: message))
    }

    private func place(_ r: ZoneRecord, from other: ZoneRecord) -> String {
        r.file == other.file ? "line \(r.line)" : "\(r.file):\(r.line)"
    }

    mutating func run() {
        var ids = rrsetIDs()
        normaliseTTLs(ids)
        mergeDuplicates(&ids)
        checkRRsetSizes(ids)
        checkSOA()
        checkApexNS()
        checkCNAMEs(ids)
        checkUnsigned()
        checkDNAMEs()
    }

    /// Every record's RRset and every RRset's owner as numbers, so the checks below index arrays instead of
    /// hashing names.
    struct RRsets {
        /// Per record, its RRset (owner, type): numbered in order of first appearance.
        var ids: [Int32]
        var count: Int
        /// Per RRset, its owner: numbered in order of first appearance (names compared case-insensitively).
        var ownerOf: [Int32]
        var ownerCount: Int
    }

    /// One owner look-up per run of records with one owner, one RRset look-up per run with one owner and type (the
    /// records of a name, and of an RRset, are usually written together), in `Numbering` tables.
    func rrsetIDs() -> RRsets {
        var ids: [Int32] = []
        ids.reserveCapacity(records.count)
        // Sized for a name per record and grown when there are more: counting the runs of one owner first was a
        // pass over every record's name (a cache miss each in a big zone).
        var owners = Numbering(capacity: records.count / 2)
        var sets = Numbering(capacity: records.count / 2)
        // Per owner number, a record with that owner; per RRset number, its owner and type.
        var ownerRecord: [Int32] = []
        var ownerOf: [Int32] = []
        var typeOf: [UInt16] = []
        ownerRecord.reserveCapacity(records.count)
        ownerOf.reserveCapacity(records.count)
        typeOf.reserveCapacity(records.count)
        var owner: Int32 = -1
        for i in records.indices {
            let type = records[i].record.type
            if i == 0 || records[i - 1].record.owner != records[i].record.owner {
                let name = records[i].record.owner
                let o = owners.number(name.word) { records[Int(ownerRecord[Int($0)])].record.owner == name }
                if o.new { ownerRecord.append(Int32(i)) }
                owner = o.number
            } else if records[i - 1].record.type == type {
                ids.append(ids[i - 1])
                continue
            }
            let s = sets.number(UInt64(owner) << 16 | UInt64(type)) {
                ownerOf[Int($0)] == owner && typeOf[Int($0)] == type
            }
            if s.new {
                ownerOf.append(owner)
                typeOf.append(type)
            }
            ids.append(s.number)
        }
        return RRsets(ids: ids, count: sets.count, ownerOf: ownerOf, ownerCount: owners.count)
    }

    /// RFC 2181 §5.2: all records of an RRset share one TTL. Reported once per RRset, at the first record
    /// that disagrees with the first one; the whole RRset takes the lowest TTL.
    mutating func normaliseTTLs(_ sets: RRsets) {
        var firstIndex = [Int32](repeating: -1, count: sets.count)
        var lowest = [UInt32](repeating: 0, count: sets.count)
        var reported = [Bool](repeating: false, count: sets.count)
        var mismatched: [(set: Int, index: Int)] = []
        for i in records.indices {
            let k = Int(sets.ids[i])
            let ttl = records[i].record.ttl
            let f = Int(firstIndex[k])
            if f >= 0 {
                lowest[k] = min(lowest[k], ttl)
                if records[f].record.ttl != ttl, !reported[k] {
                    reported[k] = true
                    mismatched.append((k, i))
                }
            } else {
                firstIndex[k] = Int32(i)
                lowest[k] = ttl
            }
        }
        for (k, i) in mismatched {
            let first = records[Int(firstIndex[k])]
            let r = records[i]
            let low = lowest[k]
            problems.append(
                ZoneProblem(
                    file: r.file,
                    line: r.line,
                    message:
                        "TTL \(r.record.ttl) differs from TTL \(first.record.ttl) of the "
                        + "\(LdnsRR.typeName(r.record.type)) record at \(r.record.owner) on "
                        + "\(place(first, from: r)) (RFC 2181 §5.2); using \(low) for all of them",
                    severity: .warning
                )
            )
        }
        if !mismatched.isEmpty {
            for i in records.indices where reported[Int(sets.ids[i])] {
                records[i].record.ttl = lowest[Int(sets.ids[i])]
            }
        }
    }

    /// Identical records (same owner, type and rdata, names compared case-insensitively) are kept once.
    /// Only RRsets of more than one record are looked at; their records are numbered by (RRset, rdata) in a
    /// `Numbering`, the rdata hashed and compared in place (no copy of each record's rdata in a set).
    mutating func mergeDuplicates(_ sets: inout RRsets) {
        var size = [Int32](repeating: 0, count: sets.count)
        for k in sets.ids { size[Int(k)] += 1 }
        guard size.contains(where: { $0 > 1 }) else { return }
        var seen = Numbering(capacity: 64)
        var first: [Int32] = []
        var dropped: [Int] = []
        for i in records.indices {
            let k = sets.ids[i]
            guard size[Int(k)] > 1 else { continue }
            let r = records[i].record
            let n = seen.number(ZoneChecks.canonicalHash(r, set: k)) { j in
                let o = Int(first[Int(j)])
                return sets.ids[o] == k && ZoneChecks.canonicallyEqual(records[o].record, r)
            }
            if n.new { first.append(Int32(i)) } else { dropped.append(i) }
        }
        // Most zones have no duplicate: the records are then left as they are (copying them touches every
        // record's names and data again).
        guard !dropped.isEmpty else { return }
        var keptRecords: [ZoneRecord] = []
        var keptIDs: [Int32] = []
        keptRecords.reserveCapacity(records.count - dropped.count)
        keptIDs.reserveCapacity(records.count - dropped.count)
        var next = 0
        for i in records.indices {
            if next < dropped.count && dropped[next] == i {
                next += 1
                continue
            }
            keptRecords.append(records[i])
            keptIDs.append(sets.ids[i])
        }
        records = keptRecords
        sets.ids = keptIDs
    }

    /// The largest DNS message (RFC 1035 §4.2.2: TCP's two-byte length).
    static let largestMessage = 65_535

    /// An RRset that no DNS message can hold: even with its owner compressed to a two-byte pointer, its records
    /// (2 + 10 bytes of owner, type, class, TTL and RDLENGTH, then the rdata) and the header and question of the
    /// smallest reply exceed 65,535 bytes. It could never be answered whole (and its record count would not fit
    /// the header's 16-bit ANCOUNT). Reported once per RRset, at its first record.
    mutating func checkRRsetSizes(_ sets: RRsets) {
        var bytes = [Int](repeating: 0, count: sets.count)
        var first = [Int32](repeating: -1, count: sets.count)
        var count = [Int32](repeating: 0, count: sets.count)
        for i in records.indices {
            let k = Int(sets.ids[i])
            bytes[k] += 12 + records[i].record.rdata.count
            count[k] += 1
            if first[k] < 0 { first[k] = Int32(i) }
        }
        for k in 0..<sets.count {
            let r = records[Int(first[k])]
            // The header (12) and the question (owner, type and class).
            let size = 12 + r.record.owner.wire.count + 4 + bytes[k]
            guard size > ZoneChecks.largestMessage else { continue }
            error(
                r,
                "the \(LdnsRR.typeName(r.record.type)) RRset at \(r.record.owner) has \(count[k]) records and needs "
                    + "at least \(size) bytes in a reply, more than the \(ZoneChecks.largestMessage) a DNS message can hold; "
                    + "split it over several names"
            )
        }
    }

    /// Where a type's rdata holds domain names, whose case does not matter when records are compared (lower-casing a
    /// whole name's wire form is safe: length bytes are ≤ 63); empty for other types.
    static func nameRange(_ r: ResourceRecord) -> Range<Int> {
        let n = r.rdata.count
        switch r.type {
        case RRType.NS, RRType.CNAME, RRType.PTR, RRType.DNAME: return 0..<n
        case RRType.MX: return min(2, n)..<n
        case RRType.SRV: return min(6, n)..<n
        case RRType.SOA: return 0..<max(0, n - 20)
        default: return 0..<0
        }
    }

    /// FNV-1a of the RRset number and the rdata, its names lower-cased (`nameRange`).
    static func canonicalHash(_ r: ResourceRecord, set: Int32) -> UInt64 {
        let names = nameRange(r)
        var h: UInt64 = 0xcbf2_9ce4_8422_2325 ^ UInt64(UInt32(bitPattern: set))
        r.rdata.withUnsafeBufferPointer { d in
            for i in 0..<d.count {
                h = (h ^ UInt64(names.contains(i) ? asciiLower(d[i]) : d[i])) &* 0x100_0000_01b3
            }
        }
        return h
    }

    /// The rdata of `a` and `b` (of one type) are the same, their names compared case-insensitively.
    static func canonicallyEqual(_ a: ResourceRecord, _ b: ResourceRecord) -> Bool {
        guard a.rdata.count == b.rdata.count else { return false }
        let names = nameRange(a)
        return a.rdata.withUnsafeBufferPointer { x in
            b.rdata.withUnsafeBufferPointer { y in
                for i in 0..<x.count where x[i] != y[i] {
                    guard names.contains(i), asciiLower(x[i]) == asciiLower(y[i]) else { return false }
                }
                return true
            }
        }
    }

    mutating func checkSOA() {
        var apexSOA: ZoneRecord? = nil
        for r in records where r.record.type == RRType.SOA {
            if r.record.owner != apex {
                error(r, "SOA at \(r.record.owner) is not at the zone apex \(apex)")
            } else if let first = apexSOA {
                error(r, "more than one SOA at \(apex) (the first is on \(place(first, from: r)))")
            } else {
                apexSOA = r
            }
        }
        if let s = apexSOA {
            soa = s.record
        } else {
            problems.append(ZoneProblem(file: topFile, line: nil, message: "no SOA record at the zone apex \(apex)"))
        }
    }

    mutating func checkApexNS() {
        if !records.contains(where: { $0.record.type == RRType.NS && $0.record.owner == apex }) {
            problems.append(ZoneProblem(file: topFile, line: nil, message: "no NS records at the zone apex \(apex)"))
        }
    }

    mutating func checkCNAMEs(_ sets: RRsets) {
        // The owners that hold a CNAME, then every record at them, grouped by owner.
        var group = [Int32](repeating: -1, count: sets.ownerCount)
        var groups = 0
        for i in records.indices where records[i].record.type == RRType.CNAME {
            let o = Int(sets.ownerOf[Int(sets.ids[i])])
            if group[o] < 0 {
                group[o] = Int32(groups)
                groups += 1
            }
        }
        guard groups > 0 else { return }
        var members = [[Int]](repeating: [], count: groups)
        for i in records.indices {
            let g = group[Int(sets.ownerOf[Int(sets.ids[i])])]
            if g >= 0 { members[Int(g)].append(i) }
        }
        let besideAllowed: Set<UInt16> = [RRType.CNAME, RRType.RRSIG, RRType.NSEC]
        for idx in members {
            let cnames = idx.filter { records[$0].record.type == RRType.CNAME }
            guard let firstCNAME = cnames.first else { continue }
            var others: [UInt16] = []
            for i in idx where !besideAllowed.contains(records[i].record.type) {
                if !others.contains(records[i].record.type) { others.append(records[i].record.type) }
            }
            let c = records[firstCNAME]
            if !others.isEmpty {
                error(
                    c,
                    "CNAME at \(c.record.owner) beside other data (\(others.map(LdnsRR.typeName).joined(separator: ", ")))"
                )
            }
            for j in cnames.dropFirst() {
                error(
                    records[j],
                    "more than one CNAME at \(records[j].record.owner) "
                        + "(the first is on \(place(c, from: records[j])))"
                )
            }
        }
    }

    /// Types that only a signed zone holds. gtmd signs zones itself (the zone's `dnssec:` section): a
    /// pre-signed zone's records would clash with its own, so it is refused.
    static let dnssecTypes: [UInt16: String] = [46: "RRSIG", 47: "NSEC", 48: "DNSKEY", 50: "NSEC3", 51: "NSEC3PARAM"]

    /// One error per DNSSEC type found, at its first record (a signed zone has thousands of them).
    mutating func checkUnsigned() {
        var reported: Set<UInt16> = []
        for r in records {
            // The DNSSEC types are 46...51 (49, DHCID, is not one): a range test before the table.
            guard r.record.type >= 46 && r.record.type <= 51, let name = ZoneChecks.dnssecTypes[r.record.type],
                reported.insert(r.record.type).inserted
            else {
                continue
            }
            error(
                r,
                "\(name) at \(r.record.owner): the zone is already DNSSEC-signed, and gtmd signs zones itself "
                    + "(at publish, so failover answers are signed too); "
                    + "load the unsigned zone and give it a dnssec: section in the config"
            )
        }
    }

    /// RFC 6672 §2.4: one DNAME per owner. §2.3: no data below a DNAME owner (it would be occluded:
    /// names below the owner are answered by DNAME substitution).
    mutating func checkDNAMEs() {
        var dnames: [DNSName: ZoneRecord] = [:]
        for r in records where r.record.type == RRType.DNAME {
            if let first = dnames[r.record.owner] {
                error(r, "more than one DNAME at \(r.record.owner) (the first is on \(place(first, from: r)))")
            } else {
                dnames[r.record.owner] = r
            }
        }
        guard !dnames.isEmpty else { return }
        for r in records {
            var p = r.record.owner.parent
            while let q = p, q.wire.count >= apex.wire.count {
                if let d = dnames[q] {
                    error(
                        r,
                        "\(LdnsRR.typeName(r.record.type)) at \(r.record.owner) is below the DNAME at \(q) "
                            + "(\(place(d, from: r))) and would never be answered (RFC 6672 §2.3)"
                    )
                    break
                }
                p = q.parent
            }
        }
    }
}
