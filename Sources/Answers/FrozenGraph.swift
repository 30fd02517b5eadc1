import DNSWire

/// The zones' names and records after compile, in one byte array instead of an object per name. A publish
/// re-emits only the service names and the names whose answers read them, and reads only the few names
/// those answers touch; holding every name as a `BNode` with its arrays cost ~300 bytes a name for the life
/// of the compiled zones.
///
/// Per node (its index in canonical order, the base table's node index): its RRsets in the order their
/// types were added, each as type and record count, then per record class, TTL, owner (length 0: the
/// node's name; else the wire bytes of the owner as written in the zone, whose case may differ) and rdata.
/// Numbers are little-endian. The node's name, zone and index come from the base table.
struct FrozenGraph {
    var bytes = ContiguousArray<UInt8>()
    /// Per node, where its records start in `bytes`; one more entry: the end.
    var start = ContiguousArray<UInt32>()
    /// Per node, `BNode.cutIndex`.
    var cutIndex = ContiguousArray<Int32>()

    /// The graph of `order` (nodes in canonical order); nil when its records would not fit 32-bit offsets.
    init?(_ order: [AnswerTableBuilder.BNode]) {
        // Sized first, then written once into storage of that size.
        var size = 0
        for n in order {
            n.rrsets.eachRRset { _, set in
                size += 4
                for rr in set {
                    size += 9 + rr.rdata.count
                    if rr.owner.wire != n.name.wire { size += rr.owner.wire.count }
                }
            }
        }
        guard size <= Int(UInt32.max) else { return nil }
        var starts = ContiguousArray<UInt32>()
        var cuts = ContiguousArray<Int32>()
        starts.reserveCapacity(order.count + 1)
        cuts.reserveCapacity(order.count)
        bytes = ContiguousArray(unsafeUninitializedCapacity: size) { b, written in
            var p = 0
            func put16(_ v: UInt16) {
                b[p] = UInt8(v & 0xFF)
                b[p + 1] = UInt8(v >> 8)
                p += 2
            }
            func put(_ a: [UInt8]) {
                a.withUnsafeBufferPointer { src in
                    guard let from = src.baseAddress else { return }
                    (b.baseAddress! + p).initialize(from: from, count: src.count)
                }
                p += a.count
            }
            for n in order {
                starts.append(UInt32(p))
                cuts.append(n.cutIndex)
                n.rrsets.eachRRset { t, set in
                    put16(t)
                    put16(UInt16(set.count))
                    for rr in set {
                        put16(rr.rrClass)
                        put16(UInt16(rr.ttl & 0xFFFF))
                        put16(UInt16(rr.ttl >> 16))
                        if rr.owner.wire == n.name.wire {
                            b[p] = 0
                            p += 1
                        } else {
                            b[p] = UInt8(rr.owner.wire.count)
                            p += 1
                            put(rr.owner.wire)
                        }
                        put16(UInt16(rr.rdata.count))
                        put(rr.rdata)
                    }
                }
            }
            precondition(p == size)
            written = p
        }
        starts.append(UInt32(size))
        start = starts
        cutIndex = cuts
    }

    /// Node `i`'s RRsets, its records' owners `name` unless they were written otherwise.
    func rrsets(_ i: Int, name: DNSName) -> AnswerTableBuilder.RRsetMap {
        var map: AnswerTableBuilder.RRsetMap = [:]
        bytes.withUnsafeBufferPointer { b in
            var p = Int(start[i])
            let end = Int(start[i + 1])
            func u16() -> UInt16 {
                defer { p += 2 }
                return UInt16(b[p]) | UInt16(b[p + 1]) << 8
            }
            while p < end {
                let type = u16()
                let count = Int(u16())
                var set: [ResourceRecord] = []
                set.reserveCapacity(count)
                for _ in 0..<count {
                    let rrClass = u16()
                    let ttl = UInt32(u16()) | UInt32(u16()) << 16
                    let ownerLength = Int(b[p])
                    p += 1
                    var owner = name
                    if ownerLength > 0 {
                        owner = DNSName(uncheckedWire: Array(b[p..<(p + ownerLength)]))
                        p += ownerLength
                    }
                    let rdLength = Int(u16())
                    let rdata = Array(b[p..<(p + rdLength)])
                    p += rdLength
                    set.append(ResourceRecord(owner: owner, type: type, rrClass: rrClass, ttl: ttl, rdata: rdata))
                }
                map[type] = set
            }
        }
        return map
    }
}

