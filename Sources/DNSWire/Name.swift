/// A domain name in uncompressed wire form (RFC 1035 §3.1), case preserved.
/// Invariant: `wire` is a valid sequence of labels (each ≤ 63 bytes) ending in the root label, ≤ 255 bytes.
public struct DNSName: Hashable, Sendable, CustomStringConvertible, Comparable {
    public let wire: [UInt8]

    public static let root = DNSName(uncheckedWire: [0])

    public init(uncheckedWire: [UInt8]) { self.wire = uncheckedWire }

    /// Validates wire bytes: label lengths, total length, terminating root label.
    public init?(wire: [UInt8]) {
        guard DNSName.validWire(wire) else { return nil }
        self.wire = wire
    }

    static func validWire(_ w: [UInt8]) -> Bool {
        guard !w.isEmpty, w.count <= 255 else { return false }
        var i = 0
        while i < w.count {
            let l = Int(w[i])
            if l == 0 { return i == w.count - 1 }
            if l > 63 { return false }
            i += l + 1
        }
        return false
    }

    /// Parses presentation format ("www.Example.com." or relative to `origin`), with `\DDD` and `\X` escapes.
    /// A name without a trailing dot is taken relative to `origin` (or to the root when origin is nil).
    public init(_ text: String, origin: DNSName? = nil) throws(NameError) {
        // The text's UTF-8 bytes in place.
        var t = text
        let parsed = t.withUTF8 { b in
            Result { () throws(NameError) in try DNSName(presentation: b, origin: origin) }
        }
        self = try parsed.get()
    }

    /// `init(_:origin:)` on the text's bytes (a zone file's token, without making a `String` of it). Labels are
    /// written straight into the wire form (a length byte, then the label, the length filled in when the label
    /// ends): one allocation per name.
    public init(presentation text: UnsafeBufferPointer<UInt8>, origin: DNSName? = nil) throws(NameError) {
        if text.count == 1 && text[0] == UInt8(ascii: "@") {
            guard let o = origin else { throw .relativeWithoutOrigin("@") }
            self = o
            return
        }
        if text.count == 1 && text[0] == UInt8(ascii: ".") {
            self = .root
            return
        }
        let parsed = DNSName.parseWire(text, origin: origin)
        guard let wire = parsed.wire else {
            throw DNSName.error(parsed.failure!, String(decoding: text, as: UTF8.self))
        }
        self.init(uncheckedWire: wire)
    }

    /// Why `parseWire` failed (the error is made with the text by the caller).
    enum ParseFailure { case empty, emptyLabel, labelTooLong, nameTooLong, badEscape }

    static func error(_ f: ParseFailure, _ text: String) -> NameError {
        switch f {
        case .empty: return .empty
        case .emptyLabel: return .emptyLabel(text)
        case .labelTooLong: return .labelTooLong(text)
        case .nameTooLong: return .nameTooLong(text)
        case .badEscape: return .badEscape(text)
        }
    }

    /// The wire form of presentation text (not "@" or "."), relative names completed with `origin` (or the root).
    static func parseWire(
        _ bytes: UnsafeBufferPointer<UInt8>,
        origin: DNSName?
    ) -> (wire: [UInt8]?, failure: ParseFailure?) {
        let count = bytes.count
        guard count > 0 else { return (nil, .empty) }
        var wire: [UInt8] = []
        // Exactly its size for a name without escapes (the wire form is kept with every record).
        let absoluteText = bytes[count - 1] == UInt8(ascii: ".")
        wire.reserveCapacity(count + 1 + (absoluteText ? 0 : (origin?.wire.count ?? 1)))
        var lengthAt = 0
        wire.append(0)
        var n = 0
        var absolute = false
        var i = 0
        while i < count {
            let c = bytes[i]
            if c == UInt8(ascii: "\\") {
                guard i + 1 < count else { return (nil, .badEscape) }
                let d = bytes[i + 1]
                if d >= 0x30 && d <= 0x39 {
                    guard i + 3 < count else { return (nil, .badEscape) }
                    let d2 = bytes[i + 2]
                    let d3 = bytes[i + 3]
                    guard d2 >= 0x30 && d2 <= 0x39 && d3 >= 0x30 && d3 <= 0x39 else { return (nil, .badEscape) }
                    let v = Int(d - 0x30) * 100 + Int(d2 - 0x30) * 10 + Int(d3 - 0x30)
                    guard v <= 255 else { return (nil, .badEscape) }
                    wire.append(UInt8(v))
                    i += 4
                } else {
                    wire.append(d)
                    i += 2
                }
                n += 1
                continue
            }
            if c == UInt8(ascii: ".") {
                guard n > 0 else { return (nil, .emptyLabel) }
                guard n <= 63 else { return (nil, .labelTooLong) }
                wire[lengthAt] = UInt8(n)
                if i == count - 1 {
                    absolute = true
                    break
                }
                lengthAt = wire.count
                wire.append(0)
                n = 0
                i += 1
                continue
            }
            wire.append(c)
            n += 1
            i += 1
        }
        if absolute {
            wire.append(0)
        } else {
            // The last label (never empty here: a text ending in an unescaped dot is absolute).
            guard n > 0 else { return (nil, .emptyLabel) }
            guard n <= 63 else { return (nil, .labelTooLong) }
            wire[lengthAt] = UInt8(n)
            wire.append(contentsOf: (origin ?? .root).wire)
        }
        guard wire.count <= 255 else { return (nil, .nameTooLong) }
        return (wire, nil)
    }

