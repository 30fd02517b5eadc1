import DNSWire
import Zones

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Builds an immutable `AnswerTable` from loaded zones: every answer a query can get is serialised here,
/// once, so the responder only copies bytes. Pure: same zones and options give the same table.
public struct AnswerTableBuilder {
    public var options: ResponseOptions
    public var generation: UInt64

    public init(options: ResponseOptions = ResponseOptions(), generation: UInt64 = 1) {
        self.options = options
        self.generation = generation
    }

    /// Where an owner name points in a response: the question name itself, or a name written (compressed
    /// against the question and earlier names).
    enum OwnerRef: Equatable {
        case qname
        case name(DNSName)
    }

    /// A node's RRsets by type, in the order their types first appeared: the first inline (most names have one
    /// type), the others in one small array; not a hash table per name. Invariant: `rest` is empty when `first`
    /// is nil.
    struct RRsetMap: ExpressibleByDictionaryLiteral {
        private var first: [ResourceRecord]? = nil
        private var rest: [(type: UInt16, records: [ResourceRecord])] = []
        private var firstType: UInt16 = 0

        init(dictionaryLiteral elements: (UInt16, [ResourceRecord])...) {
            for (t, records) in elements { self[t] = records }
        }

        subscript(type: UInt16) -> [ResourceRecord]? {
            get {
                if let f = first, firstType == type { return f }
                for s in rest where s.type == type { return s.records }
                return nil
            }
            set {
                guard first != nil else {
                    if let v = newValue {
                        first = v
                        firstType = type
                    }
                    return
                }
                if firstType == type {
                    if let v = newValue {
                        first = v
                    } else if rest.isEmpty {
                        first = nil
                    } else {
                        // The next type moves up: the order of the others stays.
                        let next = rest.removeFirst()
                        first = next.records
                        firstType = next.type
                    }
                    return
                }
                let i = rest.firstIndex { $0.type == type }
                switch (i, newValue) {
                case (let i?, let v?): rest[i].records = v
                case (let i?, nil): rest.remove(at: i)
                case (nil, let v?): rest.append((type, v))
                case (nil, nil): break
                }
            }
        }

        /// Adds `rr` to its type's RRset unless an identical record is there (`distinct`: the caller knows there
        /// is none, and the RRset is not searched).
        mutating func add(_ rr: ResourceRecord, distinct: Bool = false) {
            if first == nil {
                first = [rr]
                firstType = rr.type
            } else if firstType == rr.type {
                if distinct || !first!.contains(rr) { first!.append(rr) }
            } else if let i = rest.firstIndex(where: { $0.type == rr.type }) {
                if distinct || !rest[i].records.contains(rr) { rest[i].records.append(rr) }
            } else {
                rest.append((rr.type, [rr]))
            }
        }

        var isEmpty: Bool { first == nil }
        var keys: [UInt16] { first == nil ? [] : [firstType] + rest.map(\.type) }
        /// The number of RRsets, and each by its place in the order of `keys` (without making that array).
        var count: Int { first == nil ? 0 : 1 + rest.count }
        func rrset(at i: Int) -> (type: UInt16, records: [ResourceRecord]) {
            i == 0 ? (firstType, first!) : rest[i - 1]
        }

        /// Each RRset with its type, in the order of `keys`.
        func eachRRset(_ body: (UInt16, [ResourceRecord]) -> Void) {
            for i in 0..<count {
                let (t, records) = rrset(at: i)
                body(t, records)
            }
        }
    }

    /// The compile's nodes by name (lower case): a `Numbering` of the names and the nodes in the order they were
    /// made. A look-up compares the names of no other nodes and holds no names (a dictionary of a million names
    /// compared keys in other slots, and retained and released them, all over the heap).
    struct NodesByName {
        private var numbers = Numbering(capacity: 0)
        private var byNumber: [BNode] = []

        var count: Int { byNumber.count }
        var isEmpty: Bool { byNumber.isEmpty }

        /// Room for `n` more nodes.
        mutating func reserveCapacity(_ n: Int) {
            numbers.reserveCapacity(count + n)
            byNumber.reserveCapacity(count + n)
        }

        subscript(name: DNSName) -> BNode? {
            numbers.find(name.word) { byNumber[Int($0)].name == name }.map { byNumber[Int($0)] }
        }

        /// The node named `name`, made in `zone` when there is none (`made`).
        mutating func node(_ name: DNSName, _ zone: Int) -> (node: BNode, made: Bool) {
            let r = numbers.number(name.word) { byNumber[Int($0)].name == name }
            guard r.new else { return (byNumber[Int(r.number)], false) }
            let n = BNode(name: name, zone: zone)
            byNumber.append(n)
            return (n, true)
        }

        /// Adds `n` (an empty non-terminal: its name has no node), or makes it the node of its name.
        mutating func insert(_ n: BNode) {
            let r = numbers.number(n.name.word) { byNumber[Int($0)].name == n.name }
            if r.new { byNumber.append(n) } else { byNumber[Int(r.number)] = n }
        }
    }

    /// A name of the zones being compiled. 56 bytes with the object header: one 64-byte block per name.
    final class BNode {
        let name: DNSName  // lower case
        var rrsets: RRsetMap = [:]
        private let zone32: Int32
        private var index32: Int32 = -1
        /// Index in `CompiledZones.order` of the highest zone cut at or above this node; -1 = none.
        var cutIndex: Int32 = -1
        var zone: Int { Int(zone32) }
        /// Index in `CompiledZones.order` (canonical order).
        var index: Int {
            get { Int(index32) }
            set { index32 = Int32(newValue) }
        }
        init(name: DNSName, zone: Int) {
            self.name = name
            self.zone32 = Int32(zone)
        }
        /// The types in the order they were first added (the zone file's order).
        var typeOrder: [UInt16] { rrsets.keys }
        func add(_ rr: ResourceRecord, distinct: Bool = false) { rrsets.add(rr, distinct: distinct) }
    }

    /// Accumulates answers into the flat arrays of the table: the compiled base, or a publish's top part,
    /// whose indexes continue the base's (`*Base`: the base's counts; 0 for the base itself).
    struct Emitter {
        var blob = ContiguousArray<UInt8>()
        var relocs = ContiguousArray<Reloc>()
        var cuts = ContiguousArray<Cut>()
        var answers = ContiguousArray<Answer>()
        var dnames = ContiguousArray<DNAMEEntry>()
        var extras = AnswerTable.refusedEDE
        var blobBase = 0, relocBase = 0, cutBase = 0, answerBase = 0, dnameBase = 0, extrasBase = 0

        init() {}

        /// An empty top part over `base`.
        init(over base: Emitter) {
            extras = []
            blobBase = base.blob.count
            relocBase = base.relocs.count
            cutBase = base.cuts.count
            answerBase = base.answers.count
            dnameBase = base.dnames.count
            extrasBase = base.extras.count
        }

        /// The table index of the next byte of `blob`.
        var blobEnd: Int { blobBase + blob.count }

        /// Each array copied into storage of its own size (the compiled base is kept; appends left up to
        /// half of each array's storage unused).
        mutating func shrinkToFit() {
            blob = blob.fitted()
            relocs = relocs.fitted()
            cuts = cuts.fitted()
            answers = answers.fitted()
            dnames = dnames.fitted()
            extras = extras.fitted()
        }
    }

