import DNSWire
import Geo

/// Response options that come from the server config and are swapped together with the answers.
public struct ResponseOptions: Sendable, Equatable {
    /// Our EDNS UDP payload size (RFC 6891), advertised in every OPT we send and the cap for UDP replies.
    public var ednsBufferSize: UInt16 = 1232
    /// NSID payload (RFC 5001), sent when the client asks for it; nil = not configured.
    public var nsid: [UInt8]? = nil
    /// Answer `version.bind`/`version.server` CH TXT with this text; nil = REFUSED.
    public var versionText: String? = nil
    /// Answer `id.server`/`hostname.bind` CH TXT with this text; nil = REFUSED.
    public var identityText: String? = nil
    /// Where clients are, for per-client-region answers (nil: every client gets the first region's answer).
    public var locator: Locator? = nil
    public init(
        ednsBufferSize: UInt16 = 1232,
        nsid: [UInt8]? = nil,
        versionText: String? = nil,
        identityText: String? = nil,
        locator: Locator? = nil
    ) {
        self.ednsBufferSize = ednsBufferSize
        self.nsid = nsid
        self.versionText = versionText
        self.identityText = identityText
        self.locator = locator
    }
    public static func == (a: ResponseOptions, b: ResponseOptions) -> Bool {
        a.ednsBufferSize == b.ednsBufferSize && a.nsid == b.nsid && a.versionText == b.versionText
            && a.identityText == b.identityText && a.locator === b.locator
    }
}

/// One prebuilt answer: the bytes of the answer, authority and additional sections for a question,
/// plus where owner-name pointers must be patched and where the answer may be cut for truncation.
/// Invariant: `cuts` are ascending and shorter than the whole answer; cut 0 (empty, TC) and the whole answer are
/// implicit, not stored (the responder cuts only an answer that does not fit).
struct Answer {
    var blobStart: Int32
    var blobLength: Int32
    var relocStart: Int32
    var relocCount: Int32
    var cutStart: Int32
    var cutCount: Int32
    /// Extended DNS Error option (RFC 8914: code, length, INFO-CODE, EXTRA-TEXT) sent with the OPT, as a
    /// range of `AnswerTable.extras` (`edeLength` below); length 0 = none.
    var edeStart: Int32 = 0
    /// The same answer with DNSSEC records (RRSIGs, NSEC/NSEC3 proofs), sent when the query has DO=1; -1 = none
    /// (unsigned zone, or nothing to sign).
    var signed: Int32 = -1
    /// Denial entries this answer already holds (a wildcard's NODATA): a per-query cover equal to one is left out.
    var skip0: Int32 = -1
    var skip1: Int32 = -1
    // The narrow fields last, so that the answer is 52 bytes, not 56 (one is stored per name and type).
    var an: UInt16, ns: UInt16, ar: UInt16
    /// Bytes of the EDE option at `edeStart` (at most 206: `AnswerTableBuilder.extendedError`).
    var edeLength: UInt16 = 0
    var rcode: UInt8
    var aa: Bool
    /// In a signed answer: denial records the responder appends to the authority section per query (the
    /// answer then has no additional section). 0 none; `Proof.cover`: the record covering the question (NSEC)
    /// or its next closer name (NSEC3), for wildcard answers; `Proof.nxdomain`: that plus the closest
    /// encloser's records (`Node.nxProof0/1`: no wildcard; NSEC3: the encloser's match).
    var proof: UInt8 = 0
}

enum Proof {
    static let cover: UInt8 = 1
    static let nxdomain: UInt8 = 2
}

/// One NSEC or NSEC3 record of a zone's chain with its signatures, written uncompressed in `AnswerTable.blob`,
/// and its sort key in `AnswerTable.denialKeys` (NSEC: the owner's labels right to left, each followed by a
/// zero byte, lower case: canonical order; NSEC3: the 20-byte owner hash).
struct DenialEntry {
    var keyStart: Int32
    var keyLength: Int32
    var blobStart: Int32
    var blobLength: Int32
    var count: UInt16
}

