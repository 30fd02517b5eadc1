import DNSWire
import FoundationEssentials
import Glibc

/// Loads RFC 1035 master files through ldns and validates the result, reporting every problem found
/// with its file and line (see Sources/Zones/README.md for the accepted syntax and the checks).
public enum ZoneLoader {
    /// How deep `$INCLUDE`s may nest.
    public static let maxIncludeDepth = 8

    /// Reads the zone at `path` (and its `$INCLUDE`s; `maxBytes` bounds their total size) and validates it.
    public static func load(origin: DNSName, path: String, maxBytes: Int = 64 << 20) -> Result<Zone, ZoneProblems> {
        var r = Reader(apex: origin, maxBytes: maxBytes)
        r.loadFile(display: path, fsPath: path, origin: origin, inherited: .init(), includedFrom: nil, depth: 0)
        return r.finish(topFile: path)
    }

    /// Validates zone text held in memory; `file` names it in problems and anchors relative `$INCLUDE`s.
    public static func load(
        origin: DNSName,
        text: String,
        file: String = "<memory>",
        maxBytes: Int = 64 << 20
    ) -> Result<Zone, ZoneProblems> {
        var r = Reader(apex: origin, maxBytes: maxBytes)
        let bytes = Array(text.utf8)
        if bytes.count > maxBytes {
            r.problem(file, nil, "zone text is too big (\(bytes.count) bytes; the limit is \(maxBytes))")
        } else {
            r.bytesRead = bytes.count
            r.files.append(file)
            r.stack.append(canonical(file))
            r.parse(bytes, display: file, origin: origin, inherited: .init(), depth: 0)
        }
        return r.finish(topFile: file)
    }