    /// One answer under construction: RRsets appended section by section, every name compressed as far
    /// as RFC 1035 §4.1.4 and RFC 3597 §4 allow, against the question and the names written before it.
    /// Invariant: each pointer in `bytes` has a `Reloc` (its target depends on the question's length).
    struct Draft {
        enum Section { case answer, authority, additional }
        var bytes: [UInt8] = []
        var relocs: [Reloc] = []
        var cuts: [Cut] = []
        var an: UInt16 = 0, ns: UInt16 = 0, ar: UInt16 = 0
        var rcode: UInt8 = 0
        var aa = true
        /// Names whose addresses are in the additional section already (lower case), so they are not added
        /// twice. A few per answer: a linear search costs less than a set (hashing, storage) per answer.
        var seen: [DNSName] = []
        /// Extended DNS Error option sent with this answer (RFC 8914), empty for none.
        var ede: [UInt8] = []
        /// What was added, in order, so the signed twin can be written with RRSIGs (`CompiledZones.emitAnswer`).
        /// Kept only with `keepOps` (some zone is signed).
        var ops: [Op] = []
        let keepOps: Bool
        struct Op {
            var rrset: [ResourceRecord]
            var owner: OwnerRef
            var section: Section
            var required: Bool
            /// Only in the signed twin (a DS in a referral).
            var signedOnly: Bool
        }
        /// Signed twin only: NSEC/NSEC3 RRsets for the authority section (each one record), and the proof the
        /// responder appends per query (`Proof`).
        var proofs: [[ResourceRecord]] = []
        var proof: UInt8 = 0
        /// Denial entries (table indexes) the proofs above hold, so the responder does not repeat them.
        var skipEntries: [Int32] = []
        let anchor: DNSName?
        /// The anchor's wire form in lower case: its suffixes (but the root) are pointer targets into the
        /// question (`Reloc` target = the suffix's length).
        let anchorLower: [UInt8]
        /// Names written so far that later names may point at (`Reloc` target < 0: an offset in `bytes`):
        /// their wire forms in lower case, one after the other in `knownBytes`. A few names per answer: a
        /// linear search (hash first) costs less than a hash table per answer.
        var known: [KnownName] = []
        var knownBytes: [UInt8] = []
        struct KnownName {
            var hash: UInt32
            var start: Int32
            var length: Int32
            var target: Int32
        }
        /// Pointers reach 16383; a reply puts up to ~1 KiB (question, DNAME synthesis) before an answer.
        static let maxTarget = 0x3FFF - 1024

        /// `anchor`: a name every question this answer serves ends with (the question itself for an answer
        /// given only to exact matches); its suffixes are pointer targets in the question.
        init(anchor: DNSName? = nil, keepOps: Bool = true) {
            self.anchor = anchor
            self.keepOps = keepOps
            // One allocation for the bytes of a typical answer instead of a few as it grows; the same for the
            // cuts (the first cut, nothing with TC, and one per RRset). The pointers and the names that later
            // names may point at get theirs when the first is written.
            bytes.reserveCapacity(128)
            cuts.reserveCapacity(4)
            cuts.append(Cut(length: 0, an: 0, ns: 0, ar: 0, tc: true))
            guard let a = anchor else {
                anchorLower = []
                return
            }
            anchorLower = a.wire.contains { $0 >= 0x41 && $0 <= 0x5A } ? a.wire.map(asciiLower) : a.wire
        }

        /// Notes `name` in `seen`; false when it was there.
        mutating func firstSight(_ name: DNSName) -> Bool {
            if seen.contains(name) { return false }
            seen.append(name)
            return true
        }

        /// FNV-1a of a name's wire bytes in lower case.
        static func nameHash(_ s: ArraySlice<UInt8>) -> UInt32 {
            var h: UInt32 = 2_166_136_261
            for b in s { h = (h ^ UInt32(asciiLower(b))) &* 16_777_619 }
            return h
        }

        /// The pointer target of name `s` (a suffix of a name's wire form, root label included): a suffix of
        /// the anchor (but the root), else the first written name equal to it (case-insensitively).
        func target(of s: ArraySlice<UInt8>, hash: UInt32) -> Int32? {
            let n = s.count
            if n > 1 && n <= anchorLower.count {
                // On a label boundary of the anchor?
                var i = 0
                while anchorLower[i] != 0 && anchorLower.count - i > n { i += Int(anchorLower[i]) + 1 }
                if anchorLower.count - i == n && Draft.equalLower(s, anchorLower, at: i) { return Int32(n) }
            }
            for k in known where k.hash == hash && Int(k.length) == n {
                if Draft.equalLower(s, knownBytes, at: Int(k.start)) { return k.target }
            }
            return nil
        }

        /// `s` equals `lower[at..<at + s.count]` when `s` is lower-cased (`lower` is).
        static func equalLower(_ s: ArraySlice<UInt8>, _ lower: [UInt8], at: Int) -> Bool {
            var j = at
            for b in s {
                if asciiLower(b) != lower[j] { return false }
                j += 1
            }
            return true
        }

        /// Writes `name`: its longest known suffix as a pointer, the labels before it in full. With
        /// `register`, the labels written become pointer targets for later names.
        mutating func writeName(_ wire: ArraySlice<UInt8>, compress: Bool, register: Bool) {
            var i = wire.startIndex
            // Where this name's lower-case form went in `knownBytes` (from label `registeredFrom` on), once.
            var poolStart = -1
            var registeredFrom = 0
            while i < wire.endIndex && wire[i] != 0 {
                if compress || register {
                    let suffix = wire[i...]
                    let h = Draft.nameHash(suffix)
                    let t = target(of: suffix, hash: h)
                    if compress, let t {
                        relocs.append(Reloc(position: Int32(bytes.count), target: t))
                        bytes.append(0xC0)
                        bytes.append(0)
                        return
                    }
                    if register && bytes.count < Draft.maxTarget && t == nil {
                        if known.capacity == 0 {
                            known.reserveCapacity(8)
                            knownBytes.reserveCapacity(64)
                        }
                        if poolStart < 0 {
                            poolStart = knownBytes.count
                            registeredFrom = i
                            for b in suffix { knownBytes.append(asciiLower(b)) }
                        }
                        known.append(
                            KnownName(
                                hash: h,
                                start: Int32(poolStart + i - registeredFrom),
                                length: Int32(suffix.count),
                                target: -Int32(bytes.count) - 1
                            )
                        )
                    }
                }
                let l = Int(wire[i])
                bytes.append(contentsOf: wire[i...(i + l)])
                i += l + 1
            }
            bytes.append(0)
        }

        /// Length of the uncompressed name at `at` in `rdata` (nil when it runs past the end).
        static func nameLength(_ rdata: [UInt8], _ at: Int) -> Int? {
            var i = at
            while i < rdata.count {
                let l = Int(rdata[i])
                if l == 0 { return i + 1 - at }
                if l > 63 { return nil }
                i += l + 1
            }
            return nil
        }

        /// Where the names a response compresses or points at are in a type's RDATA: how many (at the start of
        /// the RDATA, after `fixedBefore` bytes), and whether they may be compressed. No names: copied as is.
        static func rdataNames(_ type: UInt16) -> (names: Int, fixedBefore: Int, compress: Bool) {
            switch type {
            case RRType.NS, RRType.CNAME, RRType.PTR, 3, 4, 7, 8, 9: (1, 0, true)  // MD, MF, MB, MG, MR
            case RRType.MX: (1, 2, true)
            case RRType.SOA, 14: (2, 0, true)  // MINFO
            case RRType.SRV: (1, 6, false)
            default: (0, 0, true)
            }
        }

        /// RDATA with its names compressed where RFC 3597 §4 allows (the RFC 1035 types); other types as is.
        /// An SRV target (RFC 2782: never compressed) is written in full but may be pointed at, as Knot does.
        mutating func writeRdata(_ rr: ResourceRecord) {
            let d = rr.rdata
            // (names at the start, bytes after them) for the compressible types.
            let layout = Draft.rdataNames(rr.type)
            let lengthAt = bytes.count
            bytes.append(0)
            bytes.append(0)
            guard layout.names > 0 && d.count >= layout.fixedBefore else {
                bytes.append(contentsOf: d)
                Draft.patchLength(&bytes, at: lengthAt)
                return
            }
            // At most two names (SOA, MINFO): their (offset, length), without an array per record.
            var names = (first: (at: 0, n: 0), second: (at: 0, n: 0))
            var ok = true
            var at = layout.fixedBefore
            for k in 0..<layout.names {
                guard let n = Draft.nameLength(d, at) else {
                    ok = false
                    break
                }
                if k == 0 { names.first = (at, n) } else { names.second = (at, n) }
                at += n
            }
            if rr.type != RRType.SOA && at != d.count { ok = false }
            if rr.type == RRType.SOA && d.count - at != 20 { ok = false }
            if ok {
                bytes.append(contentsOf: d[0..<layout.fixedBefore])
                writeName(
                    d[names.first.at..<(names.first.at + names.first.n)],
                    compress: layout.compress,
                    register: true
                )
                if layout.names > 1 {
                    writeName(
                        d[names.second.at..<(names.second.at + names.second.n)],
                        compress: layout.compress,
                        register: true
                    )
                }
                bytes.append(contentsOf: d[at...])
            } else {
                bytes.append(contentsOf: d)
            }
            Draft.patchLength(&bytes, at: lengthAt)
        }