/// A 2-byte compression pointer to patch at `position` (relative to the answer start). `target` ≥ 0: it
/// points at the question name's suffix of `target` bytes (0 = the whole question name, offset 12);
/// `target` < 0: at the name written at offset `-target - 1` of this answer (its place in the reply
/// depends on the question's length).
struct Reloc {
    var position: Int32
    var target: Int32
}

/// A DNAME (RFC 6672) at a node: its prebuilt answer (the DNAME RR alone, owner a pointer into the
/// question), where the DNAME's target name starts in that answer and its length, and the TTL the
/// synthesized CNAME gets (the DNAME's, §3.1).
struct DNAMEEntry {
    var answer: Int32
    var targetOffset: Int32
    var targetLength: Int32
    var ttl: UInt32
}

/// A place an answer may be cut at an RRset boundary; `tc` says the cut drops data the client needs.
struct Cut {
    var length: Int32
    var an: UInt16, ns: UInt16, ar: UInt16
    var tc: Bool
}

/// A name in the table (existing owner or empty non-terminal). The narrow fields last: 56 bytes, not 60.
struct Node {
    var nameStart: Int32
    var hash: UInt32
    var typeStart: Int32
    var typeCount: Int32
    /// Answer for types the node does not have (NODATA, or a CNAME chain's default).
    var nodata: Int32
    /// RFC 8482 minimal ANY answer.
    var any: Int32
    /// Referral answer when the node is at or below a zone cut (else -1).
    var referral: Int32
    /// Node index of `*.<this>` (else -1).
    var wildcard: Int32
    var zone: Int32
    /// Index in `AnswerTable.dnames` when the node owns a DNAME (names below it are synthesized), else -1.
    var dname: Int32 = -1
    /// Signed zones, NXDOMAIN below this node: denial entries (indexes in `AnswerTable.denial`) proving there
    /// is no wildcard (NSEC: the record covering `*.<node>`; NSEC3: the node's own record, then the one
    /// covering `*.<node>`); -1 = none.
    var nxProof0: Int32 = -1
    var nxProof1: Int32 = -1
    /// A node whose answers a publish makes again (a service name, or a name whose answers read one): its
    /// index in each table's `NodeTable.top`, which holds the node as that publish made it; -1 = none.
    var overlay: Int32 = -1
    /// The name's wire length (a name has at most 255 bytes).
    var nameLength: UInt8
    var isCut: Bool
}

/// An array in two parts with one index space: `base`, the compiled zones' entries shared by every table made
/// from them, then `top`, the entries one publish added (index `base.count + i`). A range written at once (one
/// answer's bytes, pointers or cuts) lies in one part.
struct Layered<Element: Sendable>: Sendable {
    let base: ContiguousArray<Element>
    let top: ContiguousArray<Element>

    init(base: ContiguousArray<Element>, top: ContiguousArray<Element> = []) {
        self.base = base
        self.top = top
    }

    var count: Int { base.count + top.count }

    @inline(__always)
    subscript(i: Int) -> Element { i < base.count ? base[i] : top[i &- base.count] }

    /// `body` gets a pointer to element `start`, of a range of `count` (> 0) elements in one part.
    @inline(__always)
    func withPointer<R>(at start: Int, count: Int, _ body: (UnsafePointer<Element>) -> R) -> R {
        let part = start < base.count ? base : top
        let offset = start < base.count ? start : start &- base.count
        precondition(offset >= 0 && count > 0 && offset + count <= part.count)
        return part.withUnsafeBufferPointer { body($0.baseAddress! + offset) }
    }
}

/// The table's nodes: the compiled base, where a node with `overlay` ≥ 0 is read from this publish's `top`.
struct NodeTable: Sendable {
    let base: ContiguousArray<Node>
    let top: ContiguousArray<Node>

    var count: Int { base.count }

    @inline(__always)
    subscript(i: Int) -> Node {
        let n = base[i]
        return n.overlay < 0 ? n : top[Int(n.overlay)]
    }
}

