import CLdns

// Authenticated denial of existence (RFC 4034 §4 NSEC, RFC 5155 NSEC3 with RFC 9276's parameters): the
// chains are built from the zone's names and their types. The set of names does not change with health,
// only the types at a service name may, so a chain is built at load and a record re-made when its types
// change. Groundwork for issue 16: nothing here is wired into serving yet.

public enum Denial {
    static let nsec: UInt16 = 47, rrsig: UInt16 = 46, nsec3: UInt16 = 50

    /// The type bit maps field (RFC 4034 §4.1.2): windows in ascending order, each with the shortest bitmap
    /// that holds its highest type.
    public static func typeBitmap(_ types: Set<UInt16>) -> [UInt8] {
        var out: [UInt8] = []
        let byWindow = Dictionary(grouping: types) { UInt8($0 >> 8) }
        for window in byWindow.keys.sorted() {
            let low = byWindow[window]!.map { Int($0 & 0xFF) }
            var bits = [UInt8](repeating: 0, count: low.max()! / 8 + 1)
            for t in low { bits[t / 8] |= 0x80 >> UInt8(t % 8) }
            out.append(window)
            out.append(UInt8(bits.count))
            out.append(contentsOf: bits)
        }
        return out
    }

    /// One NSEC per name that holds data, in canonical order, each pointing at the next and the last at the
    /// apex (next names keep their case, as ldns-signzone writes them; RFC 6840 §5.1 leaves them out of
    /// the canonical lower-casing). `names` maps each owner name (the apex among them) to the types it holds; NSEC and RRSIG are
    /// added to every bitmap (every name is signed). Names outside `zone` are left out.
    public static func nsecChain(zone: DNSName, names: [DNSName: Set<UInt16>], ttl: UInt32) -> [ResourceRecord] {
        let owners = names.keys.filter { $0.isSubdomain(of: zone) }.sorted()
        return owners.enumerated().map { i, owner in
            let next = owners[(i + 1) % owners.count]
            let types = names[owner]!.union([nsec, rrsig])
            return ResourceRecord(owner: owner, type: nsec, ttl: ttl, rdata: next.wire + typeBitmap(types))
        }
    }

    /// The NSEC3 hash of `name` (RFC 5155 §5, SHA-1): `iterations` extra rounds over name || salt.
    public static func nsec3Hash(_ name: DNSName, iterations: UInt16 = 0, salt: [UInt8] = []) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: 20)
        var input = name.lowercased.wire + salt
        for round in 0...Int(iterations) {
            if round > 0 { input = digest + salt }
            input.withUnsafeBufferPointer { p in
                digest.withUnsafeMutableBufferPointer { d in
                    _ = ldns_sha1(p.baseAddress, UInt32(p.count), d.baseAddress)
                }
            }
        }
        return digest
    }

    /// SHA-1 of `count` bytes at `input` into the 20 bytes at `digest`, without allocating: the NSEC3 hash
    /// with no extra iterations and no salt (RFC 9276), for the responder.
    @inline(__always)
    public static func sha1(_ input: UnsafePointer<UInt8>, _ count: Int, into digest: UnsafeMutablePointer<UInt8>) {
        _ = ldns_sha1(input, UInt32(count), digest)
    }

    /// Base 32 with the extended hex alphabet, lower case, no padding (RFC 4648 §7): NSEC3 owner labels.
    public static func base32hex(_ bytes: [UInt8]) -> String {
        let alphabet = Array("0123456789abcdefghijklmnopqrstuv".utf8)
        var out: [UInt8] = []
        var buffer = 0
        var bits = 0
        for b in bytes {
            buffer = buffer << 8 | Int(b)
            bits += 8
            while bits >= 5 {
                bits -= 5
                out.append(alphabet[(buffer >> bits) & 31])
            }
        }
        if bits > 0 { out.append(alphabet[(buffer << (5 - bits)) & 31]) }
        return String(decoding: out, as: UTF8.self)
    }

    /// The NSEC3 chain (hash algorithm 1, no opt-out): one record per name that holds data and per empty
    /// non-terminal between such a name and the apex (RFC 5155 §7.1), ordered by hash, each pointing at the
    /// next hash and the last at the first. Bitmaps carry the name's types plus RRSIG where it has data.
    public static func nsec3Chain(
        zone: DNSName,
        names: [DNSName: Set<UInt16>],
        ttl: UInt32,
        iterations: UInt16 = 0,
        salt: [UInt8] = []
    ) -> [ResourceRecord] {
        var all: [DNSName: Set<UInt16>] = [:]
        for (name, types) in names where name.isSubdomain(of: zone) {
            all[name.lowercased, default: []].formUnion(types)
            var up = name.parent
            while let p = up, p.isSubdomain(of: zone), p != zone {
                if all[p.lowercased] == nil { all[p.lowercased] = [] }  // an empty non-terminal
                up = p.parent
            }
        }
        let hashed = all.map { (hash: nsec3Hash($0.key, iterations: iterations, salt: salt), types: $0.value) }
            .sorted { $0.hash.lexicographicallyPrecedes($1.hash) }
        return hashed.enumerated().map { i, entry in
            let next = hashed[(i + 1) % hashed.count].hash
            let owner = zone.prepending(label: base32hex(entry.hash))
            let types = entry.types.isEmpty ? entry.types : entry.types.union([rrsig])
            var rdata: [UInt8] = [1, 0, UInt8(iterations >> 8), UInt8(iterations & 0xFF), UInt8(salt.count)] + salt
            rdata.append(UInt8(next.count))
            rdata.append(contentsOf: next)
            rdata.append(contentsOf: typeBitmap(types))
            return ResourceRecord(owner: owner, type: nsec3, ttl: ttl, rdata: rdata)
        }
    }
}