        /// Fills in the RDLENGTH written as two zero bytes at `at` (the rdata follows it to the end).
        static func patchLength(_ bytes: inout [UInt8], at lengthAt: Int) {
            let len = bytes.count - lengthAt - 2
            bytes[lengthAt] = UInt8(len >> 8)
            bytes[lengthAt + 1] = UInt8(len & 0xFF)
        }

        mutating func add(
            _ rrset: [ResourceRecord],
            owner: OwnerRef,
            section: Section,
            required: Bool,
            sigs: [ResourceRecord] = [],
            signedOnly: Bool = false
        ) {
            guard !rrset.isEmpty else { return }
            if keepOps {
                ops.append(
                    Op(rrset: rrset, owner: owner, section: section, required: required, signedOnly: signedOnly)
                )
            }
            if signedOnly { return }
            if relocs.capacity == 0 { relocs.reserveCapacity(8) }
            // A header counts at most 65,535 records a section. The zone loader refuses an RRset no message can
            // hold; a policy's answer (a pool of that many members) is cut here, and needs TC over any transport.
            let room = Int(UInt16.max) - Int(max(an, ns, ar))
            for k in 0..<min(rrset.count + sigs.count, room) {
                let rr = k < rrset.count ? rrset[k] : sigs[k - rrset.count]
                switch owner {
                case .qname:
                    relocs.append(Reloc(position: Int32(bytes.count), target: 0))
                    bytes.append(0xC0)
                    bytes.append(0x0C)
                case .name(let n):
                    writeName(n.wire[...], compress: true, register: true)
                }
                bytes.append(UInt8(rr.type >> 8))
                bytes.append(UInt8(rr.type & 0xFF))
                bytes.append(UInt8(rr.rrClass >> 8))
                bytes.append(UInt8(rr.rrClass & 0xFF))
                for shift in stride(from: 24, through: 0, by: -8) {
                    bytes.append(UInt8((rr.ttl >> UInt32(shift)) & 0xFF))
                }
                writeRdata(rr)
                switch section {
                case .answer: an += 1
                case .authority: ns += 1
                case .additional: ar += 1
                }
            }
            // The previous cut drops this RRset: it needs TC when the RRset is required.
            if required || section != .additional {
                for i in cuts.indices { cuts[i].tc = true }
            }
            cuts.append(Cut(length: Int32(bytes.count), an: an, ns: ns, ar: ar, tc: false))
        }

        /// `plain`: the answer without DNSSEC data (no per-query proof, no denial entries to skip).
        func emit(into e: inout Emitter, plain: Bool = false) -> Int32 {
            // The last cut is the whole answer: the responder cuts only an answer that does not fit, so it never
            // picks that one, and the table does not hold it (12 bytes an answer).
            let last = cuts[cuts.count - 1]
            let wholeLast =
                cuts.count > 1 && Int(last.length) == bytes.count && last.an == an && last.ns == ns && last.ar == ar
            let kept = cuts.count - 1 - (wholeLast ? 1 : 0)
            var a = Answer(
                blobStart: Int32(e.blobEnd),
                blobLength: Int32(bytes.count),
                relocStart: Int32(e.relocBase + e.relocs.count),
                relocCount: Int32(relocs.count),
                cutStart: Int32(e.cutBase + e.cuts.count),
                cutCount: Int32(kept),
                an: an,
                ns: ns,
                ar: ar,
                rcode: rcode,
                aa: aa
            )
            if !plain {
                a.proof = proof
                if skipEntries.count > 0 { a.skip0 = skipEntries[0] }
                if skipEntries.count > 1 { a.skip1 = skipEntries[1] }
            }
            if !ede.isEmpty {
                a.edeStart = Int32(e.extrasBase + e.extras.count)
                a.edeLength = UInt16(ede.count)
                e.extras.append(contentsOf: ede)
            }
            e.blob.append(contentsOf: bytes)
            e.relocs.append(contentsOf: relocs)
            // Cut 0 (nothing, with TC) is the same for every answer: the responder knows it, the table does not
            // hold it.
            if kept > 0 { e.cuts.append(contentsOf: cuts[1...kept]) }
            e.answers.append(a)
            return Int32(e.answerBase + e.answers.count - 1)
        }
    }

    /// An Extended DNS Error option (RFC 8914): INFO-CODE and EXTRA-TEXT (UTF-8, cut to 200 bytes).
    static func extendedError(code: UInt16, text: String) -> [UInt8] {
        var t = Array(text.utf8.prefix(200))
        while let last = t.last, last & 0xC0 == 0x80 { t.removeLast() }  // no cut UTF-8 sequence
        if let last = t.last, last >= 0xC0 { t.removeLast() }
        let len = 2 + t.count
        return [
            0, UInt8(EDNSOption.extendedError), UInt8(len >> 8), UInt8(len & 0xFF), UInt8(code >> 8),
            UInt8(code & 0xFF),
        ] + t
    }

    /// Answers computed by a policy for one name, replacing the zone's A, AAAA and CNAME data there.
    public struct Dynamic: Sendable, Hashable {
        /// Each variant is a set of A/AAAA records or one CNAME; the responder picks `query ID % count`.
        /// One empty variant = NODATA for A/AAAA.
        public var variants: [[ResourceRecord]]
        /// SERVFAIL for A, AAAA and ANY.
        public var servfail: Bool
        /// The variants are per client region (index = region), not picked by query ID.
        public var byRegion: Bool
        /// byRegion: locate clients by their ECS address when the query has one.
        public var useECS: Bool
        /// byRegion: the regions (variant indexes) answered with SERVFAIL for A and AAAA.
        public var servfailVariants: Set<Int>
        /// EXTRA-TEXT of an Extended DNS Error (RFC 8914, INFO-CODE 0) sent with the A, AAAA and ANY answers
        /// to queries with EDNS: why the answer is not the normal one (every pool down: fail-open, empty,
        /// SERVFAIL). nil = none.
        public var extendedError: String?
        /// byRegion: the same per region (variant index).
        public var variantErrors: [Int: String]
        /// byRegion: answers per region, picked by query ID within the region's (a failback ramp): `variants`
        /// holds region r's at `r × perRegion ..< (r + 1) × perRegion`; the region indexes above stay regions.
        public var perRegion: Int = 1
        public init(
            variants: [[ResourceRecord]],
            servfail: Bool = false,
            byRegion: Bool = false,
            useECS: Bool = false,
            servfailVariants: Set<Int> = [],
            extendedError: String? = nil,
            variantErrors: [Int: String] = [:],
            perRegion: Int = 1
        ) {
            self.perRegion = perRegion
            self.variants = variants
            self.servfail = servfail
            self.byRegion = byRegion
            self.useECS = useECS
            self.servfailVariants = servfailVariants
            self.extendedError = extendedError
            self.variantErrors = variantErrors
        }
    }

    /// Compiles the zones once (names, cuts, negative answers, every static answer). `serviceNames` are the
    /// names whose answers a policy supplies; `CompiledZones.table(dynamic:)` then re-emits only them and
    /// the names whose answers read them (CNAME chains, additional data).
    public func compile(
        zones: [Zone],
        serviceNames: [DNSName],
        initial: [DNSName: Dynamic] = [:],
        signers: [DNSName: ZoneSigner] = [:]
    ) -> CompiledZones {
        CompiledZones(options: options, zones: zones, serviceNames: serviceNames, initial: initial, signers: signers)
    }

    /// One-shot build (zones plus policy answers).
    public func build(
        zones: [Zone],
        dynamic: [DNSName: Dynamic] = [:],
        signers: [DNSName: ZoneSigner] = [:]
    ) -> AnswerTable {
        compile(zones: zones, serviceNames: Array(dynamic.keys), initial: dynamic, signers: signers).table(
            dynamic: dynamic,
            generation: generation
        )
    }
}

/// Zones compiled into a base table plus what is needed to re-emit the answers of service names.
/// Used by one publisher at a time: `table(dynamic:)` is called serially (it re-injects records into the
/// node graph it owns), which is why this class is not `Sendable`.
public final class CompiledZones {
    typealias OwnerRef = AnswerTableBuilder.OwnerRef
    typealias BNode = AnswerTableBuilder.BNode
    typealias Draft = AnswerTableBuilder.Draft
    typealias Emitter = AnswerTableBuilder.Emitter
    typealias Dynamic = AnswerTableBuilder.Dynamic
    typealias NodesByName = AnswerTableBuilder.NodesByName