/// Per (node, qtype): the answer, and how many variants it is prebuilt for (1 = same for all clients).
/// With `regions > 1` the answers are consecutive: per client region (policy nearest; located by the
/// ECS address when `useECS` and the query has one, else by the source address), or, with `byQueryID`,
/// weighted choices picked by `query ID % regions`. Per client region with `perRegion > 1`: each region has
/// `perRegion` consecutive answers picked by `query ID % perRegion` (a failback ramp in one region).
struct TypeEntry {
    var qtype: UInt16
    var regions: UInt16
    var answer: Int32
    var byQueryID: Bool = false
    var useECS: Bool = false
    var perRegion: UInt16 = 1
}

struct ZoneEntry {
    var apexNode: Int32
    var nxdomain: Int32
    var nodata: Int32
    /// Signed zones: the zone's chain in `AnswerTable.denial` (sorted by key); count 0 = unsigned.
    var denialStart: Int32 = 0
    var denialCount: Int32 = 0
    var nsec3: Bool = false
}

/// The immutable table of prebuilt wire answers for all zones. Built off to the side by
/// `AnswerTableBuilder`, installed whole in an `AnswerStore`, never changed after that.
/// Invariant: every index stored in a node, type entry or zone entry is valid in the arrays below.
public final class AnswerTable: Sendable {
    /// Largest UDP payload the responder ever writes; UDP output buffers must be at least this big.
    public static let maxUDPPayload = 4096
    /// TCP output buffers must be at least this big.
    public static let maxTCPPayload = 65535

    public let generation: UInt64
    public let options: ResponseOptions
    let names: ContiguousArray<UInt8>
    let nodes: NodeTable
    let types: Layered<TypeEntry>
    let answers: Layered<Answer>
    let blob: Layered<UInt8>
    let relocs: Layered<Reloc>
    let cuts: Layered<Cut>
    let zones: ContiguousArray<ZoneEntry>
    let dnames: Layered<DNAMEEntry>
    /// Extended DNS Error options referenced by answers; the first 6 bytes are the REFUSED one (code 20,
    /// Not Authoritative).
    let extras: Layered<UInt8>
    static let refusedEDE: ContiguousArray<UInt8> = [0, UInt8(EDNSOption.extendedError), 0, 2, 0, 20]
    /// Open-addressing hash index: node index + 1, 0 = empty. Count is a power of two.
    let index: ContiguousArray<Int32>
    /// CH-class answers (version.bind ...): lower-case wire name → answer.
    let chaos: [(name: [UInt8], answer: Int32)]
    /// The NSID option (code, length, payload) sent when a client asks; empty when NSID is not configured.
    let nsidOption: ContiguousArray<UInt8>
    /// NSEC/NSEC3 chains of the signed zones (each zone's range sorted by key) and their keys.
    let denial: ContiguousArray<DenialEntry>
    let denialKeys: ContiguousArray<UInt8>
    /// Signed zones: the earliest RRSIG expiration in this table and the earliest time a signature in it is
    /// due to be made again (seconds since 1970); nil when no zone is signed.
    public let signatureExpiry: UInt32?
    public let resignAt: UInt32?

    init(
        generation: UInt64,
        options: ResponseOptions,
        names: ContiguousArray<UInt8>,
        nodes: NodeTable,
        types: Layered<TypeEntry>,
        answers: Layered<Answer>,
        blob: Layered<UInt8>,
        relocs: Layered<Reloc>,
        cuts: Layered<Cut>,
        zones: ContiguousArray<ZoneEntry>,
        index: ContiguousArray<Int32>,
        chaos: [(name: [UInt8], answer: Int32)],
        dnames: Layered<DNAMEEntry> = Layered(base: []),
        extras: Layered<UInt8> = Layered(base: AnswerTable.refusedEDE),
        denial: ContiguousArray<DenialEntry> = [],
        denialKeys: ContiguousArray<UInt8> = [],
        signatureExpiry: UInt32? = nil,
        resignAt: UInt32? = nil
    ) {
        self.denial = denial
        self.denialKeys = denialKeys
        self.signatureExpiry = signatureExpiry
        self.resignAt = resignAt
        self.generation = generation
        self.options = options
        self.names = names
        self.nodes = nodes
        self.types = types
        self.answers = answers
        self.blob = blob
        self.relocs = relocs
        self.cuts = cuts
        self.zones = zones
        self.index = index
        self.chaos = chaos
        self.dnames = dnames
        self.extras = extras
        var opt = ContiguousArray<UInt8>()
        if let nsid = options.nsid {
            opt.append(contentsOf: [0, 3, UInt8(nsid.count >> 8), UInt8(nsid.count & 0xFF)])
            opt.append(contentsOf: nsid)
        }
        self.nsidOption = opt
    }

