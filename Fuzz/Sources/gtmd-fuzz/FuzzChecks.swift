// The fuzz targets' properties, shared by the libFuzzer harness (Fuzz/, main.swift) and the normal test
// suite (Tests/AnswersTests/FuzzChecks.swift is a symlink to this file), which replays the seed corpora
// and every committed crash input. Each check returns nil when the property holds, else what broke.
import Answers
import Config
import DNSWire
import Foundation
import Zones

public enum FuzzTarget: String, CaseIterable, Sendable {
    case query, responder, edns, zone, config
}

/// State built once per process: the answer table of the lab zones and per-target scratch buffers.
/// Used from one thread at a time (libFuzzer runs inputs sequentially; tests take the lock).
public final class FuzzChecks: @unchecked Sendable {  // all mutable state is touched under `lock`
    let table: AnswerTable
    let scratch = QueryScratch()
    let checkScratch = QueryScratch()
    let udpOut = UnsafeMutableRawBufferPointer.allocate(byteCount: AnswerTable.maxUDPPayload, alignment: 16)
    let tcpOut = UnsafeMutableRawBufferPointer.allocate(byteCount: AnswerTable.maxTCPPayload, alignment: 16)
    let lowerName = UnsafeMutablePointer<UInt8>.allocate(capacity: 256)
    let labelOffsets = UnsafeMutablePointer<UInt8>.allocate(capacity: 128)
    let lock = NSLock()
    static let ednsBufferSize = 1232