    let options: ResponseOptions
    let origins: [DNSName]
    /// The graph while compiling: nodes by name and in canonical order. Emptied by `freeze()` (the steering core
    /// calls it after the compile's first table); read nodes through `nodeNamed`, `nodeAt` and `nodeIndex`,
    /// which work before and after.
    var nodes = NodesByName()
    var order: [BNode] = []
    /// After the compile: the graph (FrozenGraph.swift), and the nodes made from it or kept as objects.
    var frozen: FrozenGraph? = nil
    var live: [Int32: BNode] = [:]
    /// Node index → index of the node `*.<name>` (names with a wildcard child only).
    var wildcardOf: [Int32: Int32] = [:]
    var soaOf: [[ResourceRecord]] = []
    /// Per zone: the zone we serve directly above it (its parent side holds the DS, RFC 4035 §3.1.4.1).
    var parentZone: [Int?] = []
    /// Per zone apex: the DS records the parent zone has there.
    var parentDS: [DNSName: [ResourceRecord]] = [:]
    /// DNAME owners (lower case): names below them are synthesized, never nodes (RFC 6672 §2.3).
    var dnameOwners: Set<DNSName> = []
    var zoneEntries = ContiguousArray<ZoneEntry>()
    var referralOf: [Int32: Int32] = [:]
    /// The base table's arrays, shared by every table `table(dynamic:)` makes (which adds a top part).
    var base = Emitter()
    var baseNodes = ContiguousArray<Node>()
    var baseTypes = ContiguousArray<TypeEntry>()
    var names = ContiguousArray<UInt8>()
    var index = ContiguousArray<Int32>()
    var chaos: [(name: [UInt8], answer: Int32)] = []
    /// Service names (lower case) with the zone's own records there, restored before each injection.
    var serviceNodes: [DNSName: AnswerTableBuilder.RRsetMap] = [:]
    /// Nodes to re-emit for a new set of policy answers: the service names and what reads them.
    var affected: [BNode] = []
    var dyn: [DNSName: Dynamic] = [:]
    /// Names read while emitting the current node.
    var touched: Set<DNSName> = []
    /// Per zone: its signer (nil = unsigned) and its NSEC/NSEC3 chain (Signing.swift).
    var signers: [ZoneSigner?] = []
    var chains: [DenialChain?] = []
    /// Some zone has a chain (is signed): answers get signed twins.
    var anySigned = false
    /// The base table's denial entries and their keys; `table(dynamic:)` re-makes the service names' entries.
    var baseDenial = ContiguousArray<DenialEntry>()
    var denialKeys = ContiguousArray<UInt8>()
    /// Earliest signature expiry and renewal among the signatures used: of the base, and of the table being built.
    var baseExpiry: UInt32 = .max
    var baseRenew: UInt32 = .max
    var expiry: UInt32 = .max
    var renew: UInt32 = .max
    /// The node being emitted is a wildcard (its signed answers need the question's cover).
    var emittingWildcard = false

    public var nodeCount: Int { baseNodes.count }
    /// When a signature of the base (the static answers) is due to be made again (seconds since 1970): the
    /// zones must be compiled again then; nil when no zone is signed.
    public var baseResignAt: UInt32? { baseRenew == .max ? nil : baseRenew }
    public var affectedCount: Int { affected.count }

    init(
        options: ResponseOptions,
        zones: [Zone],
        serviceNames: [DNSName],
        initial: [DNSName: Dynamic],
        signers: [DNSName: ZoneSigner] = [:]
    ) {
        self.options = options
        origins = zones.map { $0.origin.lowercased }
        self.signers = origins.map { signers[$0] }
        for (zi, o) in origins.enumerated() {
            var best: Int? = nil
            for (pi, p) in origins.enumerated() where pi != zi && p.wire.count < o.wire.count && o.isSubdomain(of: p) {
                if best == nil || p.wire.count > origins[best!].wire.count { best = pi }
            }
            parentZone.append(best)
        }
        for (zi, zone) in zones.enumerated() {
            for zr in zone.records where zr.record.type == RRType.DNAME && zoneOf(zr.record.owner.lowercased) == zi {
                dnameOwners.insert(zr.record.owner.lowercased)
            }
        }
        // 1. Nodes: each record goes to the zone with the longest origin containing its owner.
        for (zi, zone) in zones.enumerated() {
            let apexNode = node(origins[zi], zi)
            if let signer = self.signers[zi] {
                for r in signer.beginCompile() { apexNode.add(r) }
                if signer.nsec3 {
                    apexNode.add(
                        ResourceRecord(owner: origins[zi], type: RRType.NSEC3PARAM, ttl: 0, rdata: [1, 0, 0, 0, 0])
                    )
                }
            }
            // At most a node per record: the table is sized once (counting the runs of one owner first was a pass
            // over every record's name, a cache miss each in a big zone).
            nodes.reserveCapacity(zone.records.count)
            // The node of the previous record: the records of a name are usually written together. The loader
            // merged identical records, so none is looked for in its RRset (`distinct`); the records are read in
            // place (a copy of each `ZoneRecord` retained and released its names and file again).
            var last: BNode? = nil
            let records = zone.records
            for i in records.indices {
                if let l = last, l.name == records[i].record.owner {
                    l.add(records[i].record, distinct: true)
                    continue
                }
                let owner = CompiledZones.lower(records[i].record.owner)
                guard zoneOf(owner) == zi else {
                    // A more specific zone we serve has this name; the parent side keeps only its DS.
                    if records[i].record.type == RRType.DS, let child = origins.firstIndex(of: owner),
                        parentZone[child] == zi
                    {
                        parentDS[owner, default: []].append(records[i].record)
                    }
                    last = nil
                    continue
                }
                last = nil
                guard !belowDNAME(owner) else { continue }
                // The names between it and the apex become nodes once the nodes are sorted.
                let n = node(owner, zi)
                n.add(records[i].record, distinct: true)
                last = n
            }
        }
        for raw in serviceNames {
            let name = raw.lowercased
            guard let zi = zoneOf(name), !belowDNAME(name) else { continue }
            let n = node(name, zi)
            serviceNodes[name] = n.rrsets
        }
        inject(initial)
        // 2. Canonical order (parents before children) from a precomputed key (labels right to left), with the
        // empty non-terminals; zone cuts: a non-apex node with NS; the highest cut at or above each node.
        let made = order
        order = placed(CompiledZones.canonicalOrder(order))

        // Per signed zone: the NSEC/NSEC3 chain over the names it holds, and its entries in the base table.
        buildChains(zones)

        // Per zone: NXDOMAIN and NODATA answers (SOA in authority, TTL = min(SOA TTL, MINIMUM)).
        for (zi, zone) in zones.enumerated() {
            var soa = zone.soa
            soa.owner = origins[zi]
            soa.ttl = zone.negativeTTL
            soaOf.append([soa])
            let apexRef = OwnerRef.name(origins[zi])
            var nx = Draft(anchor: origins[zi], keepOps: anySigned)
            nx.rcode = Rcode.nxDomain
            nx.add([soa], owner: apexRef, section: .authority, required: true)
            if chains[zi] != nil { nx.proof = Proof.nxdomain }
            var nd = Draft(anchor: origins[zi], keepOps: anySigned)
            nd.add([soa], owner: apexRef, section: .authority, required: true)
            var entry = ZoneEntry(
                apexNode: Int32(nodes[origins[zi]]!.index),
                nxdomain: emitAnswer(nx, into: &base),
                nodata: emitAnswer(nd, into: &base)
            )
            if let c = chains[zi] {
                entry.denialStart = c.entryStart
                entry.denialCount = Int32(c.names.count)
                entry.nsec3 = c.nsec3
            }
            zoneEntries.append(entry)
        }

        // 3. Per node answers; note which nodes read a service name. The nodes are emitted in the order they were
        // made (the zone files' order, then the empty non-terminals), each put at its index: the objects, their
        // RRsets and records lie in memory in that order, and a walk in canonical order jumped across the heap.
        let services = Set(serviceNodes.keys)
        touched.reserveCapacity(16)
        var entries: [TypeEntry] = []
        entries.reserveCapacity(8)
        let unset = Node(
            nameStart: 0,
            hash: 0,
            typeStart: 0,
            typeCount: 0,
            nodata: -1,
            any: -1,
            referral: -1,
            wildcard: -1,
            zone: -1,
            nameLength: 0,
            isCut: false
        )
        baseNodes = ContiguousArray(repeating: unset, count: order.count)
        var emitted = [Bool](repeating: false, count: order.count)
        // The answers' arrays at once, from the record count (one RRset, answer, pointer and cut a record at most
        // in a plain zone, ~40 bytes of answer): growing them by doubling copied each and touched twice its
        // memory. What is not written is never touched; `shrinkToFit` below keeps what is.
        let records = zones.reduce(0) { $0 + $1.records.count }
        base.answers.reserveCapacity(records + order.count)
        base.relocs.reserveCapacity(2 * records)
        base.cuts.reserveCapacity(records + order.count)
        base.blob.reserveCapacity(48 * records)
        baseTypes.reserveCapacity(records)
        names.reserveCapacity(32 * order.count)
        func emit(_ n: BNode) {
            touched.removeAll(keepingCapacity: true)
            entries.removeAll(keepingCapacity: true)
            var node = emitNode(n, into: &base, entries: &entries)
            node.nameStart = Int32(names.count)
            node.typeStart = Int32(baseTypes.count)
            names.append(contentsOf: n.name.wire)
            baseTypes.append(contentsOf: entries)
            if (!services.isEmpty && services.contains(n.name))
                || (!touched.isEmpty && !touched.isDisjoint(with: services))
            {
                // Re-emitted at every publish: a table serves this node from its top part.
                node.overlay = Int32(affected.count)
                affected.append(n)
            }
            baseNodes[n.index] = node
            emitted[n.index] = true
        }
        for n in made { emit(n) }
        for n in order where !emitted[n.index] { emit(n) }

        // 4. Hash index.
        var cap = 4
        while cap < baseNodes.count * 2 { cap <<= 1 }
        index = ContiguousArray<Int32>(repeating: 0, count: cap)
        for (i, n) in baseNodes.enumerated() {
            var slot = Int(n.hash) & (cap - 1)
            while index[slot] != 0 { slot = (slot + 1) & (cap - 1) }
            index[slot] = Int32(i + 1)
        }

        // 5. CH class: version.bind / version.server, id.server / hostname.bind.
        chaosTXT(["version.bind.", "version.server."], options.versionText)
        chaosTXT(["id.server.", "hostname.bind."], options.identityText)
        baseExpiry = expiry
        baseRenew = renew
        for s in self.signers { s?.prune() }
        // The base lives as long as the compiled zones; appends grew its arrays by doubling.
        base.shrinkToFit()
        baseNodes = baseNodes.fitted()
        baseTypes = baseTypes.fitted()
        names = names.fitted()
    }