    /// An operator-written name that is always absolute: `lab.example` and `lab.example.` are the same
    /// (config keys, `--zone` origins, service names).
    public init(absolute text: String) throws(NameError) {
        try self.init(text.hasSuffix(".") ? text : text + ".")
    }

    /// Lower-cased copy (ASCII only, as DNS compares names, RFC 4343).
    public var lowercased: DNSName { DNSName(uncheckedWire: wire.map(asciiLower)) }

    public var labelCount: Int {
        var n = 0
        var i = 0
        while wire[i] != 0 {
            n += 1
            i += Int(wire[i]) + 1
        }
        return n
    }

    /// Labels from left to right, without lengths.
    public var labels: [ArraySlice<UInt8>] {
        var out: [ArraySlice<UInt8>] = []
        var i = 0
        while wire[i] != 0 {
            let l = Int(wire[i])
            out.append(wire[(i + 1)...(i + l)])
            i += l + 1
        }
        return out
    }

    /// The name with its leftmost label removed (nil for the root).
    public var parent: DNSName? {
        guard wire[0] != 0 else { return nil }
        return DNSName(uncheckedWire: Array(wire[(Int(wire[0]) + 1)...]))
    }

    public var isWildcard: Bool { wire.count >= 2 && wire[0] == 1 && wire[1] == UInt8(ascii: "*") }

    /// True when `self` equals `other` or lies below it (case-insensitive).
    public func isSubdomain(of other: DNSName) -> Bool {
        let a = lowercased.wire
        let b = other.lowercased.wire
        guard a.count >= b.count else { return false }
        guard a.suffix(b.count).elementsEqual(b) else { return false }
        // The suffix must start on a label boundary.
        var i = 0
        while i < a.count - b.count { i += Int(a[i]) + 1 }
        return i == a.count - b.count
    }

    public func prepending(label: String) -> DNSName {
        let l = Array(label.utf8)
        return DNSName(uncheckedWire: [UInt8(l.count)] + l + wire)
    }

    public var description: String {
        if wire == [0] { return "." }
        var s = ""
        var i = 0
        while wire[i] != 0 {
            let l = Int(wire[i])
            for b in wire[(i + 1)...(i + l)] {
                switch b {
                case UInt8(ascii: "."), UInt8(ascii: "\\"), UInt8(ascii: "\""), UInt8(ascii: "("), UInt8(ascii: ")"),
                    UInt8(ascii: ";"), UInt8(ascii: "@"), UInt8(ascii: "$"):
                    s.append("\\")
                    s.unicodeScalars.append(UnicodeScalar(b))
                case 0x21...0x7e: s.unicodeScalars.append(UnicodeScalar(b))
                default:
                    let d = String(b)
                    s.append("\\" + String(repeating: "0", count: 3 - d.count) + d)
                }
            }
            s.append(".")
            i += l + 1
        }
        return s
    }

    public static func == (a: DNSName, b: DNSName) -> Bool {
        // One storage (a zone's records of one name share their owner's, and its node's name): equal without reading
        // it. An array is one reference to its storage; comparing those does not load the count from it (a cache
        // miss in a big zone), as `count` and `withUnsafeBufferPointer` do.
        if unsafeBitCast(a.wire, to: UnsafeRawPointer.self) == unsafeBitCast(b.wire, to: UnsafeRawPointer.self) {
            return true
        }
        guard a.wire.count == b.wire.count else { return false }
        return a.wire.withUnsafeBufferPointer { x in
            b.wire.withUnsafeBufferPointer { y in
                var i = 0
                while i < x.count {
                    if x[i] != y[i] && asciiLower(x[i]) != asciiLower(y[i]) { return false }
                    i += 1
                }
                return true
            }
        }
    }

    /// Hashes the lower-cased wire bytes (`word`) into the hasher (a table of names hashes one on every lookup;
    /// feeding the hasher the bytes cost far more).
    public func hash(into h: inout Hasher) { h.combine(word) }

    /// What dictionaries and sets of names use instead of a `Hasher`: `word`, mixed with the table's seed by a
    /// 64-bit finalizer (MurmurHash3's), without SipHash's rounds and the hasher's set-up (those were half of the
    /// cost of hashing a name, and a big zone's compile hashes one about eight times per name). The keys of such
    /// tables are names from zone files, the configuration and the store, which the operator writes; the hot path
    /// finds the names of queries in its own index (`AnswerTable`), not in a dictionary.
    public func _rawHashValue(seed: Int) -> Int { mixedHash(word, seed: seed) }