    /// `zonesDirectory`: the repository's `zones/` (lab.example and example.test are served).
    public init(zonesDirectory: String) {
        var zones: [Zone] = []
        for (origin, file) in [("lab.example.", "lab.example.zone"), ("example.test.", "example.test.zone")] {
            if case .success(let z) = ZoneLoader.load(origin: try! DNSName(origin), path: zonesDirectory + "/" + file) {
                zones.append(z)
            }
        }
        precondition(zones.count == 2, "fuzz: cannot load the lab zones from \(zonesDirectory)")
        // A nearest-region service (two regions, nested and IPv6 rules) so per-region answers, client
        // location by source and ECS, and the ECS scope echo are fuzzed too.
        func net(_ s: String) -> IPNetwork { try! IPNetwork.parse(s).get() }
        let locator = Locator(
            regions: [
                Region(name: "a", latitude: 50.1, longitude: 8.7), Region(name: "b", latitude: 53.3, longitude: -6.3),
            ],
            rules: [
                (net("10.1.0.0/16"), 0), (net("10.2.0.0/16"), 1), (net("10.2.128.0/17"), 0),
                (net("2001:db8::/32"), 1), (net("127.0.0.0/8"), 1),
            ]
        )
        let options = ResponseOptions(
            ednsBufferSize: UInt16(Self.ednsBufferSize),
            nsid: Array("fuzz".utf8),
            versionText: "gtmd",
            identityText: "fuzz",
            locator: locator
        )
        let near = try! DNSName("near.lab.example.")
        let nearest = AnswerTableBuilder.Dynamic(
            variants: [
                [ResourceRecord(owner: near, type: RRType.A, ttl: 30, rdata: [192, 0, 2, 1])],
                [
                    ResourceRecord(
                        owner: near,
                        type: RRType.AAAA,
                        ttl: 5,
                        rdata: [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [1]
                    )
                ],
            ],
            byRegion: true,
            useECS: true
        )
        // www as the lab config's failover service answers it (the zone holds no records at service names).
        let www = try! DNSName("www.lab.example.")
        let failover = AnswerTableBuilder.Dynamic(
            variants: [[ResourceRecord(owner: www, type: RRType.A, ttl: 30, rdata: [127, 0, 0, 11])]]
        )
        table = AnswerTableBuilder(options: options).build(zones: zones, dynamic: [near: nearest, www: failover])
    }

    public func check(_ target: FuzzTarget, _ data: [UInt8]) -> String? {
        lock.lock()
        defer { lock.unlock() }
        switch target {
        case .query: return query(data)
        case .responder: return responder(data)
        case .edns: return edns(data)
        case .zone: return zone(data)
        case .config: return config(data)
        }
    }

    // MARK: - Targets

    /// The query parser alone: its invariants after every outcome.
    func query(_ data: [UInt8]) -> String? {
        var f = QueryFields()
        let r = data.withUnsafeBytes {
            QueryParser.parse($0, into: &f, lowerName: lowerName, labelOffsets: labelOffsets)
        }
        if data.count < 12 && r != .drop { return "short packet not dropped: \(r)" }
        if r == .ok || r == .formErr {
            if f.qnameLength < 1 || f.qnameLength > 255 { return "qname length \(f.qnameLength)" }
            if f.labelCount > 127 { return "label count \(f.labelCount)" }
            if f.questionEnd != 12 + f.qnameLength + 4 || f.questionEnd > data.count {
                return "question end \(f.questionEnd)"
            }
            var off = 0
            for i in 0..<f.labelCount {
                if Int(labelOffsets[i]) != off { return "label offset \(i) is \(labelOffsets[i]), expected \(off)" }
                let l = Int(lowerName[off])
                if l == 0 || l > 63 { return "label length \(l)" }
                for k in 1...l where lowerName[off + k] >= 0x41 && lowerName[off + k] <= 0x5A {
                    return "not lower-cased"
                }
                off += 1 + l
            }
            if off + 1 != f.qnameLength || lowerName[off] != 0 { return "labels do not add up to the name" }
        }
        if r == .ok && f.hasECS {
            let width = f.ecsFamily == 1 ? 32 : 128
            if !(f.ecsFamily == 1 || f.ecsFamily == 2) || Int(f.ecsSourcePrefix) > width || f.ecsScopePrefix != 0 {
                return
                    "accepted a bad ECS option: family \(f.ecsFamily) /\(f.ecsSourcePrefix) scope \(f.ecsScopePrefix)"
            }
        }
        return nil
    }

    /// The whole responder over UDP and TCP, plus the RRL slip rewrite: every reply parses (ldns and a
    /// strict walk), echoes the ID and the question byte for byte, has consistent counts and fits its limit.
    func responder(_ data: [UInt8]) -> String? {
        if let e = query(data) { return e }
        var f = QueryFields()
        let parsed = data.withUnsafeBytes {
            QueryParser.parse($0, into: &f, lowerName: lowerName, labelOffsets: labelOffsets)
        }
        let udpLimit = parsed == .ok && f.hasEDNS ? max(512, min(Int(f.ednsUDPSize), Self.ednsBufferSize)) : 512
        for transport in [ClientInfo.Transport.udp, .tcp] {
            let out = transport == .udp ? udpOut : tcpOut
            // The source decides the region of near.lab.example when the query has no ECS: vary it.
            let source: UInt64 = data.count % 2 == 0 ? 0x7F00_0001 : 0x0A02_C801  // 127.0.0.1 (b), 10.2.200.1 (a)
            let client = ClientInfo(transport: transport, family: 4, address: ((source << 32).bigEndian, 0), port: 5353)
            let n = data.withUnsafeBytes { table.respond($0, into: out, client: client, scratch: scratch) }
            if n == 0 {
                if parsed != .drop { return "\(transport): no reply to a packet the parser did not drop (\(parsed))" }
                continue
            }
            if parsed == .drop { return "\(transport): replied to a packet that must be dropped" }
            let limit = transport == .udp ? udpLimit : AnswerTable.maxTCPPayload
            if n > limit { return "\(transport): reply of \(n) bytes over the limit \(limit)" }
            let reply = Array(UnsafeRawBufferPointer(rebasing: out[0..<n]))
            if let e = checkReply(reply, query: data, what: "\(transport)") { return e }
            // RFC 7871: a reply with an OPT to a query with ECS echoes family, source prefix and address; scope ≤ source.
            if parsed == .ok, f.hasECS, let opt = LdnsRR.parsePacket(reply)?.edns {
                guard let o = opt.option(8) else { return "\(transport): ECS not echoed" }
                let src = Int(f.ecsSourcePrefix)
                if o.count != 4 + (src + 7) / 8 || (UInt16(o[0]) << 8 | UInt16(o[1])) != f.ecsFamily || Int(o[2]) != src
                    || Int(o[3]) > src
                {
                    return "\(transport): bad ECS echo \(o) for family \(f.ecsFamily) /\(src)"
                }
            }
            if transport == .udp {
                // The RRL key reads the reply and the scratch: must stay in bounds (ASan) for any reply.
                var h = Hasher()
                scratch.combineResponseIdentity(into: &h, reply: UnsafeRawBufferPointer(rebasing: out[0..<n]))
                _ = h.finalize()
                let m = table.slip(out, length: n, scratch: scratch)
                if m == 0 || m > n { return "slip: length \(m) from \(n)" }
                let s = Array(UnsafeRawBufferPointer(rebasing: out[0..<m]))
                if let e = checkReply(s, query: data, what: "slip") { return e }
                if s[2] & 0x02 == 0 || s[6] != 0 || s[7] != 0 || s[8] != 0 || s[9] != 0 {
                    return "slip is not an empty TC reply"
                }
                if s[3] & 0x0F != reply[3] & 0x0F { return "slip changed the rcode" }
            }
        }
        return nil
    }

    /// The OPT/ECS parser: the input is the OPT's UDP size, version, flags and option bytes of a valid query.
    func edns(_ data: [UInt8]) -> String? {
        guard data.count >= 4 else { return nil }
        var q: [UInt8] = [0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1]
        q += [3, 0x77, 0x77, 0x77, 3, 0x6C, 0x61, 0x62, 7] + Array("example".utf8) + [0, 0, 1, 0, 1]
        let rdata = data[4...]
        q += [
            0, 0, 41, data[0], data[1], 0, data[2], data[3], 0, UInt8(truncatingIfNeeded: rdata.count >> 8),
            UInt8(truncatingIfNeeded: rdata.count),
        ]
        q += rdata
        return responder(q)
    }

    /// The zone loader (and, when the zone loads, the table builder and an answer at its apex).
    func zone(_ data: [UInt8]) -> String? {
        let origin = try! DNSName("fuzz.example.")
        // $INCLUDE is resolved against a directory that does not exist, so no file is ever read.
        let r = ZoneLoader.load(
            origin: origin,
            text: String(decoding: data, as: UTF8.self),
            file: "/nonexistent-gtmd-fuzz/z.zone",
            maxBytes: 1 << 16
        )
        guard case .success(let z) = r else {
            if case .failure(let p) = r, p.problems.isEmpty { return "failed with no problem reported" }
            return nil
        }
        let t = AnswerTableBuilder().build(zones: [z])
        for type in [RRType.SOA, RRType.A, RRType.ANY] {
            var q: [UInt8] = [0xAB, 0xCD, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0] + origin.wire
            q += [UInt8(type >> 8), UInt8(type & 0xFF), 0, 1]
            let n = q.withUnsafeBytes {
                t.respond($0, into: tcpOut, client: ClientInfo(transport: .tcp), scratch: scratch)
            }
            if n == 0 { return "no answer at the apex of a loaded zone" }
            if let e = checkReply(Array(UnsafeRawBufferPointer(rebasing: tcpOut[0..<n])), query: q, what: "zone apex") {
                return e
            }
        }
        return nil
    }

    /// The config loader: any text is a config or a list of problems, never a crash.
    func config(_ data: [UInt8]) -> String? {
        let r = ConfigLoader.parse(
            String(decoding: data, as: UTF8.self),
            file: "fuzz.yaml",
            baseDirectory: "/nonexistent-gtmd-fuzz"
        )
        if case .failure(let p) = r, p.problems.isEmpty { return "failed with no problem reported" }
        return nil
    }

    // MARK: - Reply properties

    func checkReply(_ reply: [UInt8], query: [UInt8], what: String) -> String? {
        guard reply.count >= 12 else { return "\(what): reply shorter than a header" }
        guard let p = LdnsRR.parsePacket(reply) else { return "\(what): reply does not parse: \(reply)" }
        if reply[0] != query[0] || reply[1] != query[1] { return "\(what): ID not echoed" }
        if !p.qr { return "\(what): QR not set" }
        if Int(p.ancount) != p.answer.count || Int(p.nscount) != p.authority.count { return "\(what): counts" }
        if p.qdcount > 1 { return "\(what): \(p.qdcount) questions" }
        if p.qdcount == 1 {
            // The question is copied byte for byte (0x20 case kept): name, type, class.
            var i = 12
            while i < reply.count && reply[i] != 0 { i += Int(reply[i]) + 1 }
            let end = i + 5
            if end > reply.count || end > query.count || reply[12..<end] != query[12..<end] {
                return "\(what): question not echoed"
            }
        }
        return nil
    }
}
