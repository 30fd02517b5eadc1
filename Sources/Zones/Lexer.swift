/// Splits an RFC 1035 §5.1 master file into logical entries (one record or directive each).
///
/// Handles `;` comments, quoted strings (which may hold `;`, parentheses and blanks), parentheses that
/// continue an entry over several lines, `\X` and `\DDD` escapes, and the blank-owner convention (an entry
/// whose first line starts with a blank). Token text is kept in presentation form but ASCII-only: bytes
/// that ldns's own splitter would misread (non-ASCII, control characters, and escaped blanks, `;`, `(`, `)`
/// and `"`) are rewritten as the equivalent `\DDD` escape, so a token can be handed to ldns as-is.
struct MasterFileLexer {
    /// A token's text is `Entry.bytes[start..<end]` (a quoted token with its quotes).
    struct Token: Equatable {
        var start: Int32
        var end: Int32
        var quoted: Bool
    }

    struct Entry {
        /// Line of the entry's first token.
        var line: Int
        /// The entry's first line started with a blank: no owner field.
        var blankOwner: Bool
        /// The text of every token, one after the other: the reader works on these bytes, and makes a `String`
        /// only for what it reports or hands to ldns.
        var bytes: [UInt8]
        var tokens: [Token]

        /// A token's bytes.
        func slice(_ t: Token) -> ArraySlice<UInt8> { bytes[Int(t.start)..<Int(t.end)] }
        func text(_ t: Token) -> String { String(decoding: slice(t), as: UTF8.self) }
        func text(_ i: Int) -> String { text(tokens[i]) }
        /// The first byte of a token's text (every token has one).
        func first(_ t: Token) -> UInt8 { bytes[Int(t.start)] }
    }

    struct Problem {
        var line: Int
        var message: String
    }

    static func lex(_ b: [UInt8]) -> (entries: [Entry], problems: [Problem]) {
        var entries: [Entry] = []
        var problems: [Problem] = []
        lex(b, problem: { problems.append($0) }, entry: { entries.append($0) })
        return (entries, problems)
    }

    /// Hands each entry to `entry` as soon as it ends (a big zone's tokens are never all held at once), and
    /// each problem to `problem` where it is found (before the entry it belongs to).
    static func lex(_ b: [UInt8], problem report: (Problem) -> Void, entry emit: (Entry) -> Void) {
        b.withUnsafeBufferPointer { lex($0, problem: report, entry: emit) }
    }