    /// A table with the policy answers in `dynamic` (service names not given keep their zone data). The table
    /// shares the compiled base arrays and adds a small top part: the affected nodes' answers, type entries and
    /// node records (`Node.overlay`), so a publish costs the affected names, not the zone.
    public func table(dynamic: [DNSName: AnswerTableBuilder.Dynamic], generation: UInt64) -> AnswerTable {
        inject(dynamic)
        var e = Emitter(over: base)
        var topNodes = ContiguousArray<Node>()
        topNodes.reserveCapacity(affected.count)
        var types = ContiguousArray<TypeEntry>()
        expiry = baseExpiry
        renew = baseRenew
        var denial = baseDenial
        remakeServiceEntries(&denial, into: &e)
        for n in affected {
            var entries: [TypeEntry] = []
            var node = emitNode(n, into: &e, entries: &entries)
            let old = baseNodes[n.index]
            node.nameStart = old.nameStart
            node.overlay = old.overlay
            node.typeStart = Int32(baseTypes.count + types.count)
            types.append(contentsOf: entries)
            topNodes.append(node)
        }
        return AnswerTable(
            generation: generation,
            options: options,
            names: names,
            nodes: NodeTable(base: baseNodes, top: topNodes),
            types: Layered(base: baseTypes, top: types),
            answers: Layered(base: base.answers, top: e.answers),
            blob: Layered(base: base.blob, top: e.blob),
            relocs: Layered(base: base.relocs, top: e.relocs),
            cuts: Layered(base: base.cuts, top: e.cuts),
            zones: zoneEntries,
            index: index,
            chaos: chaos,
            dnames: Layered(base: base.dnames, top: e.dnames),
            extras: Layered(base: base.extras, top: e.extras),
            denial: denial,
            denialKeys: denialKeys,
            signatureExpiry: expiry == .max ? nil : expiry,
            resignAt: renew == .max ? nil : renew
        )
    }

    // MARK: - Building blocks