/// The node objects a freeze let go of, until `drop()`. Nothing else refers to them but the live nodes (which
/// keep theirs), so they may be dropped on another thread; one thread at a time holds this.
public final class ReleasedGraph: @unchecked Sendable {
    private var nodes: AnswerTableBuilder.NodesByName
    private var order: [AnswerTableBuilder.BNode]
    init(nodes: AnswerTableBuilder.NodesByName, order: [AnswerTableBuilder.BNode]) {
        self.nodes = nodes
        self.order = order
    }
    /// Frees the objects (those no live node keeps).
    public func drop() {
        nodes = AnswerTableBuilder.NodesByName()
        order = []
    }
}

extension CompiledZones {
    /// The graph becomes a `FrozenGraph`, and only the nodes a publish re-emits stay objects (`live`); once,
    /// after the first table (the steering core does it off the path to the first answers). Tables are the same
    /// before and after. Without it (records beyond 32-bit offsets) the objects stay. Returns the objects let
    /// go, for the caller to drop where freeing a big zone's millions of them delays nothing (nil: none).
    @discardableResult
    public func freeze() -> ReleasedGraph? {
        guard frozen == nil, let g = FrozenGraph(order) else { return nil }
        frozen = g
        for n in affected { live[Int32(n.index)] = n }
        let released = ReleasedGraph(nodes: nodes, order: order)
        nodes = NodesByName()
        order = []
        return released
    }

    /// The index (canonical order) of the node named `name` (lower case); nil when there is none.
    func nodeIndex(_ name: DNSName) -> Int? {
        guard frozen != nil else { return nodes[name]?.index }
        let i = name.wire.withUnsafeBufferPointer {
            AnswerTable.find($0.baseAddress!, $0.count, index: index, nodes: baseNodes, names: names)
        }
        return i < 0 ? nil : i
    }

    /// The node named `name` (lower case), nil when there is none.
    func nodeNamed(_ name: DNSName) -> BNode? {
        guard frozen != nil else { return nodes[name] }
        return nodeIndex(name).map { nodeAt($0) }
    }

    /// Node `i` of the canonical order. After the freeze the same object each time (kept in `live`), so
    /// nodes compare by identity and a service node keeps its injected records.
    func nodeAt(_ i: Int) -> BNode {
        guard frozen != nil else { return order[i] }
        if let n = live[Int32(i)] { return n }
        let n = thawed(i)
        live[Int32(i)] = n
        return n
    }

    /// Node `i` made from the frozen graph (not kept): its name, zone and index from the base table.
    func thawed(_ i: Int) -> BNode {
        let g = frozen!
        let entry = baseNodes[i]
        let start = Int(entry.nameStart)
        let name = DNSName(uncheckedWire: Array(names[start..<(start + Int(entry.nameLength))]))
        let n = BNode(name: name, zone: Int(entry.zone))
        n.index = i
        n.cutIndex = g.cutIndex[i]
        n.rrsets = g.rrsets(i, name: name)
        return n
    }

    /// Every node in canonical order, for a pass over the whole zone (a dump): live nodes as they are, the
    /// others made for the call and not kept.
    func forEachNode(_ body: (BNode) -> Void) {
        guard frozen != nil else {
            order.forEach(body)
            return
        }
        for i in baseNodes.indices { body(live[Int32(i)] ?? thawed(i)) }
    }
}