    /// A table with no zones (every query REFUSED).
    public static func empty(options: ResponseOptions = ResponseOptions(), generation: UInt64 = 0) -> AnswerTable {
        AnswerTable(
            generation: generation,
            options: options,
            names: [],
            nodes: NodeTable(base: [], top: []),
            types: Layered(base: []),
            answers: Layered(base: []),
            blob: Layered(base: []),
            relocs: Layered(base: []),
            cuts: Layered(base: []),
            zones: [],
            index: [0, 0],
            chaos: []
        )
    }

    public var zoneCount: Int { zones.count }
    public var nodeCount: Int { nodes.count }
    public var answerBytes: Int { blob.count }

    /// The index hash of a wire name of `n` bytes: eight bytes at a step (the last step the name's last eight
    /// bytes, which may overlap the one before), each word multiplied in and folded down, then a final mix so
    /// that the low bits, which pick the slot, depend on every byte. A name under eight bytes is one word.
    @inline(__always)
    static func hashName(_ p: UnsafePointer<UInt8>, _ n: Int) -> UInt32 {
        let raw = UnsafeRawPointer(p)
        let k: UInt64 = 0xFF51_AFD7_ED55_8CCD
        var h = 0x9E37_79B9_7F4A_7C15 ^ UInt64(truncatingIfNeeded: n)
        if n >= 8 {
            var i = 0
            while i &+ 8 < n {
                h = (h ^ raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)) &* k
                h ^= h >> 32
                i &+= 8
            }
            h = (h ^ raw.loadUnaligned(fromByteOffset: n &- 8, as: UInt64.self)) &* k
        } else {
            var w: UInt64 = 0
            var i = 0
            while i < n {
                w = w << 8 | UInt64(p[i])
                i &+= 1
            }
            h = (h ^ w) &* k
        }
        h ^= h >> 33
        h &*= 0xC4CE_B9FE_1A85_EC53
        h ^= h >> 33
        return UInt32(truncatingIfNeeded: h)
    }

    /// Finds the node for a lower-case wire name; -1 when absent.
    @inline(__always)
    func find(_ p: UnsafePointer<UInt8>, _ n: Int) -> Int {
        AnswerTable.find(p, n, index: index, nodes: nodes.base, names: names)
    }

    /// `find` below over a table's arrays (the responder's and the compiled zones' base table), their buffers
    /// taken once for the whole probe sequence.
    @inline(__always)
    static func find(
        _ p: UnsafePointer<UInt8>,
        _ n: Int,
        index: ContiguousArray<Int32>,
        nodes: ContiguousArray<Node>,
        names: ContiguousArray<UInt8>
    ) -> Int {
        index.withUnsafeBufferPointer { idx in
            nodes.withUnsafeBufferPointer { nb in
                names.withUnsafeBufferPointer { find(p, n, index: idx, nodes: nb, names: $0) }
            }
        }
    }

    /// The node of a lower-case wire name in a table's hash `index` over `nodes` (names in `names`); -1 when
    /// absent. The compiled zones look names up in their base table's arrays with it too.
    @inline(__always)
    static func find(
        _ p: UnsafePointer<UInt8>,
        _ n: Int,
        index idx: UnsafeBufferPointer<Int32>,
        nodes: UnsafeBufferPointer<Node>,
        names: UnsafeBufferPointer<UInt8>
    ) -> Int {
        let h = AnswerTable.hashName(p, n)
        let mask = idx.count - 1
        var slot = Int(h) & mask
        var probes = 0
        while probes <= mask {
            let v = Int(idx[slot])
            if v == 0 { return -1 }
            let node = nodes[v - 1]  // name and hash: the same in the top part
            if node.hash == h && Int(node.nameLength) == n
                && memcmpBytes(names.baseAddress! + Int(node.nameStart), p, n)
            {
                return v - 1
            }
            slot = (slot + 1) & mask
            probes += 1
        }
        return -1
    }
}

