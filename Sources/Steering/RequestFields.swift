import ConfigText
import FoundationEssentials

/// A control-API request body read strictly: one JSON object in UTF-8, each field at most once, only the fields
/// the endpoint knows, each of the type it expects. Every refusal names the field and what is allowed.
/// Invariant: `values` holds exactly the body's top-level fields, all of them in `allowed`.
struct RequestFields {
    /// A field's value; containers are not looked into (no field takes one).
    enum Value {
        case string(String)
        case number(String)
        case bool(Bool)
        case null, array, object

        /// A value as `JSONText` reads it.
        init(_ any: Any) {
            switch any {
            case let b as Bool: self = .bool(b)
            case let s as String: self = .string(s)
            case let i as Int64: self = .number("\(i)")
            case let d as Double: self = .number(d == d.rounded() && abs(d) < 1e15 ? "\(Int64(d))" : "\(d)")
            case is [Any]: self = .array
            case is [String: Any]: self = .object
            default: self = .null
            }
        }

        /// What it is, for a message: `a number (600)`, `an object`.
        var kind: String {
            switch self {
            case .string(let s): return "a string ('\(s)')"
            case .number(let n): return "a number (\(n))"
            case .bool(let b): return "\(b)"
            case .null: return "null"
            case .array: return "an array"
            case .object: return "an object"
            }
        }
    }

    let values: [String: Value]

    /// Reads `body`; `allowed` lists the fields in the order messages name them, `shape` says what a body looks
    /// like (for the message when it is not an object at all).
    init(_ body: [UInt8], allowed: [String], shape: String) throws(OverrideError) {
        let allowedText = allowed.joined(separator: ", ")
        guard body.contains(where: { !Self.isSpace($0) }) else {
            throw OverrideError("body is empty: give \(shape)")
        }
        // JSON text has no raw control characters (strings escape them); refusing them also keeps out UTF-16/32.
        if let i = body.firstIndex(where: { $0 < 0x20 && !Self.isSpace($0) }) {
            throw OverrideError("body is not JSON: control character 0x\(String(body[i], radix: 16)) at byte \(i)")
        }
        guard let first = body.first(where: { !Self.isSpace($0) }), first == UInt8(ascii: "{") else {
            throw OverrideError("body is not a JSON object: give \(shape)")
        }
        // Says what is wrong and where (the decoder below says only that the text is not JSON, and takes a
        // trailing comma, which JSON (RFC 8259) does not).
        if let why = JSONText.syntaxProblem(body) { throw OverrideError("body is not valid JSON: \(why)") }
        let decoded: [String: Any]
        do {
            guard let object = try JSONText.parse(body) as? [String: Any] else {
                throw OverrideError("body is not a JSON object: give \(shape)")
            }
            decoded = object
        } catch let e as OverrideError {
            throw e
        } catch {
            throw OverrideError("body is not valid JSON: \(error)")
        }
        let keys = Self.topLevelKeys(body)
        var seen = Set<String>()
        for key in keys {
            guard allowed.contains(key) else {
                throw OverrideError("unknown field '\(key)' (allowed: \(allowedText))")
            }
            guard seen.insert(key).inserted else { throw OverrideError("field '\(key)' is given twice") }
        }
        values = decoded.mapValues(Value.init)
    }

    /// The field's text; nil when it is absent or null.
    func string(_ key: String, example: String) throws(OverrideError) -> String? {
        switch values[key] {
        case nil, .null?: return nil
        case .string(let s)?: return s
        case let v?: throw OverrideError("field '\(key)' must be a string (e.g. \(example)), not \(v.kind)")
        }
    }

    func required(_ key: String, example: String) throws(OverrideError) -> String {
        guard let s = try string(key, example: example) else {
            throw OverrideError("missing field '\(key)' (e.g. \(example))")
        }
        return s
    }

    static func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D }

    /// The keys of the top-level object of valid JSON text, in order, repeats kept (the decoder keeps only one).
    static func topLevelKeys(_ body: [UInt8]) -> [String] {
        var keys: [String] = []
        var depth = 0
        var expectKey = false
        var i = 0
        while i < body.count {
            let b = body[i]
            if b == UInt8(ascii: "\"") {
                let start = i
                i += 1
                while i < body.count && body[i] != UInt8(ascii: "\"") {
                    if body[i] == UInt8(ascii: "\\") { i += 1 }
                    i += 1
                }
                if depth == 1 && expectKey {
                    let raw = Data(body[start...min(i, body.count - 1)])
                    keys.append(
                        (try? JSONDecoder().decode(String.self, from: raw)) ?? String(decoding: raw, as: UTF8.self)
                    )
                    expectKey = false
                }
            } else if b == UInt8(ascii: "{") || b == UInt8(ascii: "[") {
                depth += 1
                if depth == 1 { expectKey = true }
            } else if b == UInt8(ascii: "}") || b == UInt8(ascii: "]") {
                depth -= 1
            } else if b == UInt8(ascii: ",") && depth == 1 {
                expectKey = true
            }
            i += 1
        }
        return keys
    }
}
