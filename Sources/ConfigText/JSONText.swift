import FoundationEssentials

/// Untyped JSON for the few places that read or write JSON without a fixed shape (etcd's gateway replies, the
/// CLI reading the control API's errors): objects as `[String: Any]`, arrays as `[Any]`, strings, `Bool`,
/// integers as `Int64`, other numbers as `Double`, null as `JSONText.null`. Read and written by
/// FoundationEssentials' JSON coders, so gtmd links no `JSONSerialization` (full Foundation, ICU).
public enum JSONText {
    /// JSON's null.
    public struct Null: Sendable, Equatable {}
    public static let null = Null()

    /// The value of `data`, which must be JSON text (any top-level value).
    public static func parse(_ data: some Collection<UInt8>) throws -> Any {
        try JSONDecoder().decode(Value.self, from: Data(data)).any
    }

    /// `parse`, as an object; nil when the text is not JSON or not an object.
    public static func object(_ data: some Collection<UInt8>) -> [String: Any]? {
        (try? parse(data)) as? [String: Any]
    }

    /// JSON text of `value` (built of the types `parse` gives, and `Int`, `String`, `[String]`, `[String: String]`),
    /// keys sorted. Throws for anything else.
    public static func data(_ value: Any) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(try Value(value)))
    }

    /// What is wrong with `bytes` as JSON text (RFC 8259), and where (a byte offset from 0); nil when it is JSON.
    /// Stricter than the decoders, which say only that text is not JSON and let a trailing comma through: this
    /// is what the control API tells a client about a body it refuses. Nesting deeper than `maxDepth` is refused.
    public static func syntaxProblem(_ bytes: [UInt8], maxDepth: Int = 256) -> String? {
        var checker = SyntaxCheck(bytes: bytes, maxDepth: maxDepth)
        do throws(SyntaxError) {
            checker.space()
            try checker.value(depth: 0)
            checker.space()
            if checker.at < bytes.count { throw checker.fail("text after the end of the JSON value") }
            return nil
        } catch {
            return error.text
        }
    }

    enum Value: Codable {
        case null
        case bool(Bool)
        case int(Int64)
        case double(Double)
        case string(String)
        case array([Value])
        case object([String: Value])

        init(from decoder: any Decoder) throws {
            let c = try decoder.singleValueContainer()
            if c.decodeNil() {
                self = .null
            } else if let b = try? c.decode(Bool.self) {
                self = .bool(b)
            } else if let i = try? c.decode(Int64.self) {
                self = .int(i)
            } else if let d = try? c.decode(Double.self) {
                self = .double(d)
            } else if let s = try? c.decode(String.self) {
                self = .string(s)
            } else if let a = try? c.decode([Value].self) {
                self = .array(a)
            } else {
                self = .object(try c.decode([String: Value].self))
            }
        }

        func encode(to encoder: any Encoder) throws {
            var c = encoder.singleValueContainer()
            switch self {
            case .null: try c.encodeNil()
            case .bool(let b): try c.encode(b)
            case .int(let i): try c.encode(i)
            case .double(let d): try c.encode(d)
            case .string(let s): try c.encode(s)
            case .array(let a): try c.encode(a)
            case .object(let o): try c.encode(o)
            }
        }

        var any: Any {
            switch self {
            case .null: JSONText.null
            case .bool(let b): b
            case .int(let i): i
            case .double(let d): d
            case .string(let s): s
            case .array(let a): a.map(\.any)
            case .object(let o): o.mapValues(\.any)
            }
        }

        init(_ any: Any) throws {
            switch any {
            case is Null: self = .null
            case let b as Bool: self = .bool(b)
            case let i as Int: self = .int(Int64(i))
            case let i as Int64: self = .int(i)
            case let d as Double: self = .double(d)
            case let s as String: self = .string(s)
            case let a as [Any]: self = .array(try a.map(Value.init))
            case let o as [String: Any]: self = .object(try o.mapValues(Value.init))
            default:
                throw EncodingError.invalidValue(
                    any,
                    EncodingError.Context(codingPath: [], debugDescription: "not a JSON value: \(type(of: any))")
                )
            }
        }
    }

    private struct SyntaxError: Error {
        var text: String
    }

    /// A recursive-descent reader of JSON's grammar that builds nothing.
    private struct SyntaxCheck {
        let bytes: [UInt8]
        let maxDepth: Int
        var at = 0

        func fail(_ what: String) -> SyntaxError { SyntaxError(text: "\(what) at byte \(at)") }

        var end: SyntaxError { SyntaxError(text: "the text ends inside a value (at byte \(at))") }

        mutating func space() {
            while at < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[at]) { at += 1 }
        }

        func peek() throws(SyntaxError) -> UInt8 {
            guard at < bytes.count else { throw end }
            return bytes[at]
        }

        mutating func value(depth: Int) throws(SyntaxError) {
            guard depth < maxDepth else { throw fail("nested deeper than \(maxDepth)") }
            switch try peek() {
            case UInt8(ascii: "{"): try container(close: UInt8(ascii: "}"), depth: depth)
            case UInt8(ascii: "["): try container(close: UInt8(ascii: "]"), depth: depth)
            case UInt8(ascii: "\""): try string()
            case UInt8(ascii: "t"): try literal("true")
            case UInt8(ascii: "f"): try literal("false")
            case UInt8(ascii: "n"): try literal("null")
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): try number()
            case let c: throw fail("unexpected \(Self.show(c))")
            }
        }

        /// An object (`close` is `}`: members `"key": value`) or an array (`]`), without a trailing comma.
        mutating func container(close: UInt8, depth: Int) throws(SyntaxError) {
            let isObject = close == UInt8(ascii: "}")
            at += 1
            space()
            if try peek() == close {
                at += 1
                return
            }
            while true {
                if isObject {
                    guard try peek() == UInt8(ascii: "\"") else { throw fail("expected a key in double quotes") }
                    try string()
                    space()
                    guard try peek() == UInt8(ascii: ":") else { throw fail("expected ':' after the key") }
                    at += 1
                    space()
                }
                try value(depth: depth + 1)
                space()
                let c = try peek()
                at += 1
                if c == close { return }
                guard c == UInt8(ascii: ",") else {
                    at -= 1
                    throw fail("expected ',' or '\(Character(Unicode.Scalar(close)))', found \(Self.show(c))")
                }
                space()
                if try peek() == close {
                    throw fail("a comma before the closing '\(Character(Unicode.Scalar(close)))'")
                }
            }
        }

        mutating func literal(_ word: String) throws(SyntaxError) {
            for b in word.utf8 {
                guard try peek() == b else { throw fail("unexpected \(Self.show(bytes[at])) (not \(word))") }
                at += 1
            }
        }

        mutating func number() throws(SyntaxError) {
            let start = at
            func digits(_ c: inout SyntaxCheck) -> Int {
                let from = c.at
                while c.at < c.bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c.bytes[c.at]) {
                    c.at += 1
                }
                return c.at - from
            }
            if bytes[at] == UInt8(ascii: "-") { at += 1 }
            let whole = at
            guard digits(&self) > 0 else { throw at < bytes.count ? fail("expected a digit") : end }
            if bytes[whole] == UInt8(ascii: "0"), at - whole > 1 {
                at = whole
                throw fail("a number with a leading zero")
            }
            if at < bytes.count, bytes[at] == UInt8(ascii: ".") {
                at += 1
                guard digits(&self) > 0 else { throw at < bytes.count ? fail("expected a digit after '.'") : end }
            }
            if at < bytes.count, bytes[at] == UInt8(ascii: "e") || bytes[at] == UInt8(ascii: "E") {
                at += 1
                if at < bytes.count, bytes[at] == UInt8(ascii: "+") || bytes[at] == UInt8(ascii: "-") { at += 1 }
                guard digits(&self) > 0 else { throw at < bytes.count ? fail("expected a digit in the exponent") : end }
            }
            let text = String(decoding: bytes[start..<at], as: UTF8.self)
            guard let d = Double(text), d.isFinite else {
                at = start
                throw fail("the number \(text) is out of range")
            }
        }

        mutating func string() throws(SyntaxError) {
            at += 1
            while true {
                let c = try peek()
                switch c {
                case UInt8(ascii: "\""):
                    at += 1
                    return
                case 0..<0x20:
                    throw fail("a raw control character 0x\(String(c, radix: 16)) in a string (escape it)")
                case UInt8(ascii: "\\"):
                    at += 1
                    let e = try peek()
                    switch e {
                    case UInt8(ascii: "u"):
                        let escapeAt = at - 1
                        at += 1
                        let unit = try hex4()
                        if (0xDC00...0xDFFF).contains(unit) {
                            at = escapeAt
                            throw fail("an unpaired surrogate \\u\(String(unit, radix: 16))")
                        }
                        if (0xD800...0xDBFF).contains(unit) {
                            let next = Array(bytes[min(at, bytes.count)..<min(at + 2, bytes.count)])
                            guard next == [UInt8(ascii: "\\"), UInt8(ascii: "u")] else {
                                at = escapeAt
                                throw fail("an unpaired surrogate \\u\(String(unit, radix: 16))")
                            }
                            at += 2
                            let low = try hex4()
                            guard (0xDC00...0xDFFF).contains(low) else {
                                at = escapeAt
                                throw fail("an unpaired surrogate \\u\(String(unit, radix: 16))")
                            }
                        }
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"),
                        UInt8(ascii: "f"), UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                        at += 1
                    default:
                        throw fail("an unknown escape \\\(Self.show(e, quoted: false))")
                    }
                default:
                    at += 1
                }
            }
        }

        mutating func hex4() throws(SyntaxError) -> UInt32 {
            var v: UInt32 = 0
            for _ in 0..<4 {
                let c = try peek()
                let d: UInt8
                switch c {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): d = c - UInt8(ascii: "0")
                case UInt8(ascii: "a")...UInt8(ascii: "f"): d = c - UInt8(ascii: "a") + 10
                case UInt8(ascii: "A")...UInt8(ascii: "F"): d = c - UInt8(ascii: "A") + 10
                default: throw fail("expected four hex digits after \\u")
                }
                v = v << 4 | UInt32(d)
                at += 1
            }
            return v
        }

        static func show(_ c: UInt8, quoted: Bool = true) -> String {
            let printable = c >= 0x20 && c < 0x7F
            if !printable { return "byte 0x\(String(c, radix: 16))" }
            let ch = String(Character(Unicode.Scalar(c)))
            return quoted ? "'\(ch)'" : ch
        }
    }
}