    /// An FNV-style multiply over the lower-cased wire bytes, eight at a time: equal names (case-insensitively)
    /// have equal words. Not mixed: take it through `mixedHash` for a table's slot.
    public var word: UInt64 {
        var x: UInt64 = 0xcbf2_9ce4_8422_2325
        wire.withUnsafeBytes { raw in
            // Eight bytes at a time, lower-cased together; the last few packed into one word.
            let n = raw.count
            var i = 0
            while i + 8 <= n {
                x = (x ^ DNSName.lower8(raw.loadUnaligned(fromByteOffset: i, as: UInt64.self))) &* 0x100_0000_01b3
                x ^= x >> 29
                i += 8
            }
            if i < n {
                var tail: UInt64 = 0
                if n >= 8 {
                    // The last eight bytes, shifted so that the ones already hashed drop out.
                    tail = raw.loadUnaligned(fromByteOffset: n - 8, as: UInt64.self) >> UInt64(8 * (8 - (n - i)))
                } else {
                    var shift: UInt64 = 0
                    while i < n {
                        tail |= UInt64(raw[i]) << shift
                        shift += 8
                        i += 1
                    }
                }
                x = (x ^ DNSName.lower8(tail)) &* 0x100_0000_01b3
                x ^= x >> 29
            }
        }
        return x
    }

    /// ASCII upper-case letters lower-cased in each of the eight bytes of `v` (other bytes unchanged).
    @inline(__always)
    static func lower8(_ v: UInt64) -> UInt64 {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let low7 = v & (0x7F &* ones)
        let atLeastA = low7 &+ ((0x80 - 0x41) &* ones)  // bit 7 set where the byte is ≥ "A"
        let pastZ = low7 &+ ((0x80 - 0x5B) &* ones)  // bit 7 set where the byte is > "Z"
        let upper = atLeastA & ~pastZ & ~v & (0x80 &* ones)
        return v | (upper >> 2)
    }

    /// Canonical DNS order (RFC 4034 §6.1): compare labels right to left, case-insensitively.
    public static func < (a: DNSName, b: DNSName) -> Bool {
        let la = a.lowercased.labels.reversed().map(Array.init)
        let lb = b.lowercased.labels.reversed().map(Array.init)
        for (x, y) in zip(la, lb) where x != y { return x.lexicographicallyPrecedes(y) }
        return la.count < lb.count
    }
}

/// `x` and a hash table's seed through MurmurHash3's 64-bit finalizer: the `_rawHashValue(seed:)` of keys that
/// have a good word of their own (a name's `word`, small integers), without SipHash's rounds and set-up.
@inline(__always) public func mixedHash(_ word: UInt64, seed: Int) -> Int {
    var x = word ^ UInt64(bitPattern: Int64(seed))
    x = (x ^ (x >> 33)) &* 0xff51_afd7_ed55_8ccd
    x = (x ^ (x >> 33)) &* 0xc4ce_b9fe_1a85_ec53
    return Int(bitPattern: UInt(truncatingIfNeeded: x ^ (x >> 33)))
}

@inline(__always) public func asciiLower(_ b: UInt8) -> UInt8 { (b >= 0x41 && b <= 0x5A) ? b | 0x20 : b }

/// `DNSName.isSubdomain(of:)` on wire bytes without copies: name `a` is at or below name `b` (`b` in lower case).
/// Used where names are compared in bulk (zone loading, finding a name's zone at compile).
public func wireNameIsAtOrBelow(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    guard a.count >= b.count else { return false }
    let off = a.count - b.count
    return a.withUnsafeBytes { x in
        b.withUnsafeBytes { y in
            // `b` against the end of `a` eight bytes at a time, `a`'s lower-cased together (`DNSName.lower8`); the
            // last few as the last eight (again) when `b` has that many.
            let n = y.count
            var k = 0
            while k + 8 <= n {
                let word = x.loadUnaligned(fromByteOffset: off + k, as: UInt64.self)
                if DNSName.lower8(word) != y.loadUnaligned(fromByteOffset: k, as: UInt64.self) { return false }
                k += 8
            }
            if k < n && n >= 8 {
                let word = x.loadUnaligned(fromByteOffset: off + n - 8, as: UInt64.self)
                if DNSName.lower8(word) != y.loadUnaligned(fromByteOffset: n - 8, as: UInt64.self) { return false }
            } else {
                while k < n {
                    if asciiLower(x[off + k]) != y[k] { return false }
                    k += 1
                }
            }
            // On a label boundary of `a`.
            var i = 0
            while i < off { i += Int(x[i]) + 1 }
            return i == off
        }
    }
}

public enum NameError: Error, Equatable, CustomStringConvertible {
    case empty
    case emptyLabel(String)
    case labelTooLong(String)
    case nameTooLong(String)
    case badEscape(String)
    case relativeWithoutOrigin(String)
    public var description: String {
        switch self {
        case .empty: return "empty name"
        case .emptyLabel(let s): return "'\(s)': empty label"
        case .labelTooLong(let s): return "'\(s)': label longer than 63 bytes"
        case .nameTooLong(let s): return "'\(s)': name longer than 255 bytes"
        case .badEscape(let s): return "'\(s)': bad escape"
        case .relativeWithoutOrigin(let s): return "'\(s)': relative name without an origin"
        }
    }
}
