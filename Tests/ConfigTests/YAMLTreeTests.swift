import Config
import ConfigText
import Foundation
import Testing

/// The config's YAML composer (libyaml's events into `Node`): text stays text, every node knows its line,
/// anchors resolve, and what libyaml refuses comes back with its line.
@Suite struct YAMLTree {
    @Test func scalarsStayTextAndKeepTheirLines() throws {
        let text = """
            # a comment
            server:
              listen: [127.0.0.1:5353, "[::1]:5353"]
              ttl: 030
              flag: yes
              empty:
            list:
              - a
              - { b: 1 }
            """
        let root = try #require(try Node.compose(text))
        guard case .mapping(let m) = root else {
            Issue.record("root is not a mapping")
            return
        }
        #expect(m.map { $0.key.string } == ["server", "list"])
        #expect(m.mark?.line == 2)
        guard case .mapping(let server) = m[0].value else {
            Issue.record("server is not a mapping")
            return
        }
        #expect(server.map { $0.key.string } == ["listen", "ttl", "flag", "empty"])
        #expect(server[1].value.string == "030")
        #expect(server[1].value.mark == Node.Mark(line: 4, column: 8))
        #expect(server[2].value.string == "yes")
        #expect(server[3].value.string == "")
        guard case .sequence(let listen) = server[0].value else {
            Issue.record("listen is not a list")
            return
        }
        #expect(listen.map(\.string) == ["127.0.0.1:5353", "[::1]:5353"])
        guard case .sequence(let list) = m[1].value, list.count == 2, case .mapping(let b) = list[1] else {
            Issue.record("list is not [a, {b: 1}]")
            return
        }
        #expect(b[0].value.string == "1")
        #expect(b.mark?.line == 9)
    }

    @Test func anchorsAndAliasesResolve() throws {
        let root = try #require(try Node.compose("a: &x {k: v}\nb: *x\nc: &s text\nd: *s\n"))
        guard case .mapping(let m) = root, case .mapping(let b) = m[1].value else {
            Issue.record("b is not the anchored mapping")
            return
        }
        #expect(b[0].key.string == "k" && b[0].value.string == "v")
        #expect(m[3].value.string == "text")
    }

    @Test func duplicateKeysAreKeptForTheReader() throws {
        let root = try #require(try Node.compose("a: 1\na: 2\n"))
        guard case .mapping(let m) = root else {
            Issue.record("not a mapping")
            return
        }
        #expect(m.map(\.value.string) == ["1", "2"])
    }

    @Test func noDocumentIsNil() throws {
        #expect(try Node.compose("") == nil)
        #expect(try Node.compose("# only a comment\n\n") == nil)
    }

    @Test(arguments: [
        ("a: *nope\n", YAMLError.Kind.structure, 1, "alias *nope names no anchor before it"),
        ("a: 1\n---\nb: 2\n", .structure, 2, "a second document starts here"),
        ("a: b: c\n", .syntax, 1, "mapping values are not allowed in this context"),
        ("a:\n  - x\n y: [1\n", .syntax, 3, "did not find expected key"),
        ("key: \"unterminated\n", .syntax, 2, "found unexpected end of stream"),
    ])
    func refusedWithItsLine(_ text: String, _ kind: YAMLError.Kind, _ line: Int, _ says: String) {
        do {
            _ = try Node.compose(text)
            Issue.record("composed: \(text)")
        } catch {
            #expect(error.kind == kind)
            #expect(error.line == line, "\(error)")
            #expect(error.problem.contains(says), "\(error)")
        }
    }

    @Test func theConfigSaysWhereTheSyntaxIsWrong() {
        switch ConfigLoader.parse("server:\n  listen: [a\n", file: "t.yaml", baseDirectory: "/") {
        case .success: Issue.record("a broken flow list was accepted")
        case .failure(let p):
            #expect(p.problems.count == 1)
            #expect(p.description.hasPrefix("t.yaml:3: YAML syntax: "), "\(p)")
        }
    }

    /// Nesting costs the composer heap, not stack: a deep list neither crashes nor is cut.
    @Test func deepNestingComposes() throws {
        let depth = 20_000
        let text = String(repeating: "[", count: depth) + "x" + String(repeating: "]", count: depth)
        var node = try #require(try Node.compose(text))
        var seen = 0
        while case .sequence(let s) = node, seen <= depth {
            node = s[0]
            seen += 1
        }
        #expect(seen == depth && node.string == "x")
    }

    /// libyaml's reader refuses control characters; the error has no line (the reader counts bytes).
    @Test func aControlCharacterIsRefused() {
        #expect(throws: YAMLError.self) { _ = try Node.compose("a: b\u{1}\n") }
    }
}