    static func lex(_ b: UnsafeBufferPointer<UInt8>, problem report: (Problem) -> Void, entry emit: (Entry) -> Void) {
        var line = 1
        var depth = 0
        var parenLine = 0
        var tokens: [Token] = []
        var bytes: [UInt8] = []
        var entryLine = 0
        var blankOwner = false
        var atLineStart = true
        // The token being read runs from `tokenStart` to the end of `bytes`.
        var tokenStart = 0
        var inToken = false

        func endToken() {
            if inToken { tokens.append(Token(start: Int32(tokenStart), end: Int32(bytes.count), quoted: false)) }
            inToken = false
        }
        func startToken() {
            if !inToken {
                if tokens.isEmpty { entryLine = line }
                tokenStart = bytes.count
            }
            inToken = true
        }
        func endEntry() {
            endToken()
            if !tokens.isEmpty { emit(Entry(line: entryLine, blankOwner: blankOwner, bytes: bytes, tokens: tokens)) }
            tokens.removeAll(keepingCapacity: true)
            bytes.removeAll(keepingCapacity: true)
        }

        var i = 0
        while i < b.count {
            let c = b[i]
            if atLineStart {
                atLineStart = false
                if depth == 0 { blankOwner = (c == 0x20 || c == 0x09) }
            }
            switch c {
            case 0x0A:  // newline
                endToken()
                line += 1
                atLineStart = true
                if depth == 0 { endEntry() }
                i += 1
            case 0x20, 0x09, 0x0D:
                endToken()
                i += 1
            case UInt8(ascii: ";"):
                endToken()
                while i < b.count && b[i] != 0x0A { i += 1 }
            case UInt8(ascii: "("):
                endToken()
                if depth == 0 { parenLine = line }
                depth += 1
                i += 1
            case UInt8(ascii: ")"):
                endToken()
                if depth == 0 {
                    report(Problem(line: line, message: "')' without a matching '('"))
                } else {
                    depth -= 1
                }
                i += 1
            case UInt8(ascii: "\""):
                endToken()
                if tokens.isEmpty { entryLine = line }
                let start = bytes.count
                bytes.append(UInt8(ascii: "\""))
                var j = i + 1
                var closed = false
                while j < b.count {
                    let d = b[j]
                    if d == UInt8(ascii: "\"") {
                        closed = true
                        j += 1
                        break
                    }
                    if d == 0x0A { break }
                    if d == UInt8(ascii: "\\") {
                        guard j + 1 < b.count, b[j + 1] != 0x0A else {
                            j += 1
                            continue
                        }
                        appendEscaped(b[j + 1], to: &bytes)
                        j += 2
                        continue
                    }
                    appendPlain(d, to: &bytes, inQuotes: true)
                    j += 1
                }
                if !closed { report(Problem(line: line, message: "quoted string not closed on its line")) }
                bytes.append(UInt8(ascii: "\""))
                tokens.append(Token(start: Int32(start), end: Int32(bytes.count), quoted: true))
                i = j
            case UInt8(ascii: "\\"):
                startToken()
                if i + 1 < b.count, b[i + 1] != 0x0A {
                    appendEscaped(b[i + 1], to: &bytes)
                    i += 2
                } else {
                    report(Problem(line: line, message: "'\\' at the end of a line"))
                    i += 1
                }
            default:
                guard MasterFileLexer.isPlain(c) else {
                    startToken()
                    appendPlain(c, to: &bytes, inQuotes: false)
                    i += 1
                    continue
                }
                // A run of plain bytes at once.
                var j = i + 1
                while j < b.count && MasterFileLexer.isPlain(b[j]) { j += 1 }
                startToken()
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: b[i..<j]))
                i = j
            }
        }
        endToken()
        if depth > 0 {
            report(Problem(line: parenLine, message: "'(' not closed before the end of the file"))
        }
        endEntry()
    }

    /// Printable ASCII that is kept as it is in a token and does not end it (not `;`, `(`, `)`, `"` or `\`).
    @inline(__always)
    static func isPlain(_ c: UInt8) -> Bool {
        // One bit per byte value: 0x21...0x3F but `"`, `(`, `)` and `;`; 0x40...0x7E but `\`.
        let bit = UInt64(1) &<< UInt64(c & 63)
        switch c >> 6 {
        case 0: return 0xF7FF_FCFA_0000_0000 & bit != 0
        case 1: return 0x7FFF_FFFF_EFFF_FFFF & bit != 0
        default: return false
        }
    }

    /// The byte after a backslash. Digits stay as they are (start of `\DDD`), bytes that ldns's splitter
    /// would misread become `\DDD`, other printable ASCII stays `\X`.
    static func appendEscaped(_ d: UInt8, to out: inout [UInt8]) {
        switch d {
        case 0x30...0x39:
            out.append(UInt8(ascii: "\\"))
            out.append(d)
        case 0x21...0x7E
        where
            !(d == UInt8(ascii: ";") || d == UInt8(ascii: "(") || d == UInt8(ascii: ")")
            || d == UInt8(ascii: "\"")):
            out.append(UInt8(ascii: "\\"))
            out.append(d)
        default:
            appendDDD(d, to: &out)
        }
    }

    static func appendPlain(_ d: UInt8, to out: inout [UInt8], inQuotes: Bool) {
        if (0x21...0x7E).contains(d) || (inQuotes && d == 0x20) { out.append(d) } else { appendDDD(d, to: &out) }
    }

    static func appendDDD(_ d: UInt8, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\\"))
        out.append(0x30 + d / 100)
        out.append(0x30 + (d / 10) % 10)
        out.append(0x30 + d % 10)
    }
}