/// Whether `n` bytes at `a` and `b` are equal: eight bytes at a step, the last step the last eight bytes (which
/// may overlap the one before); byte by byte under eight.
@inline(__always)
func memcmpBytes(_ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>, _ n: Int) -> Bool {
    if n >= 8 {
        let ra = UnsafeRawPointer(a)
        let rb = UnsafeRawPointer(b)
        var i = 0
        while i &+ 8 < n {
            let x = ra.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            if x != rb.loadUnaligned(fromByteOffset: i, as: UInt64.self) { return false }
            i &+= 8
        }
        return ra.loadUnaligned(fromByteOffset: n &- 8, as: UInt64.self)
            == rb.loadUnaligned(fromByteOffset: n &- 8, as: UInt64.self)
    }
    var i = 0
    while i < n {
        if a[i] != b[i] { return false }
        i &+= 1
    }
    return true
}

/// Per-worker scratch space, allocated once per worker thread / TCP connection handler and reused for
/// every query so the hot path does not allocate. Not shared between threads.
public final class QueryScratch {
    // One thread owns a scratch, so the dynamic exclusivity checks Swift makes on the in-place updates of these
    // two (`parse(into: &fields)`, the counters' `+= 1`) can never fire; unchecked they cost nothing, checked
    // about 80 instructions each, three times per query (issue 17).
    @exclusivity(unchecked) public var counters = ResponderCounters()
    @exclusivity(unchecked) var fields = QueryFields()
    let lowerName: UnsafeMutablePointer<UInt8>
    let labelOffsets: UnsafeMutablePointer<UInt8>
    /// The client of the query being answered.
    var client = ClientInfo(transport: .udp)
    /// ECS SCOPE PREFIX-LENGTH for the reply: set when the answer was chosen by the ECS address.
    var ecsScope: UInt8 = 0
    /// Set by the lookup when the name lies below a DNAME: the node owning it (else -1).
    var dnameNode: Int32 = -1
    /// A DNAME's synthesized target name (lower case) and its label offsets, for the second lookup.
    let targetName: UnsafeMutablePointer<UInt8>
    let targetLabels: UnsafeMutablePointer<UInt8>
    /// Where the OPT record of the last reply starts and its length (0 = the reply has none), for `slip`.
    var optStart = 0
    var optLength = 0
    /// The node the last lookup ended at (exact match or closest encloser), for denial proofs; -1 = none.
    var encloser: Int32 = -1
    /// The sort key of the name a denial proof covers (NSEC: canonical key; NSEC3: SHA-1 hash).
    let denialKey: UnsafeMutablePointer<UInt8>
    public init() {
        denialKey = .allocate(capacity: 512)
        denialKey.initialize(repeating: 0, count: 512)
        lowerName = .allocate(capacity: 256)
        lowerName.initialize(repeating: 0, count: 256)
        labelOffsets = .allocate(capacity: 128)
        labelOffsets.initialize(repeating: 0, count: 128)
        targetName = .allocate(capacity: 256)
        targetName.initialize(repeating: 0, count: 256)
        targetLabels = .allocate(capacity: 128)
        targetLabels.initialize(repeating: 0, count: 128)
    }
    deinit {
        lowerName.deallocate()
        labelOffsets.deallocate()
        targetName.deallocate()
        targetLabels.deallocate()
        denialKey.deallocate()
    }
}
