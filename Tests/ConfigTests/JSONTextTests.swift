import ConfigText
import Foundation
import Testing

/// Untyped JSON (etcd's replies, the control API's errors) read and written without JSONSerialization.
@Suite struct JSONTextTests {
    @Test func readsWhatJSONSerializationReads() throws {
        let text =
            #"{"a": "x/y", "n": 12, "big": 9007199254740993, "f": 1.5, "t": true, "z": null, "l": [1, "two", {"k": false}]}"#
        let o = try #require(JSONText.object(Array(text.utf8)))
        #expect(o["a"] as? String == "x/y")
        #expect(o["n"] as? Int64 == 12)
        #expect(o["big"] as? Int64 == 9_007_199_254_740_993)
        #expect(o["f"] as? Double == 1.5)
        #expect(o["t"] as? Bool == true)
        #expect(o["z"] is JSONText.Null)
        let l = try #require(o["l"] as? [Any])
        #expect(l.count == 3 && l[1] as? String == "two" && (l[2] as? [String: Any])?["k"] as? Bool == false)
    }

    @Test func writesSortedWithoutEscapedSlashes() throws {
        let bytes = try JSONText.data(["b": "x/y", "a": Int64(1), "c": [true, "s"]] as [String: Any])
        #expect(String(decoding: bytes, as: UTF8.self) == #"{"a":1,"b":"x/y","c":[true,"s"]}"#)
        // What it writes, it reads back.
        let back = try #require(JSONText.object(bytes))
        #expect(back["b"] as? String == "x/y" && back["a"] as? Int64 == 1)
    }

    @Test func refusesWhatIsNotJSON() {
        #expect(throws: (any Error).self) { _ = try JSONText.data(["d": Date()] as [String: Any]) }
        #expect(JSONText.object(Array("[1]".utf8)) == nil)
        #expect(JSONText.object(Array("{".utf8)) == nil)
    }

    @Test(arguments: [
        #"{}"#, #"[]"#, #" {"a": [1, -2.5e+3, 0, 0.25, true, false, null, "x\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00"]} "#,
        #""text""#, "12", #"{"a": {"b": {"c": []}}}"#,
    ])
    func acceptsJSON(_ text: String) throws {
        #expect(JSONText.syntaxProblem(Array(text.utf8)) == nil)
        // Foundation's parser agrees.
        _ = try JSONSerialization.jsonObject(with: Data(text.utf8), options: .fragmentsAllowed)
    }

    @Test(arguments: [
        (#"{"a": "#, "the text ends inside a value (at byte 6)"),
        (#"{"a": 1e999}"#, "the number 1e999 is out of range at byte 6"),
        (#"{"a": 1,}"#, "a comma before the closing '}' at byte 8"),
        (#"[1, 2,]"#, "a comma before the closing ']' at byte 6"),
        (#"{"a": "\ud800"}"#, "an unpaired surrogate \\ud800 at byte 7"),
        (#"{"a": "\udc00"}"#, "an unpaired surrogate \\udc00 at byte 7"),
        (#"{"a": 01}"#, "a number with a leading zero at byte 6"),
        (#"{"a": tru}"#, "unexpected '}' (not true) at byte 9"),
        (#"{a: 1}"#, "expected a key in double quotes at byte 1"),
        (#"{"a" 1}"#, "expected ':' after the key at byte 5"),
        (#"{"a": 1} x"#, "text after the end of the JSON value at byte 9"),
        ("{\"a\": \"x\ny\"}", "a raw control character 0xa in a string (escape it) at byte 8"),
        (#"{"a": "\x"}"#, "an unknown escape \\x at byte 8"),
        (#"{"a": 1 "b": 2}"#, "expected ',' or '}', found '\"' at byte 8"),
        (String(repeating: "[", count: 300) + String(repeating: "]", count: 300), "nested deeper than 256 at byte 256"),
    ])
    func saysWhatIsWrongAndWhere(_ text: String, _ says: String) {
        #expect(JSONText.syntaxProblem(Array(text.utf8)) == says)
    }
}