    /// The file's absolute path with symbolic links, `.` and `..` resolved (realpath(3)), to tell an `$INCLUDE`
    /// loop; the path as given when it cannot be resolved (a missing file: reading it reports that). Foundation's
    /// URL did the same at ~0.5 ms for the first file of a start.
    static func canonical(_ path: String) -> String {
        guard let resolved = realpath(path, nil) else { return path }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// The text of entry `e`'s tokens from `from` on with one space between them: a record as written, and the
    /// rdata handed to ldns.
    static func spaced(_ e: MasterFileLexer.Entry, from: Int) -> String {
        var out: [UInt8] = []
        for t in e.tokens[from...] {
            if !out.isEmpty { out.append(0x20) }
            out.append(contentsOf: e.slice(t))
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// The owner of the last record of a file that wrote one: what a blank owner field repeats, and, with the text it
/// was written as and the origin it was read against, the owner of the next record written the same way (the
/// records of a name usually follow each other): that record shares its storage instead of parsing and allocating
/// it again.
struct PreviousOwner {
    var name: DNSName? = nil
    var text: [UInt8] = []
    var origin: DNSName? = nil

    func isWritten(as t: ArraySlice<UInt8>) -> Bool {
        t.count == text.count
            && t.withUnsafeBufferPointer { a in
                text.withUnsafeBufferPointer { b in a.isEmpty || memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0 }
            }
    }
}

/// Per-file parsing state that an `$INCLUDE`d file starts from.
struct Inherited {
    /// `$TTL` in effect.
    var defaultTTL: UInt32?
    /// The last TTL written on a record (RFC 1035 §5.1 semantics when there is no `$TTL`).
    var lastTTL: UInt32?
    /// A `$TTL` line was wrong: records without a TTL are follow-ons of that one error, not problems of their own.
    var ttlBroken = false
}

struct Reader {
    let apex: DNSName
    let maxBytes: Int
    var bytesRead = 0
    var records: [ZoneRecord] = []
    var problems: [ZoneProblem] = []
    /// Files in the order first seen (for sorting problems).
    var files: [String] = []
    /// Canonical paths of the files being read, outermost first (cycle detection).
    var stack: [String] = []
    /// Some `$TTL` line was wrong (reported there); the TTL checks that follow from it stay quiet.
    var sawBrokenTTL = false

    /// The apex's wire form in lower case (owners are checked against it without copies).
    let apexLower: [UInt8]

    init(apex: DNSName, maxBytes: Int) {
        self.apex = apex
        self.apexLower = apex.lowercased.wire
        self.maxBytes = maxBytes
    }

    /// ldns's type and class for a mnemonic, remembered per spelling (ldns looks a name up by scanning its
    /// whole type table, and every record's class and type go through here); -1 = not one.
    var typeNames: [String: Int32] = [:]
    var classNames: [String: Int32] = [:]

    /// The bytes of a spelling of up to eight bytes in one word (the first byte highest); nil for a longer one.
    static func packed(_ b: ArraySlice<UInt8>) -> UInt64? {
        guard b.count <= 8 else { return nil }
        var key: UInt64 = 0
        for c in b { key = key << 8 | UInt64(c) }
        return key
    }

    /// The commonest type spellings as one word, neither compared as strings nor hashed (ldns gives the same
    /// values); nil for any other spelling. `IN` is none.
    static func commonType(_ packed: UInt64?) -> UInt16?? {
        switch packed {
        case 0x41: return RRType.A  // A
        case 0x4141_4141: return RRType.AAAA  // AAAA
        case 0x43_4E41_4D45: return RRType.CNAME  // CNAME
        case 0x4D58: return RRType.MX  // MX
        case 0x4E53: return RRType.NS  // NS
        case 0x54_5854: return RRType.TXT  // TXT
        case 0x53_5256: return RRType.SRV  // SRV
        case 0x494E: return .some(nil)  // IN
        default: return nil
        }
    }

    mutating func typeValue(_ text: String) -> UInt16? {
        typeValue(Array(text.utf8)[...])
    }

    mutating func typeValue(_ b: ArraySlice<UInt8>) -> UInt16? {
        if let common = Reader.commonType(Reader.packed(b)) { return common }
        let text = String(decoding: b, as: UTF8.self)
        if let v = typeNames[text] { return v < 0 ? nil : UInt16(v) }
        let v = LdnsRR.typeValue(text)
        if typeNames.count < 1024 { typeNames[text] = v.map(Int32.init) ?? -1 }
        return v
    }

    mutating func classValue(_ text: String) -> UInt16? {
        classValue(Array(text.utf8)[...])
    }

    mutating func classValue(_ b: ArraySlice<UInt8>) -> UInt16? {
        if Reader.packed(b) == 0x494E { return RRClass.IN }  // IN
        let text = String(decoding: b, as: UTF8.self)
        if let v = classNames[text] { return v < 0 ? nil : UInt16(v) }
        let v = LdnsRR.classValue(text)
        if classNames.count < 1024 { classNames[text] = v.map(Int32.init) ?? -1 }
        return v
    }

    mutating func problem(_ file: String, _ line: Int?, _ message: String, warning: Bool = false) {
        problems.append(ZoneProblem(file: file, line: line, message: message, severity: warning ? .warning : .error))
    }

    /// Reads one file. Problems opening it are reported at `includedFrom` (the `$INCLUDE` line) when set.
    mutating func loadFile(
        display: String,
        fsPath: String,
        origin: DNSName,
        inherited: Inherited,
        includedFrom: (file: String, line: Int)?,
        depth: Int
    ) {
        let whereFile = includedFrom?.file ?? display
        let whereLine = includedFrom?.line
        let prefix = includedFrom == nil ? "" : "$INCLUDE \(display): "
        let budget = maxBytes - bytesRead
        let data: [UInt8]
        switch BoundedFile.read(fsPath, maxBytes: budget) {
        case .bytes(let b): data = b
        case .missing:
            problem(whereFile, whereLine, prefix + "no such file")
            return
        case .directory:
            problem(whereFile, whereLine, prefix + "is a directory")
            return
        case .notRegular:
            // A FIFO or device would block the reader (or never end): only regular files are zone text.
            problem(whereFile, whereLine, prefix + "is not a regular file (a FIFO, device or socket cannot be a zone)")
            return
        case .tooBig(let size):
            let detail = size.map { "\($0) bytes; the limit is \(maxBytes)" } ?? "the limit is \(maxBytes) bytes"
            problem(whereFile, whereLine, prefix + "too big (\(detail) for the zone and its includes)")
            return
        case .unreadable(let why):
            problem(whereFile, whereLine, prefix + "cannot be read (\(why.lowercased()))")
            return
        }
        bytesRead += data.count
        // Room for a record per 24 bytes of text at once (a generated zone has one per 31): growing the array by
        // doubling copied it and touched twice its memory. Room not written is never touched.
        records.reserveCapacity(records.count + data.count / 24)
        if !files.contains(display) { files.append(display) }
        stack.append(ZoneLoader.canonical(fsPath))
        defer { stack.removeLast() }
        parse(data, display: display, origin: origin, inherited: inherited, depth: depth)
    }

    mutating func parse(
        _ bytes: [UInt8],
        display: String,
        origin startOrigin: DNSName,
        inherited: Inherited,
        depth: Int
    ) {
        var origin = startOrigin
        var state = inherited
        var previousOwner = PreviousOwner()
        // Entries are read as the lexer ends them; its problems come before the entry they belong to.
        MasterFileLexer.lex(
            bytes,
            problem: { p in problem(display, p.line, p.message) },
            entry: { e in
                let first = e.tokens[0]
                if !first.quoted, e.first(first) == UInt8(ascii: "$") {
                    if e.blankOwner {
                        problem(display, e.line, "directive \(e.text(first)) must start at the beginning of the line")
                        return
                    }
                    directive(e, display: display, origin: &origin, state: &state, depth: depth)
                    return
                }
                record(e, display: display, origin: origin, state: &state, previousOwner: &previousOwner)
            }
        )
    }

    mutating func directive(
        _ e: MasterFileLexer.Entry,
        display: String,
        origin: inout DNSName,
        state: inout Inherited,
        depth: Int
    ) {
        let name = e.text(0).uppercased()
        let args = e.tokens.dropFirst().map { (text: e.text($0), quoted: $0.quoted) }
        switch name {
        case "$ORIGIN":
            guard args.count == 1, !args[0].quoted else {
                problem(display, e.line, "$ORIGIN takes one domain name")
                return
            }
            do throws(NameError) {
                origin = try DNSName(args[0].text, origin: origin)
            } catch {
                problem(display, e.line, "$ORIGIN: bad name \(error)")
            }
        case "$TTL":
            // A wrong $TTL is reported once, here; the records after it that rely on it are not reported again.
            guard args.count == 1 else {
                problem(display, e.line, "$TTL takes one value")
                state.ttlBroken = true
                state.defaultTTL = nil
                sawBrokenTTL = true
                return
            }
            guard let v = TTLText.parse(args[0].text) else {
                problem(display, e.line, "$TTL: '\(args[0].text)' is not a TTL")
                state.ttlBroken = true
                state.defaultTTL = nil
                sawBrokenTTL = true
                return
            }
            guard v <= TTLText.max else {
                problem(display, e.line, "$TTL \(v) is above 2147483647 (RFC 2181 §8)")
                state.ttlBroken = true
                state.defaultTTL = nil
                sawBrokenTTL = true
                return
            }
            state.defaultTTL = UInt32(v)
            state.ttlBroken = false
        case "$INCLUDE":
            guard args.count == 1 || args.count == 2 else {
                problem(display, e.line, "$INCLUDE takes a file name and an optional origin")
                return
            }
            var childOrigin = origin
            if args.count == 2 {
                do throws(NameError) {
                    childOrigin = try DNSName(args[1].text, origin: origin)
                } catch {
                    problem(display, e.line, "$INCLUDE: bad origin \(error)")
                    return
                }
            }
            var file = args[0].text
            if args[0].quoted { file = String(file.dropFirst().dropLast()) }
            guard !file.isEmpty else {
                problem(display, e.line, "$INCLUDE: empty file name")
                return
            }
            let childPath = FilePaths.resolve(file, in: FilePaths.directory(of: display))
            guard depth + 1 <= ZoneLoader.maxIncludeDepth else {
                problem(
                    display,
                    e.line,
                    "$INCLUDE \(childPath): includes nested more than "
                        + "\(ZoneLoader.maxIncludeDepth) deep"
                )
                return
            }
            let canon = ZoneLoader.canonical(childPath)
            if stack.contains(canon) {
                problem(display, e.line, "$INCLUDE \(childPath): include cycle (the file is already being read)")
                return
            }
            // The included file starts from the current origin (or the one given) and $TTL; whatever it
            // changes ($ORIGIN, $TTL, the current owner) does not leak back into this file.
            loadFile(
                display: childPath,
                fsPath: childPath,
                origin: childOrigin,
                inherited: state,
                includedFrom: (display, e.line),
                depth: depth + 1
            )
        default:
            problem(display, e.line, "unknown directive \(e.text(0)) (supported: $ORIGIN, $TTL, $INCLUDE)")
        }
    }

    mutating func record(
        _ e: MasterFileLexer.Entry,
        display: String,
        origin: DNSName,
        state: inout Inherited,
        previousOwner: inout PreviousOwner
    ) {
        let tokens = e.tokens
        /// The record as written, for problems (made only when one is reported).
        func shownText() -> String { (e.blankOwner ? "  " : "") + ZoneLoader.spaced(e, from: 0) }
        var i = 0
        let owner: DNSName
        if e.blankOwner {
            guard let p = previousOwner.name else {
                problem(
                    display,
                    e.line,
                    "line starts with a blank but there is no previous owner name: '\(shownText())'"
                )
                return
            }
            owner = p
        } else {
            guard !tokens[0].quoted else {
                problem(display, e.line, "quoted owner name: '\(shownText())'")
                return
            }
            let text = e.slice(tokens[0])
            if let p = previousOwner.name, previousOwner.origin?.wire == origin.wire,
                previousOwner.isWritten(as: text)
            {
                owner = p
            } else {
                do throws(NameError) {
                    owner = try text.withUnsafeBufferPointer { b throws(NameError) in
                        try DNSName(presentation: b, origin: origin)
                    }
                } catch {
                    problem(display, e.line, "bad owner name \(error)")
                    return
                }
                previousOwner.name = owner
                previousOwner.origin = origin
                previousOwner.text.removeAll(keepingCapacity: true)
                previousOwner.text.append(contentsOf: text)
            }
            i = 1
        }

        // [TTL] [class] in either order, then the type.
        // Each with its token, for messages: no text is made for a good record.
        var ttl: (value: UInt64, token: MasterFileLexer.Token)? = nil
        var rrClass: (value: UInt16, token: MasterFileLexer.Token)? = nil
        while i < tokens.count, i < (e.blankOwner ? 2 : 3) {
            let t = tokens[i]
            if t.quoted { break }
            if ttl == nil, e.first(t) >= 0x30 && e.first(t) <= 0x39 {
                guard let v = e.slice(t).withUnsafeBufferPointer({ TTLText.parse(bytes: $0) }) else {
                    problem(display, e.line, "bad TTL '\(e.text(t))': '\(shownText())'")
                    return
                }
                ttl = (v, t)
                i += 1
                continue
            }
            if rrClass == nil, typeValue(e.slice(t)) == nil, let c = classValue(e.slice(t)) {
                rrClass = (c, t)
                i += 1
                continue
            }
            break
        }
        guard i < tokens.count, !tokens[i].quoted else {
            problem(display, e.line, "record has no type: '\(shownText())'")
            return
        }
        guard let type = typeValue(e.slice(tokens[i])) else {
            problem(display, e.line, "unknown type '\(e.text(i))': '\(shownText())'")
            return
        }
        if Reader.isMetaType(type) {
            problem(
                display,
                e.line,
                "\(LdnsRR.typeName(type)) is not a record type that can be in a zone: '\(shownText())'"
            )
            return
        }
        if let c = rrClass, c.value != RRClass.IN {
            problem(
                display,
                e.line,
                "class \(e.text(c.token).uppercased()) is not supported (only IN): '\(shownText())'"
            )
            return
        }
        if let v = ttl, v.value > TTLText.max {
            problem(display, e.line, "TTL \(e.text(v.token)) is above 2147483647 (RFC 2181 §8): '\(shownText())'")
            return
        }
        guard wireNameIsAtOrBelow(owner.wire, apexLower) else {
            problem(display, e.line, "\(owner) is outside the zone \(apex): '\(shownText())'")
            return
        }

        var finalTTL: UInt32? = nil
        var ttlNote: String? = nil
        if let v = ttl?.value {
            finalTTL = UInt32(v)
            state.lastTTL = UInt32(v)
        } else if let d = state.defaultTTL {
            finalTTL = d
        } else if state.ttlBroken {
            finalTTL = state.lastTTL ?? 0  // a follow-on of the wrong $TTL (reported there); the zone fails anyway
        } else if let last = state.lastTTL {
            finalTTL = last
            ttlNote = "no TTL and no $TTL; using the previous record's TTL \(last) (RFC 1035 §5.1); add a $TTL line"
        } else if type != RRType.SOA {
            problem(display, e.line, "no TTL given and no $TTL before this record: '\(shownText())'")
            return
        }

        var rr: ResourceRecord
        if let ttl = finalTTL, let rdata = FastRdata.parse(type: type, e, from: i + 1, origin: origin) {
            rr = ResourceRecord(owner: owner, type: type, rrClass: RRClass.IN, ttl: ttl, rdata: rdata)
        } else {
            let rdata = ZoneLoader.spaced(e, from: i + 1)
            let text = "\(owner) \(finalTTL ?? 0) IN \(e.text(i))" + (rdata.isEmpty ? "" : " " + rdata)
            do throws(RecordParseError) {
                rr = try LdnsRR.parse(text, origin: origin, defaultTTL: finalTTL ?? 0)
            } catch {
                problem(display, e.line, "\(error.status): '\(shownText())'")
                return
            }
            guard rr.type == type, rr.rrClass == RRClass.IN else {
                problem(display, e.line, "ldns read this record as \(LdnsRR.typeName(rr.type)): '\(shownText())'")
                return
            }
        }
        if finalTTL == nil, let m = rr.soaMinimum {
            // BIND's rule for an SOA with no TTL anywhere: take its MINIMUM.
            rr.ttl = min(m, UInt32(TTLText.max))
            state.lastTTL = rr.ttl
            ttlNote = "SOA has no TTL and there is no $TTL; using its MINIMUM \(rr.ttl); add a $TTL line"
        }
        if let n = ttlNote { problem(display, e.line, n, warning: true) }
        records.append(ZoneRecord(record: rr, file: display, line: e.line))
    }

    /// Types that only exist in messages (RFC 6895 §3.1: OPT, TKEY, TSIG, IXFR, AXFR, MAILB, MAILA, ANY) and 0.
    static func isMetaType(_ type: UInt16) -> Bool {
        switch type {
        case 0, RRType.OPT, RRType.TKEY, RRType.TSIG, RRType.IXFR, RRType.AXFR, RRType.MAILB, RRType.MAILA, RRType.ANY:
            true
        default: false
        }
    }

    /// Whole-zone checks, then the result.
    mutating func finish(topFile: String) -> Result<Zone, ZoneProblems> {
        var checked = ZoneChecks(apex: apex, topFile: topFile, records: records)
        // When the zone file itself could not be read, "no SOA" and the like would only be noise.
        if files.first == topFile {
            checked.run()
            // After a wrong $TTL the records that relied on it carry stand-in TTLs: RRset TTL mismatches
            // between them would only repeat that one error.
            problems +=
                sawBrokenTTL
                ? checked.problems.filter { !($0.isWarning && $0.message.hasPrefix("TTL ")) } : checked.problems
        }
        let order = Dictionary(files.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        let sorted = problems.enumerated().sorted { x, y in
            let a = x.element
            let b = y.element
            let ka = (a.line == nil ? 1 : 0, order[a.file] ?? Int.max, a.line ?? 0, x.offset)
            let kb = (b.line == nil ? 1 : 0, order[b.file] ?? Int.max, b.line ?? 0, y.offset)
            return ka < kb
        }.map(\.element)
        if sorted.contains(where: { !$0.isWarning }) { return .failure(ZoneProblems(sorted)) }
        guard let soa = checked.soa else {
            return .failure(ZoneProblems(sorted + [ZoneProblem(file: topFile, line: nil, message: "no SOA")]))
        }
        let negative = min(soa.ttl, soa.soaMinimum ?? soa.ttl)
        return .success(
            Zone(
                origin: apex,
                file: topFile,
                records: checked.records,
                soa: soa,
                negativeTTL: negative,
                warnings: sorted
            )
        )
    }
}
