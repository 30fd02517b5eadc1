import DNSWire
import Foundation
import Testing

@testable import Zones

/// Master-file syntax the reader accepts: each case's records after the standard head (SOA and NS
/// dropped), in presentation form.
struct SyntaxCase: Sendable, CustomTestStringConvertible {
    var name: String
    var body: String
    var expected: [String]
    var testDescription: String { name }
}

let syntaxCases: [SyntaxCase] = [
    SyntaxCase(
        name: "relative and absolute names",
        body: """
            www A 192.0.2.1
            www2.t.example. A 192.0.2.2
            @ MX 10 mail
            @ MX 20 mail.t.example.
            x CNAME @
            """,
        expected: [
            "www.t.example. 300 IN A 192.0.2.1",
            "www2.t.example. 300 IN A 192.0.2.2",
            "t.example. 300 IN MX 10 mail.t.example.",
            "t.example. 300 IN MX 20 mail.t.example.",
            "x.t.example. 300 IN CNAME t.example.",
        ]
    ),
    SyntaxCase(
        name: "an owner written again, under another $ORIGIN",
        body: """
            www A 192.0.2.1
            www AAAA 2001:db8::1
            $ORIGIN sub.t.example.
            www A 192.0.2.2
            WWW TXT "case kept"
            """,
        expected: [
            "www.t.example. 300 IN A 192.0.2.1",
            "www.t.example. 300 IN AAAA 2001:db8::1",
            "www.sub.t.example. 300 IN A 192.0.2.2",
            "WWW.sub.t.example. 300 IN TXT \"case kept\"",
        ]
    ),
    SyntaxCase(
        name: "blank owners",
        body: """
            dual A 192.0.2.30
                 AAAA 2001:db8::30
            ; a comment line does not end the owner
            \t TXT "tab-indented"
            """,
        expected: [
            "dual.t.example. 300 IN A 192.0.2.30",
            "dual.t.example. 300 IN AAAA 2001:db8::30",
            "dual.t.example. 300 IN TXT \"tab-indented\"",
        ]
    ),
    SyntaxCase(
        name: "TTL and class in either order, units",
        body: """
            a 60 IN A 192.0.2.1
            b IN 60 A 192.0.2.2
            c 1h30m A 192.0.2.3
            d 1D in A 192.0.2.4
            e 2w A 192.0.2.5
            """,
        expected: [
            "a.t.example. 60 IN A 192.0.2.1",
            "b.t.example. 60 IN A 192.0.2.2",
            "c.t.example. 5400 IN A 192.0.2.3",
            "d.t.example. 86400 IN A 192.0.2.4",
            "e.t.example. 1209600 IN A 192.0.2.5",
        ]
    ),
    SyntaxCase(
        name: "$TTL changes",
        body: """
            a A 192.0.2.1
            $TTL 1h
            b A 192.0.2.2
            $TTL 45 ; comment after a directive
            c A 192.0.2.3
            """,
        expected: [
            "a.t.example. 300 IN A 192.0.2.1",
            "b.t.example. 3600 IN A 192.0.2.2",
            "c.t.example. 45 IN A 192.0.2.3",
        ]
    ),
    SyntaxCase(
        name: "$ORIGIN changes, relative $ORIGIN",
        body: """
            $ORIGIN a.t.example.
            www A 192.0.2.1
            $ORIGIN b
            www CNAME @
            $ORIGIN t.example.
            www A 192.0.2.3
            """,
        expected: [
            "www.a.t.example. 300 IN A 192.0.2.1",
            "www.b.a.t.example. 300 IN CNAME b.a.t.example.",
            "www.t.example. 300 IN A 192.0.2.3",
        ]
    ),
    SyntaxCase(
        name: "parentheses over lines with comments",
        body: """
            txt TXT ( "one" ; first
                      "two" ) ; second
            mx MX (
                10      ; preference
                mail )  ; exchange
            srv SRV ( 1 2
              3 target.example. )
            """,
        expected: [
            "txt.t.example. 300 IN TXT \"one\" \"two\"",
            "mx.t.example. 300 IN MX 10 mail.t.example.",
            "srv.t.example. 300 IN SRV 1 2 3 target.example.",
        ]
    ),
    SyntaxCase(
        name: "quotes holding ; ( ) and escapes",
        body: #"""
            a TXT "semi; colon" "paren ( inside )" "say \"hi\""
            b TXT "back\\slash" "\065\066C" "tab\009x"
            c TXT unquoted words
            d TXT ""
            e TXT "café"
            """#,
        expected: [
            #"a.t.example. 300 IN TXT "semi; colon" "paren ( inside )" "say \"hi\"""#,
            #"b.t.example. 300 IN TXT "back\\slash" "ABC" "tab\009x""#,
            #"c.t.example. 300 IN TXT "unquoted" "words""#,
            #"d.t.example. 300 IN TXT """#,
            #"e.t.example. 300 IN TXT "caf\195\169""#,
        ]
    ),
    SyntaxCase(
        name: "escapes in names",
        body: #"""
            a\.b A 192.0.2.1
            \065bc A 192.0.2.2
            sp\ ace A 192.0.2.3
            semi\;colon A 192.0.2.4
            """#,
        expected: [
            #"a\.b.t.example. 300 IN A 192.0.2.1"#,
            #"Abc.t.example. 300 IN A 192.0.2.2"#,
            #"sp\032ace.t.example. 300 IN A 192.0.2.3"#,
            #"semi\;colon.t.example. 300 IN A 192.0.2.4"#,
        ]
    ),
    SyntaxCase(
        name: "unknown types (RFC 3597)",
        body: ##"""
            u1 TYPE65280 \# 4 0A000001
            u2 TYPE65281 \# 0
            u3 TYPE1 \# 4 C0000201
            u4 TYPE65282 \# 6 ( 0102 0304
                 0506 )
            u5 A \# 4 C0000202
            """##,
        expected: [
            ##"u1.t.example. 300 IN TYPE65280 \# 4 0a000001"##,
            ##"u2.t.example. 300 IN TYPE65281 \# 0"##,
            "u3.t.example. 300 IN A 192.0.2.1",
            ##"u4.t.example. 300 IN TYPE65282 \# 6 010203040506"##,
            "u5.t.example. 300 IN A 192.0.2.2",
        ]
    ),
    SyntaxCase(
        name: "the common types",
        body: """
            a A 192.0.2.1
            aaaa AAAA 2001:DB8::1
            ns NS ns.example.net.
            ptr PTR host
            hinfo HINFO "PC" "Linux"
            caa CAA 128 iodef "mailto:security@t.example"
            sshfp SSHFP 1 1 0123456789abcdef0123456789abcdef01234567
            ds DS 12345 8 2 0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF
            dname DNAME other.example.
            naptr NAPTR 100 10 "u" "E2U+sip" "!^.*$!sip:info@t.example!" .
            """,
        expected: [
            "a.t.example. 300 IN A 192.0.2.1",
            "aaaa.t.example. 300 IN AAAA 2001:db8::1",
            "ns.t.example. 300 IN NS ns.example.net.",
            "ptr.t.example. 300 IN PTR host.t.example.",
            "hinfo.t.example. 300 IN HINFO \"PC\" \"Linux\"",
            "caa.t.example. 300 IN CAA 128 iodef \"mailto:security@t.example\"",
            "sshfp.t.example. 300 IN SSHFP 1 1 0123456789abcdef0123456789abcdef01234567",
            "ds.t.example. 300 IN DS 12345 8 2 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "dname.t.example. 300 IN DNAME other.example.",
            "naptr.t.example. 300 IN NAPTR 100 10 \"u\" \"E2U+sip\" \"!^.*$!sip:info@t.example!\" .",
        ]
    ),
    SyntaxCase(
        name: "CRLF line ends and a last line without newline",
        body: "a A 192.0.2.1\r\nb A 192.0.2.2 ; done",
        expected: ["a.t.example. 300 IN A 192.0.2.1", "b.t.example. 300 IN A 192.0.2.2"]
    ),
]

@Suite struct SyntaxTests {
    @Test(arguments: syntaxCases)
    func reads(_ c: SyntaxCase) throws {
        let z = try loaded(head + c.body + "\n")
        #expect(z.warnings.isEmpty)
        #expect(Array(text(z).dropFirst(2)) == c.expected)
    }

    @Test func recordsKeepTheirLines() throws {
        let z = try loaded(head + "a A 192.0.2.1\n\n; comment\nb TXT (\n \"x\"\n )\n  A 192.0.2.2\n")
        #expect(z.records.map(\.line) == [2, 3, 5, 8, 11])
        #expect(z.records.allSatisfy { $0.file.hasSuffix("/z.zone") })
    }

    @Test func includeWithOriginIsScoped() throws {
        let files = [
            "z.zone": head
                + "$INCLUDE sub/inc.txt other.t.example.\nafter A 192.0.2.9\n  TXT \"same owner as after\"\n",
            // Relative to the including file's directory; its $ORIGIN/$TTL changes stay inside it.
            "sub/inc.txt": "host A 192.0.2.5\n$TTL 60\n$ORIGIN x.t.example.\ny A 192.0.2.6\n$INCLUDE deeper.inc\n",
            "sub/deeper.inc": "; relative to sub/, origin and $TTL inherited\n\ndeep A 192.0.2.7\n",
        ]
        let (r, dir) = try loadZone(files)
        let z = try r.get()
        #expect(
            text(z).dropFirst(2) == [
                "host.other.t.example. 300 IN A 192.0.2.5",
                "y.x.t.example. 60 IN A 192.0.2.6",
                "deep.x.t.example. 60 IN A 192.0.2.7",
                "after.t.example. 300 IN A 192.0.2.9",
                "after.t.example. 300 IN TXT \"same owner as after\"",
            ]
        )
        let places = z.records.dropFirst(2).map {
            "\($0.file.replacingOccurrences(of: dir.url.path + "/", with: "")):\($0.line)"
        }
        #expect(places == ["sub/inc.txt:1", "sub/inc.txt:4", "sub/deeper.inc:3", "z.zone:6", "z.zone:7"])
    }

    @Test func includeOfTheSameFileTwiceIsNotACycle() throws {
        let (r, _) = try loadZone([
            "z.zone": head + "$INCLUDE a.inc one.t.example.\n$INCLUDE a.inc two.t.example.\n",
            "a.inc": "www A 192.0.2.1\n",
        ])
        let z = try r.get()
        #expect(
            text(z).dropFirst(2) == [
                "www.one.t.example. 300 IN A 192.0.2.1",
                "www.two.t.example. 300 IN A 192.0.2.1",
            ]
        )
    }

    @Test func loadsFromMemory() throws {
        let z = try ZoneLoader.load(origin: testOrigin, text: head + "www A 192.0.2.1\n", file: "mem.zone").get()
        #expect(z.file == "mem.zone")
        #expect(z.records.last?.line == 5)
        let bad = ZoneLoader.load(origin: testOrigin, text: "www A 192.0.2.1\n", file: "mem.zone")
        #expect(
            bad.failure?.description == """
                mem.zone:1: no TTL given and no $TTL before this record: 'www A 192.0.2.1'
                mem.zone: no SOA record at the zone apex t.example.
                mem.zone: no NS records at the zone apex t.example.
                """
        )
    }

    @Test(arguments: [
        ("300", UInt64?(300)), ("0", 0), ("1h30m", 5400), ("1H", 3600), ("1w2d", 777_600), ("1h30", 3630),
        ("2147483647", 2_147_483_647), ("99999999999", 4_294_967_296), ("h", nil), ("1x", nil), ("", nil),
        ("-1", nil), ("1hh", nil),
    ])
    func ttlText(_ s: String, _ v: UInt64?) {
        #expect(TTLText.parse(s) == v)
    }

    /// The lexer's one-bit-per-byte table of plain bytes is printable ASCII but the bytes that end a token or
    /// start an escape.
    @Test func plainBytesArePrintableASCIIButDelimiters() {
        for c in 0...255 {
            let plain = c >= 0x21 && c <= 0x7E && !";()\"\\".utf8.contains(UInt8(c))
            #expect(MasterFileLexer.isPlain(UInt8(c)) == plain, "\(c)")
        }
    }
}