    /// `nodes` in canonical order (RFC 4034 §6.1): each name's sort key (its labels right to left, each followed
    /// by a zero byte; lower-case names compare bytewise, a prefix first) in one buffer, an index array sorted.
    static func canonicalOrder(_ nodes: [BNode]) -> [BNode] {
        var keys: [UInt8] = []
        var spans: [(start: Int32, length: Int32)] = []
        spans.reserveCapacity(nodes.count)
        keys.reserveCapacity(32 * nodes.count)
        for n in nodes {
            let start = keys.count
            n.name.wire.withUnsafeBufferPointer { w in
                // The labels right to left, each followed by a 0: the label at offset i of the wire form (length l)
                // goes to [L - i - l - 1, L - i - 1) of the key and its 0 to L - i - 1, where L = wire length - 1.
                // Written into a buffer on the stack in one walk, then appended at once.
                withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 256) { key in
                    let length = w.count - 1
                    var i = 0
                    while w[i] != 0 {
                        let l = Int(w[i])
                        let to = length - i - l - 1
                        (key.baseAddress! + to).update(from: w.baseAddress! + i + 1, count: l)
                        key[length - i - 1] = 0
                        i += l + 1
                    }
                    keys.append(contentsOf: UnsafeBufferPointer(rebasing: key[0..<length]))
                }
            }
            spans.append((Int32(start), Int32(keys.count - start)))
        }
        // Every key starts with the same bytes when the names share a zone (its labels come first): the sort
        // compares from the first byte that differs somewhere, and first by the next eight bytes as one
        // big-endian word (zeros past a key's end: a key that ends there is a prefix, so it sorts first, as
        // in the full comparison). Two keys with the same word are compared in full.
        var idx: [(word: UInt64, node: Int32)] = []
        idx.reserveCapacity(nodes.count)
        keys.withUnsafeBufferPointer { k in
            spans.withUnsafeBufferPointer { sp in
                var common = sp.first.map { Int($0.length) } ?? 0
                for s in sp.dropFirst() where common > 0 {
                    let n = min(common, Int(s.length))
                    var i = 0
                    while i < n, k[Int(sp[0].start) + i] == k[Int(s.start) + i] { i += 1 }
                    common = i
                }
                for (i, s) in sp.enumerated() {
                    var word: UInt64 = 0
                    let from = Int(s.start) + common
                    let end = Int(s.start) + Int(s.length)
                    for j in 0..<8 { word = word << 8 | UInt64(from + j < end ? k[from + j] : 0) }
                    idx.append((word, Int32(i)))
                }
                idx.sort { a, b in
                    if a.word != b.word { return a.word < b.word }
                    let x = sp[Int(a.node)]
                    let y = sp[Int(b.node)]
                    let c = memcmp(
                        k.baseAddress! + Int(x.start) + common,
                        k.baseAddress! + Int(y.start) + common,
                        Int(min(x.length, y.length)) - common
                    )
                    return c != 0 ? c < 0 : x.length < y.length
                }
            }
        }
        return idx.map { nodes[Int($0.node)] }
    }

    /// The node for `name`, made (unsorted, at the end of `order`) when there is none yet.
    @discardableResult
    func node(_ name: DNSName, _ zone: Int) -> BNode {
        let (n, made) = nodes.node(name, zone)
        if made { order.append(n) }
        return n
    }

    /// `sorted` (canonical order) with the empty non-terminals it lacks, each right before its first descendant, so
    /// that every name between a node and its zone's apex is a node; sets each node's index, its highest zone cut
    /// (a non-apex node with NS) and the wildcard child of each name that has one. Canonical order puts a name's
    /// ancestors before it and its descendants right after it: `path`, the nodes from the top down to the previous
    /// one, ends with the node's deepest existing ancestor once the others are dropped, and the names between the
    /// two are made. No parent name is made and looked up per node.
    func placed(_ sorted: [BNode]) -> [BNode] {
        var out: [BNode] = []
        out.reserveCapacity(sorted.count)
        var path: [BNode] = []
        func put(_ n: BNode) {
            let parent = path.last
            n.index = out.count
            out.append(n)
            path.append(n)
            guard n.name.wire.count > origins[n.zone].wire.count else { return }
            if let pn = parent, pn.cutIndex >= 0 {
                n.cutIndex = pn.cutIndex
            } else if n.rrsets[RRType.NS] != nil {
                n.cutIndex = Int32(n.index)
            }
            if n.name.isWildcard, let pn = parent { wildcardOf[Int32(pn.index)] = Int32(n.index) }
        }
        var missing: [Int] = []
        for n in sorted {
            while let top = path.last, !wireNameIsAtOrBelow(n.name.wire, top.name.wire) { path.removeLast() }
            // The suffixes of the name longer than its deepest ancestor on the path and than its apex, top down.
            let wire = n.name.wire
            let above = max(path.last?.name.wire.count ?? 0, origins[n.zone].wire.count)
            missing.removeAll(keepingCapacity: true)
            var i = Int(wire[0]) + 1
            while wire.count - i > above {
                missing.append(i)
                i += Int(wire[i]) + 1
            }
            for start in missing.reversed() {
                let ent = BNode(name: DNSName(uncheckedWire: Array(wire[start...])), zone: n.zone)
                nodes.insert(ent)
                put(ent)
            }
            put(n)
        }
        return out
    }

    /// True when a proper ancestor of `name` (lower case) in its zone owns a DNAME.
    func belowDNAME(_ name: DNSName) -> Bool {
        guard !dnameOwners.isEmpty, let zi = zoneOf(name) else { return false }
        var p = name.parent
        while let q = p, q.wire.count >= origins[zi].wire.count {
            if dnameOwners.contains(q) { return true }
            p = q.parent
        }
        return false
    }

    func zoneOf(_ name: DNSName) -> Int? {
        var best: Int? = nil
        for (i, o) in origins.enumerated() where wireNameIsAtOrBelow(name.wire, o.wire) {
            if best == nil || o.wire.count > origins[best!].wire.count { best = i }
        }
        return best
    }

    /// The name in lower case, sharing the storage when it already is.
    static func lower(_ name: DNSName) -> DNSName {
        name.wire.contains { $0 >= 0x41 && $0 <= 0x5A } ? name.lowercased : name
    }

    /// Policy answers replace the zone's A, AAAA and CNAME data at service names.
    func inject(_ dynamic: [DNSName: Dynamic]) {
        var given: [DNSName: Dynamic] = [:]
        for (k, v) in dynamic { given[k.lowercased] = v }
        dyn = [:]
        for (name, saved) in serviceNodes {
            let n = nodeNamed(name)!
            n.rrsets = saved
            guard let d = given[name] else { continue }
            dyn[name] = d
            for t in [RRType.A, RRType.AAAA, RRType.CNAME] { n.rrsets[t] = nil }
            let first = d.variants.first ?? []
            if first.contains(where: { $0.type == RRType.CNAME }) { n.rrsets = [:] }  // a CNAME stands alone
            // Identical records kept once, with a set: a pool's answer can be long, and a search of the RRset
            // for each record would take quadratic time.
            var seen = Set<ResourceRecord>(minimumCapacity: first.count)
            for rr in first {
                var r = rr
                r.owner = name
                if seen.insert(r).inserted { n.add(r, distinct: true) }
            }
        }
    }

    /// The highest zone cut at or above node `n` (nil: none).
    func cutOf(_ n: BNode) -> BNode? { n.cutIndex < 0 ? nil : nodeAt(Int(n.cutIndex)) }

    func cutAbove(_ name: DNSName, zone: Int) -> BNode? {
        if let n = nodeNamed(name) { return cutOf(n) }
        // Not a node: the cut above its closest existing ancestor.
        var p = name.parent
        while let q = p, q.wire.count >= origins[zone].wire.count {
            if let n = nodeNamed(q) { return cutOf(n) }
            p = q.parent
        }
        return nil
    }

    /// Referral per cut: NS in authority (AA off) and the name servers' addresses. Every cut with a node
    /// below it gets its referral during the base build, so later tables reuse those answers.
    func referral(_ cut: BNode, into e: inout Emitter) -> Int32 {
        if let r = referralOf[Int32(cut.index)] { return r }
        var d = Draft(anchor: cut.name, keepOps: anySigned)
        d.aa = false
        addReferral(cut, to: &d)
        let r = emitAnswer(d, into: &e)
        referralOf[Int32(cut.index)] = r
        return r
    }

    /// The cut's NS RRset in authority, then the addresses of its name servers that we hold: glue below
    /// the cut (required: without it the referral is useless, RFC 9471) and our authoritative data for
    /// in-zone servers outside the cut (optional, as Knot and NSD add them).
    func addReferral(_ cut: BNode, to d: inout Draft) {
        let ns = cut.rrsets[RRType.NS] ?? []
        d.add(ns, owner: .name(cut.name), section: .authority, required: true)
        if chains[cut.zone] != nil {
            // Signed twin (RFC 4035 §3.1.4): the DS with its RRSIG, or the cut's NSEC proving there is none.
            if let ds = cut.rrsets[RRType.DS] {
                d.add(ds, owner: .name(cut.name), section: .authority, required: true, signedOnly: true)
            } else {
                d.proofs = nodeProof(cut)
            }
        }
        for rr in ns {
            guard let t = rr.targetName?.lowercased, let g = nodeNamed(t) else { continue }
            let glue = t.isSubdomain(of: cut.name)
            if !glue {
                guard zoneOf(t) != nil, cutAbove(t, zone: g.zone) == nil else { continue }
                touched.insert(t)
            }
            guard d.firstSight(t) else { continue }
            for type in [RRType.A, RRType.AAAA] {
                if let set = g.rrsets[type] { d.add(set, owner: .name(t), section: .additional, required: glue) }
            }
        }
    }

    /// The name whose addresses go to the additional section for `rr` (RFC 1034 §3.6, RFC 9460 §4): NS, MX
    /// and SRV targets; SVCB/HTTPS TargetName ("." in ServiceMode: the owner). Nil for other types.
    static func additionalTarget(_ rr: ResourceRecord) -> DNSName? {
        switch rr.type {
        case RRType.NS, RRType.MX, RRType.SRV: return rr.targetName
        case RRType.SVCB, RRType.HTTPS:
            guard rr.rdata.count >= 3, let n = Draft.nameLength(rr.rdata, 2),
                let name = DNSName(wire: Array(rr.rdata[2..<(2 + n)]))
            else { return nil }
            if name.wire == [0] {
                let priority = Int(rr.rdata[0]) << 8 | Int(rr.rdata[1])
                return priority == 0 ? nil : rr.owner
            }
            return name
        default: return nil
        }
    }

    /// Additional-section data for NS/MX/SRV/SVCB/HTTPS targets that we serve (A and AAAA), not required:
    /// a reply that does not fit drops them, RRset by RRset from the end, before anything else.
    func addAdditional(_ rrset: [ResourceRecord], to d: inout Draft) {
        for rr in rrset {
            guard let t = CompiledZones.additionalTarget(rr)?.lowercased else { continue }
            touched.insert(t)
            guard let g = nodeNamed(t), zoneOf(t) != nil else { continue }
            // Glue below a cut is only given with referrals, except for NS targets.
            if cutAbove(t, zone: g.zone) != nil && rr.type != RRType.NS { continue }
            guard d.firstSight(t) else { continue }
            for type in [RRType.A, RRType.AAAA] {
                if let set = g.rrsets[type] {
                    d.add(set, owner: .name(t), section: .additional, required: false)
                }
            }
        }
    }

    /// The types whose answers carry the addresses of the names in their RDATA in the additional section.
    static func addsAdditional(_ type: UInt16) -> Bool {
        switch type {
        case RRType.NS, RRType.MX, RRType.SRV, RRType.SVCB, RRType.HTTPS: true
        default: false
        }
    }

    /// Positive answer for an RRset, appended to `prefix` (or to a new answer for the exact name `anchor`).
    func positive(_ rrset: [ResourceRecord], owner: OwnerRef, anchor: DNSName, prefix: Draft? = nil) -> Draft {
        var d = prefix ?? Draft(anchor: anchor, keepOps: anySigned)
        d.add(rrset, owner: owner, section: .answer, required: true)
        if let t = rrset.first?.type, CompiledZones.addsAdditional(t) {
            addAdditional(rrset, to: &d)
        }
        return d
    }

    /// An RRset whose answer `emitPlain` writes: its type's RDATA holds no name (copied as is) and it adds
    /// nothing to the additional section.
    static func isPlain(_ type: UInt16) -> Bool {
        Draft.rdataNames(type).names == 0 && !addsAdditional(type)
    }

    /// The answer `emitAnswer(positive(rrset, owner: .qname, …), into: &e)` gives for an RRset of a plain type
    /// (`isPlain`) in an unsigned zone, written straight into `e` without a `Draft` and its arrays: each record's
    /// owner a pointer to the question, its RDATA as is; no cut (the only one is the whole RRset). Most names of a big
    /// zone have only such RRsets (addresses, TXT). `BuilderTests.plainAnswersAreTheDraftsAnswers` holds the
    /// two ways to the same bytes.
    func emitPlain(_ rrset: [ResourceRecord], into e: inout Emitter) -> Int32 {
        let count = min(rrset.count, Int(UInt16.max))
        let start = e.blob.count
        for rr in rrset[..<count] {
            e.relocs.append(Reloc(position: Int32(e.blob.count - start), target: 0))
            let rdLength = rr.rdata.count
            let fixed: (UInt64, UInt32) = (
                UInt64(0xC00C) << 48 | UInt64(rr.type) << 32 | UInt64(rr.rrClass) << 16 | UInt64(rr.ttl >> 16),
                (rr.ttl & 0xFFFF) << 16 | UInt32(rdLength)
            )
            withUnsafeBytes(of: (fixed.0.bigEndian, fixed.1.bigEndian)) { e.blob.append(contentsOf: $0.prefix(12)) }
            e.blob.append(contentsOf: rr.rdata)
        }
        let length = e.blob.count - start
        let a = Answer(
            blobStart: Int32(e.blobBase + start),
            blobLength: Int32(length),
            relocStart: Int32(e.relocBase + e.relocs.count - count),
            relocCount: Int32(count),
            cutStart: Int32(e.cutBase + e.cuts.count),
            cutCount: 0,
            an: UInt16(count),
            ns: 0,
            ar: 0,
            rcode: 0,
            aa: true
        )
        e.answers.append(a)
        return Int32(e.answerBase + e.answers.count - 1)
    }

    /// Emits every answer of node `n`; returns its table node (name and type offsets filled by the caller).
    func emitNode(_ n: BNode, into e: inout Emitter, entries: inout [TypeEntry]) -> Node {
        let zi = n.zone
        let zoneNodata = zoneEntries[zi].nodata
        var node = Node(
            nameStart: 0,
            hash: n.name.wire.withUnsafeBufferPointer { AnswerTable.hashName($0.baseAddress!, $0.count) },
            typeStart: 0,
            typeCount: 0,
            nodata: zoneNodata,
            any: zoneNodata,
            referral: -1,
            wildcard: -1,
            zone: Int32(zi),
            nameLength: UInt8(n.name.wire.count),
            isCut: false
        )
        node.wildcard = wildcardOf.isEmpty ? -1 : wildcardOf[Int32(n.index)] ?? -1
        let zoneChain = chains[zi]
        emittingWildcard = zoneChain != nil && n.name.isWildcard
        defer { emittingWildcard = false }
        if zoneChain != nil && node.wildcard < 0 && cutOf(n) == nil {
            (node.nxProof0, node.nxProof1) = nxProofEntries(n, zone: zi)
        }
        let apex = OwnerRef.name(origins[zi])
        // Answers of a wildcard node serve every name below its parent: only the parent is known to be in
        // the question. Other nodes' answers serve exactly their own name.
        let anchor = n.name.isWildcard ? n.name.parent! : n.name
        let owner: OwnerRef = .qname
        if let cut = cutOf(n) {
            node.referral = referral(cut, into: &e)
            node.isCut = cut === n
            if node.isCut, let ds = n.rrsets[RRType.DS] {
                entries.append(
                    TypeEntry(
                        qtype: RRType.DS,
                        regions: 1,
                        answer: emitAnswer(positive(ds, owner: owner, anchor: anchor), into: &e)
                    )
                )
            }
            if node.isCut && zoneChain != nil && n.rrsets[RRType.DS] == nil {
                // DS asked at an unsigned delegation: NODATA with the cut's NSEC (NS, no DS).
                var nd = Draft(anchor: anchor, keepOps: anySigned)
                nd.add(soaOf[zi], owner: apex, section: .authority, required: true)
                nd.proofs = nodeProof(n)
                node.nodata = emitAnswer(nd, into: &e)
            }
            node.typeCount = Int32(entries.count)
            return node
        }
        // A zone apex below another zone we serve: DS is the parent's data (RFC 4035 §3.1.4.1).
        let parent = n.name == origins[zi] ? parentZone[zi] : nil
        if let pz = parent {
            let d: Draft
            if let ds = parentDS[n.name] {
                d = positive(ds, owner: owner, anchor: anchor)
            } else {
                var nd = Draft(anchor: anchor, keepOps: anySigned)
                nd.add(soaOf[pz], owner: .name(origins[pz]), section: .authority, required: true)
                d = nd
            }
            entries.append(TypeEntry(qtype: RRType.DS, regions: 1, answer: emitAnswer(d, into: &e)))
        }
        if let dname = n.rrsets[RRType.DNAME]?.first {
            // Names below: the DNAME (owner a pointer into the question), target written in full (§2.5).
            var d = Draft(anchor: n.name, keepOps: anySigned)
            d.add([dname], owner: .name(n.name), section: .answer, required: true)
            let entry = DNAMEEntry(
                answer: emitAnswer(d, into: &e),
                targetOffset: Int32(d.bytes.count - dname.rdata.count),
                targetLength: Int32(dname.rdata.count),
                ttl: dname.ttl
            )
            node.dname = Int32(e.dnameBase + e.dnames.count)
            e.dnames.append(entry)
        }
        if let cname = n.rrsets[RRType.CNAME] {
            let chain = followChain(from: n, cname: cname)
            var base = Draft(anchor: anchor, keepOps: anySigned)
            for (i, link) in chain.links.enumerated() {
                base.add([link], owner: i == 0 ? owner : .name(link.owner), section: .answer, required: true)
            }
            let cnameAnswer = emitAnswer(positive(cname, owner: owner, anchor: anchor), into: &e)
            entries.append(TypeEntry(qtype: RRType.CNAME, regions: 1, answer: cnameAnswer))
            node.any = cnameAnswer
            var def = base
            switch chain.end {
            case .data(let target, let ownerName):
                for t in target.typeOrder where t != RRType.CNAME && t != RRType.DNAME {
                    let d = positive(target.rrsets[t]!, owner: .name(ownerName), anchor: anchor, prefix: base)
                    entries.append(TypeEntry(qtype: t, regions: 1, answer: emitAnswer(d, into: &e)))
                }
                def.add(soaOf[zi], owner: apex, section: .authority, required: true)
                if zoneChain != nil { def.proofs = nodeProof(target) }
            case .nxdomain:
                def.rcode = Rcode.nxDomain
                def.add(soaOf[zi], owner: apex, section: .authority, required: true)
                if zoneChain != nil, let target = chain.links.last?.targetName?.lowercased {
                    def.proofs = staticNXProof(target, zone: zi)
                }
            case .referral(let cut):
                // Into a delegation: the chain, then the referral (RFC 1034 §4.3.2 step 3b), as NSD and Knot.
                addReferral(cut, to: &def)
            case .stop:
                break
            }
            node.nodata = emitAnswer(def, into: &e)
        } else {
            let d = dyn[n.name]
            /// The EDE option for variant `i` of a policy answer (empty when the answer is the normal one).
            func ede(_ d: Dynamic, _ i: Int?) -> [UInt8] {
                guard let text = i.flatMap({ d.variantErrors[$0] }) ?? d.extendedError else { return [] }
                return AnswerTableBuilder.extendedError(code: 0, text: text)
            }
            /// One answer per variant for type `t` (NODATA in variants without it), picked by query ID.
            func variantEntry(_ t: UInt16, _ d: Dynamic) -> TypeEntry {
                var drafts: [Draft] = []
                for (i, v) in d.variants.enumerated() {
                    let rrs = v.filter { $0.type == t }.map { rr -> ResourceRecord in
                        var r = rr
                        r.owner = n.name
                        return r
                    }
                    var draft = Draft(anchor: anchor, keepOps: anySigned)
                    let region = d.byRegion ? i / max(1, d.perRegion) : i
                    if d.servfailVariants.contains(region) {
                        draft.rcode = Rcode.servFail
                        draft.aa = false
                    } else if rrs.isEmpty {
                        draft.add(soaOf[zi], owner: apex, section: .authority, required: true)
                        if zoneChain != nil {
                            draft.proofs = nodeProof(n, variantTypes: Set(v.map(\.type)))
                        }
                    } else {
                        draft = positive(rrs, owner: owner, anchor: anchor)
                    }
                    draft.ede = ede(d, d.byRegion ? region : nil)
                    drafts.append(draft)
                }
                let first = emitAnswers(drafts, into: &e)
                return TypeEntry(
                    qtype: t,
                    regions: UInt16(d.variants.count),
                    answer: first,
                    byQueryID: !d.byRegion,
                    useECS: d.byRegion && d.useECS,
                    perRegion: d.byRegion ? UInt16(max(1, d.perRegion)) : 1
                )
            }
            let rrsets = n.rrsets
            for k in 0..<rrsets.count {
                let (t, rrset) = rrsets.rrset(at: k)
                if parent != nil && t == RRType.DS { continue }
                if let d, t == RRType.A || t == RRType.AAAA, d.variants.count > 1 {
                    entries.append(variantEntry(t, d))
                    continue
                }
                if d == nil && !anySigned && CompiledZones.isPlain(t) {
                    entries.append(TypeEntry(qtype: t, regions: 1, answer: emitPlain(rrset, into: &e)))
                    continue
                }
                var draft = positive(rrset, owner: owner, anchor: anchor)
                if let d, t == RRType.A || t == RRType.AAAA { draft.ede = ede(d, nil) }
                entries.append(TypeEntry(qtype: t, regions: 1, answer: emitAnswer(draft, into: &e)))
            }
            if let d, d.variants.count > 1 {
                // A type present only in later variants still needs its entry.
                for t in [RRType.A, RRType.AAAA]
                where !n.typeOrder.contains(t)
                    && (d.variants.contains(where: { $0.contains { $0.type == t } }) || !d.servfailVariants.isEmpty
                        || !d.variantErrors.isEmpty)
                {
                    entries.append(variantEntry(t, d))
                }
            } else if let d, d.extendedError != nil {
                // NODATA for the address types this answer lacks, with the EDE (the zone's NODATA has none).
                for t in [RRType.A, RRType.AAAA] where !n.typeOrder.contains(t) {
                    var nd = Draft(anchor: anchor, keepOps: anySigned)
                    nd.add(soaOf[zi], owner: apex, section: .authority, required: true)
                    if zoneChain != nil { nd.proofs = nodeProof(n) }
                    nd.ede = ede(d, nil)
                    entries.append(TypeEntry(qtype: t, regions: 1, answer: emitAnswer(nd, into: &e)))
                }
            }
            if let d, d.servfail {
                var sf = Draft(keepOps: anySigned)
                sf.rcode = Rcode.servFail
                sf.aa = false
                sf.ede = ede(d, nil)
                let idx = emitAnswer(sf, into: &e)
                entries.removeAll { $0.qtype == RRType.A || $0.qtype == RRType.AAAA }
                entries.append(TypeEntry(qtype: RRType.A, regions: 1, answer: idx))
                entries.append(TypeEntry(qtype: RRType.AAAA, regions: 1, answer: idx))
                node.any = idx
            }
            if zoneChain != nil {
                // NODATA at this name: its own NSEC/NSEC3 (or, NSEC at an empty non-terminal, the one covering it).
                var nd = Draft(anchor: anchor, keepOps: anySigned)
                nd.add(soaOf[zi], owner: apex, section: .authority, required: true)
                nd.proofs = nodeProof(n)
                if n.name.isWildcard, let c = zoneChain {
                    nd.skipEntries = [n.name, n.name.parent!].compactMap { c.indexOf[$0] }.map {
                        c.entryStart + Int32($0)
                    }
                }
                node.nodata = emitAnswer(nd, into: &e)
                if node.any == zoneNodata { node.any = node.nodata }
            }
            // RFC 8482: one RRset for ANY, the lowest type number present.
            if node.any == node.nodata, let first = entries.min(by: { $0.qtype < $1.qtype }) { node.any = first.answer }
        }
        node.typeCount = Int32(entries.count)
        return node
    }

    func chaosTXT(_ names: [String], _ text: String?) {
        guard let text else { return }
        var rdata: [UInt8] = []
        var rest = Array(text.utf8)
        repeat {
            let chunk = rest.prefix(255)
            rdata.append(UInt8(chunk.count))
            rdata.append(contentsOf: chunk)
            rest.removeFirst(chunk.count)
        } while !rest.isEmpty
        for s in names {
            guard let name = try? DNSName(s) else { continue }
            var d = Draft(anchor: name, keepOps: anySigned)
            d.add(
                [ResourceRecord(owner: name, type: RRType.TXT, rrClass: RRClass.CH, ttl: 0, rdata: rdata)],
                owner: .qname,
                section: .answer,
                required: true
            )
            chaos.append((name.lowercased.wire, d.emit(into: &base)))
        }
    }

    enum ChainEnd {
        /// The chain ends at a node with data (or an empty non-terminal); owner is the name as written.
        case data(BNode, DNSName)
        case nxdomain
        /// Into a delegated subtree: the chain, then the cut's referral.
        case referral(BNode)
        /// Out of zone, or a loop: the answer is the chain alone.
        case stop
    }

    /// Follows a CNAME chain inside the zone of `start` (at most 8 links, loops cut), through DNAMEs
    /// (the DNAME and the CNAME synthesized from it become links, RFC 6672 §3.1).
    func followChain(from start: BNode, cname: [ResourceRecord]) -> (links: [ResourceRecord], end: ChainEnd) {
        var links = [cname[0]]
        var seen: Set<DNSName> = [start.name]
        var current = cname[0]
        while links.count <= 8 {
            guard let target = current.targetName?.lowercased else { return (links, .stop) }
            touched.insert(target)
            guard !seen.contains(target), zoneOf(target) == start.zone else { return (links, .stop) }
            if let cut = cutAbove(target, zone: start.zone) { return (links, .referral(cut)) }
            seen.insert(target)
            var hit = nodeNamed(target)
            var synthesized = false
            if hit == nil {
                // DNAME or wildcard at the closest encloser?
                var p = target.parent
                while let q = p {
                    if let enc = nodeNamed(q) {
                        if let dname = enc.rrsets[RRType.DNAME]?.first, let to = DNSName(wire: dname.rdata) {
                            let prefix = target.wire.count - q.wire.count
                            guard prefix + to.wire.count <= 255 else { return (links, .stop) }
                            let cname = ResourceRecord(
                                owner: target,
                                type: RRType.CNAME,
                                ttl: dname.ttl,
                                rdata: Array(target.wire[0..<prefix]) + to.wire
                            )
                            links.append(dname)
                            links.append(cname)
                            current = cname
                            synthesized = true
                            break
                        }
                        hit = nodeNamed(q.prepending(label: "*"))
                        if hit == nil { return (links, .nxdomain) }
                        break
                    }
                    p = q.parent
                }
                if synthesized { continue }
            }
            guard let n = hit else { return (links, .nxdomain) }
            if let next = n.rrsets[RRType.CNAME]?.first {
                var link = next
                link.owner = target
                links.append(link)
                current = link
                continue
            }
            return (links, .data(n, target))
        }
        return (links, .stop)
    }
}

extension ContiguousArray {
    /// A copy in storage sized to the count (the original keeps whatever capacity growth left it).
    func fitted() -> ContiguousArray {
        guard capacity > count else { return self }
        var copy = ContiguousArray()
        copy.reserveCapacity(count)
        copy.append(contentsOf: self)
        return copy
    }
}
