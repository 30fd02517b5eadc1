import DNSWire
import Foundation
import Testing

@testable import Zones

/// A zone that must fail, and exactly the problems it must report (temp dir stripped from paths).
struct BadZone: Sendable, CustomTestStringConvertible {
    var name: String
    var files: [String: String]
    var expected: [String]
    var main = "z.zone"
    var maxBytes = 1 << 20
    var testDescription: String { name }
}

/// `n` A records at `owner`, each its own address in 10.0.0.0/16.
func aRecords(_ n: Int, owner: String) -> String {
    (0..<n).map { "\(owner) A 10.0.\($0 >> 8).\($0 & 255)\n" }.joined()
}

let badZones: [BadZone] = [
    // Files
    BadZone(name: "missing file", files: [:], expected: ["none.zone: no such file"], main: "none.zone"),
    BadZone(name: "directory", files: ["d/x": ""], expected: ["d: is a directory"], main: "d"),
    BadZone(
        name: "too big",
        files: ["z.zone": head + "www A 192.0.2.1\n"],
        expected: ["z.zone: too big (\(head.utf8.count + 16) bytes; the limit is 20 for the zone and its includes)"],
        maxBytes: 20
    ),
    BadZone(
        name: "include too big",
        files: ["z.zone": head + "$INCLUDE i.inc\n", "i.inc": String(repeating: ";", count: 200)],
        expected: ["z.zone:5: $INCLUDE i.inc: too big (200 bytes; the limit is 250 for the zone and its includes)"],
        maxBytes: 250
    ),
    // Syntax, reported with ldns's status text and the record as written
    BadZone(
        name: "bad rdata",
        files: ["z.zone": head + "www A 1.2.3\n"],
        expected: ["z.zone:5: Syntax error, could not parse the RR's rdata: 'www A 1.2.3'"]
    ),
    BadZone(
        name: "superfluous text",
        files: ["z.zone": head + "www A 192.0.2.1 extra\n"],
        expected: ["z.zone:5: Syntax error, superfluous text present: 'www A 192.0.2.1 extra'"]
    ),
    BadZone(
        name: "missing rdata field",
        files: ["z.zone": head + "mx MX 10\n"],
        expected: ["z.zone:5: Syntax error, value expected: 'mx MX 10'"]
    ),
    BadZone(
        name: "no type",
        files: ["z.zone": head + "www 300\n"],
        expected: ["z.zone:5: record has no type: 'www 300'"]
    ),
    BadZone(
        name: "unknown type",
        files: ["z.zone": head + "www FOO 1\n"],
        expected: ["z.zone:5: unknown type 'FOO': 'www FOO 1'"]
    ),
    BadZone(
        name: "meta type",
        files: ["z.zone": head + "www ANY \\# 0\n"],
        expected: ["z.zone:5: ANY is not a record type that can be in a zone: 'www ANY \\# 0'"]
    ),
    BadZone(
        name: "bad owner",
        files: ["z.zone": head + "a..b A 192.0.2.1\n"],
        expected: ["z.zone:5: bad owner name 'a..b': empty label"]
    ),
    BadZone(
        name: "unclosed parenthesis",
        files: ["z.zone": head + "www A (\n 192.0.2.1\n"],
        expected: ["z.zone:5: '(' not closed before the end of the file"]
    ),
    BadZone(
        name: "stray parenthesis",
        files: ["z.zone": head + "www A 192.0.2.1 )\n"],
        expected: ["z.zone:5: ')' without a matching '('"]
    ),
    BadZone(
        name: "unclosed quote",
        files: ["z.zone": head + "txt TXT \"abc\n"],
        expected: ["z.zone:5: quoted string not closed on its line"]
    ),
    BadZone(
        name: "blank owner first",
        files: ["z.zone": "$TTL 300\n  A 192.0.2.1\n@ SOA ns1 host 1 3600 600 86400 30\n@ NS ns1\n"],
        expected: ["z.zone:2: line starts with a blank but there is no previous owner name: '  A 192.0.2.1'"]
    ),
    // Directives
    BadZone(
        name: "unknown directive",
        files: ["z.zone": head + "$GENERATE 1-3 a$ A 192.0.2.$\n"],
        expected: ["z.zone:5: unknown directive $GENERATE (supported: $ORIGIN, $TTL, $INCLUDE)"]
    ),
    BadZone(
        name: "indented directive",
        files: ["z.zone": head + "  $TTL 60\n"],
        expected: ["z.zone:5: directive $TTL must start at the beginning of the line"]
    ),
    BadZone(
        name: "bad $TTL",
        files: ["z.zone": "$TTL forever\n" + head],
        expected: ["z.zone:1: $TTL: 'forever' is not a TTL"]
    ),
    BadZone(
        name: "$TTL too big",
        files: ["z.zone": "$TTL 3000000000\n" + head],
        expected: ["z.zone:1: $TTL 3000000000 is above 2147483647 (RFC 2181 §8)"]
    ),
    BadZone(
        name: "bad $ORIGIN",
        files: ["z.zone": head + "$ORIGIN a..b\n"],
        expected: ["z.zone:5: $ORIGIN: bad name 'a..b': empty label"]
    ),
    BadZone(
        name: "include missing",
        files: ["z.zone": head + "$INCLUDE nope.inc\n"],
        expected: ["z.zone:5: $INCLUDE nope.inc: no such file"]
    ),
    BadZone(
        name: "include cycle",
        files: ["z.zone": head + "$INCLUDE a.inc\n", "a.inc": "a A 192.0.2.1\n$INCLUDE z.zone\n"],
        expected: ["a.inc:2: $INCLUDE z.zone: include cycle (the file is already being read)"]
    ),
    BadZone(
        name: "include itself",
        files: ["z.zone": head + "$INCLUDE a.inc\n", "a.inc": "$INCLUDE a.inc\n"],
        expected: ["a.inc:1: $INCLUDE a.inc: include cycle (the file is already being read)"]
    ),
    BadZone(
        name: "include depth",
        files: Dictionary(uniqueKeysWithValues: (1...9).map { ("i\($0).inc", "$INCLUDE i\($0 + 1).inc\n") })
            .merging(["z.zone": head + "$INCLUDE i1.inc\n", "i10.inc": ""]) { a, _ in a },
        expected: ["i8.inc:1: $INCLUDE i9.inc: includes nested more than 8 deep"]
    ),
    // Zone structure
    BadZone(
        name: "no SOA",
        files: ["z.zone": "$TTL 300\n@ NS ns1\nns1 A 192.0.2.1\n"],
        expected: ["z.zone: no SOA record at the zone apex t.example."]
    ),
    BadZone(
        name: "two SOAs",
        files: ["z.zone": head + "@ SOA ns2 host 2 3600 600 86400 30\n"],
        expected: ["z.zone:5: more than one SOA at t.example. (the first is on line 2)"]
    ),
    BadZone(
        name: "SOA below the apex",
        files: ["z.zone": head + "sub SOA ns1 host 1 3600 600 86400 30\n"],
        expected: ["z.zone:5: SOA at sub.t.example. is not at the zone apex t.example."]
    ),
    BadZone(
        name: "no apex NS",
        files: ["z.zone": "$TTL 300\n@ SOA ns1 host 1 3600 600 86400 30\nsub NS ns1\n"],
        expected: ["z.zone: no NS records at the zone apex t.example."]
    ),
    BadZone(
        name: "CNAME beside A",
        files: ["z.zone": head + "www A 192.0.2.1\nWWW CNAME other\nwww MX 10 mail\n"],
        expected: ["z.zone:6: CNAME at WWW.t.example. beside other data (A, MX)"]
    ),
    BadZone(
        name: "CNAME at the apex",
        files: ["z.zone": head + "@ CNAME other\n"],
        expected: ["z.zone:5: CNAME at t.example. beside other data (SOA, NS)"]
    ),
    BadZone(
        name: "two CNAMEs",
        files: ["z.zone": head + "a CNAME b\na CNAME c\n"],
        expected: ["z.zone:6: more than one CNAME at a.t.example. (the first is on line 5)"]
    ),
    // DNAME (RFC 6672 §2.3, §2.4)
    BadZone(
        name: "data below a DNAME",
        files: ["z.zone": head + "old DNAME new.example.\nwww.old A 192.0.2.1\na.b.old TXT \"x\"\nold A 192.0.2.2\n"],
        expected: [
            "z.zone:6: A at www.old.t.example. is below the DNAME at old.t.example. (line 5) and would never be answered (RFC 6672 §2.3)",
            "z.zone:7: TXT at a.b.old.t.example. is below the DNAME at old.t.example. (line 5) and would never be answered (RFC 6672 §2.3)",
        ]
    ),
    BadZone(
        name: "two DNAMEs",
        files: ["z.zone": head + "old DNAME a.example.\nold DNAME b.example.\n"],
        expected: ["z.zone:6: more than one DNAME at old.t.example. (the first is on line 5)"]
    ),
    BadZone(
        name: "DNAME beside CNAME",
        files: ["z.zone": head + "old DNAME a.example.\nold CNAME b.example.\n"],
        expected: ["z.zone:6: CNAME at old.t.example. beside other data (DNAME)"]
    ),
    // An RRset no DNS message can hold (65,535 bytes): reported at its first record, duplicates merged first
    BadZone(
        name: "RRset too large for a message",
        files: ["z.zone": head + "x A 192.0.2.1\n" + aRecords(4095, owner: "big") + "big A 10.0.0.1\n"],
        expected: [
            "z.zone:6: the A RRset at big.t.example. has 4095 records and needs at least 65551 bytes in a reply, "
                + "more than the 65535 a DNS message can hold; split it over several names"
        ]
    ),
    // Signed zones: refused until gtmd serves DNSSEC (one error per DNSSEC type, at its first record)
    BadZone(
        name: "signed zone",
        files: [
            "z.zone": head + """
                @ DNSKEY 257 3 13 mdsswUyr3DPW132mOi8V9xESWE8jTo0dxCjjnopKl+GqJxpVXckHAeF+KkxLbxILfDLUT0rAK9iUzy1L53eKGQ==
                @ RRSIG SOA 13 2 300 20300101000000 20200101000000 12345 t.example. AAAA
                @ RRSIG NS 13 2 300 20300101000000 20200101000000 12345 t.example. AAAA
                @ NSEC www.t.example. SOA NS RRSIG NSEC DNSKEY
                @ NSEC3PARAM 1 0 0 -
                x NSEC3 1 0 0 - 2T7B4G4VSA5SMI47K61MV5BV1A22BOJR A RRSIG

                """
        ],
        expected: [
            "z.zone:5: DNSKEY at t.example.: the zone is already DNSSEC-signed, and gtmd signs zones itself (at publish, so failover answers are signed too); load the unsigned zone and give it a dnssec: section in the config",
            "z.zone:6: RRSIG at t.example.: the zone is already DNSSEC-signed, and gtmd signs zones itself (at publish, so failover answers are signed too); load the unsigned zone and give it a dnssec: section in the config",
            "z.zone:8: NSEC at t.example.: the zone is already DNSSEC-signed, and gtmd signs zones itself (at publish, so failover answers are signed too); load the unsigned zone and give it a dnssec: section in the config",
            "z.zone:9: NSEC3PARAM at t.example.: the zone is already DNSSEC-signed, and gtmd signs zones itself (at publish, so failover answers are signed too); load the unsigned zone and give it a dnssec: section in the config",
            "z.zone:10: NSEC3 at x.t.example.: the zone is already DNSSEC-signed, and gtmd signs zones itself (at publish, so failover answers are signed too); load the unsigned zone and give it a dnssec: section in the config",
        ]
    ),
    BadZone(
        name: "outside the zone",
        files: ["z.zone": head + "www.other.example. A 192.0.2.1\n"],
        expected: ["z.zone:5: www.other.example. is outside the zone t.example.: 'www.other.example. A 192.0.2.1'"]
    ),
    BadZone(
        name: "outside via $ORIGIN",
        files: ["z.zone": head + "$ORIGIN example.\nwww A 192.0.2.1\n"],
        expected: ["z.zone:6: www.example. is outside the zone t.example.: 'www A 192.0.2.1'"]
    ),
    BadZone(
        name: "TTL too big",
        files: ["z.zone": head + "www 2147483648 A 192.0.2.1\n"],
        expected: ["z.zone:5: TTL 2147483648 is above 2147483647 (RFC 2181 §8): 'www 2147483648 A 192.0.2.1'"]
    ),
    BadZone(
        name: "bad TTL",
        files: ["z.zone": head + "www 5x A 192.0.2.1\n"],
        expected: ["z.zone:5: bad TTL '5x': 'www 5x A 192.0.2.1'"]
    ),
    BadZone(
        name: "class CH",
        files: ["z.zone": head + "www CH A 192.0.2.1\n"],
        expected: ["z.zone:5: class CH is not supported (only IN): 'www CH A 192.0.2.1'"]
    ),
    BadZone(
        name: "class after TTL",
        files: ["z.zone": head + "www 60 hs A 192.0.2.1\n"],
        expected: ["z.zone:5: class HS is not supported (only IN): 'www 60 hs A 192.0.2.1'"]
    ),
    BadZone(
        name: "no TTL anywhere",
        files: ["z.zone": "www A 192.0.2.1\n" + head],
        expected: ["z.zone:1: no TTL given and no $TTL before this record: 'www A 192.0.2.1'"]
    ),
    // Problems in an include are reported in the include, and warnings ride along with errors
    BadZone(
        name: "errors in include",
        files: [
            "z.zone": head + "$INCLUDE sub/i.inc\nx A 192.0.2.1\nx CNAME y\n",
            "sub/i.inc": "\nbad A 300.1.1.1\nw 60 A 192.0.2.1\nw 30 A 192.0.2.2\n",
        ],
        expected: [
            "z.zone:7: CNAME at x.t.example. beside other data (A)",
            "sub/i.inc:2: Syntax error, could not parse the RR's rdata: 'bad A 300.1.1.1'",
            "sub/i.inc:4: warning: TTL 30 differs from TTL 60 of the A record at w.t.example. on line 3 "
                + "(RFC 2181 §5.2); using 30 for all of them",
        ]
    ),
]

@Suite struct ValidationTests {
    @Test(arguments: badZones)
    func reportsProblems(_ c: BadZone) throws {
        let (r, dir) = try loadZone(c.files, maxBytes: c.maxBytes, main: c.main)
        guard case .failure(let p) = r else {
            Issue.record("\(c.name): zone loaded, expected \(c.expected)")
            return
        }
        #expect(problemLines(p.problems, dir: dir) == c.expected)
        #expect(!p.errors.isEmpty)
    }

    /// Everything wrong is reported in one go, in file order, whole-zone problems last.
    @Test func reportsAllProblemsTogether() throws {
        let zone = """
            $TTL 300
            @ NS ns1
            www A 1.2.3
            www CNAME other
            www AAAA 2001:db8::1
            x.other. A 192.0.2.1
            big 4294967295 A 192.0.2.1
            y CH TXT "x"
            $INCLUDE missing.inc
            z FOO bar
            (

            """
        let (r, dir) = try loadZone(["z.zone": zone])
        let p = try #require(r.failure)
        #expect(
            problemLines(p.problems, dir: dir) == [
                "z.zone:3: Syntax error, could not parse the RR's rdata: 'www A 1.2.3'",
                "z.zone:4: CNAME at www.t.example. beside other data (AAAA)",
                "z.zone:6: x.other. is outside the zone t.example.: 'x.other. A 192.0.2.1'",
                "z.zone:7: TTL 4294967295 is above 2147483647 (RFC 2181 §8): 'big 4294967295 A 192.0.2.1'",
                "z.zone:8: class CH is not supported (only IN): 'y CH TXT \"x\"'",
                "z.zone:9: $INCLUDE missing.inc: no such file",
                "z.zone:10: unknown type 'FOO': 'z FOO bar'",
                "z.zone:11: '(' not closed before the end of the file",
                "z.zone: no SOA record at the zone apex t.example.",
            ]
        )
        #expect(p.description.split(separator: "\n").count == 9)
    }

    /// The largest RRset a message holds is loaded: 4,094 A records at big.t.example. make a 65,535-byte reply
    /// (header 12, question 15 + 4, each record 2 + 10 + 4).
    @Test func anRRsetThatFillsAMessageExactlyIsLoaded() throws {
        let z = try loaded(head + aRecords(4094, owner: "big"))
        #expect(z.records.filter { $0.record.type == RRType.A }.count == 4094)
    }

    @Test func problemDescriptions() {
        #expect(
            ZoneProblem(
                file: "zones/lab.example.zone",
                line: 12,
                message: "CNAME at www.lab.example. beside other data (A)"
            ).description
                == "zones/lab.example.zone:12: CNAME at www.lab.example. beside other data (A)"
        )
        #expect(ZoneProblem(file: "z.zone", line: nil, message: "no SOA").description == "z.zone: no SOA")
        #expect(
            ZoneProblem(file: "z.zone", line: 3, message: "m", severity: .warning).description
                == "z.zone:3: warning: m"
        )
        let ps = ZoneProblems([
            ZoneProblem(file: "a", line: 1, message: "x"), ZoneProblem(file: "a", line: 2, message: "y"),
        ])
        #expect(ps.description == "a:1: x\na:2: y")
    }

    @Test func differingTTLsAreAWarningAndNormalised() throws {
        let z = try loaded(head + "www 60 A 192.0.2.1\nwww 30 A 192.0.2.2\nwww 60 A 192.0.2.3\nwww AAAA 2001:db8::1\n")
        #expect(
            z.warnings.map(\.description).map { $0.replacing(#/^.*/z\.zone/#, with: "z.zone") } == [
                "z.zone:6: warning: TTL 30 differs from TTL 60 of the A record at www.t.example. on line 5 "
                    + "(RFC 2181 §5.2); using 30 for all of them"
            ]
        )
        #expect(z.records.filter { $0.record.type == RRType.A }.map(\.record.ttl) == [30, 30, 30])
        #expect(z.records.first { $0.record.type == RRType.AAAA }?.record.ttl == 300)
    }

    @Test func identicalRecordsAreMerged() throws {
        let z = try loaded(head + "www A 192.0.2.1\nWWW.t.example. 300 IN A 192.0.2.1\n@ NS NS1.T.EXAMPLE.\n")
        #expect(z.warnings.isEmpty)
        #expect(z.records.filter { $0.record.type == RRType.A }.count == 1)
        #expect(z.records.filter { $0.record.type == RRType.NS }.count == 1)
        #expect(z.records.first { $0.record.type == RRType.A }?.line == 5)
        // Case counts in data that holds no name.
        let t = try loaded(head + "txt TXT \"Ab\"\ntxt TXT \"ab\"\ntxt TXT \"Ab\"\n")
        #expect(t.records.filter { $0.record.type == RRType.TXT }.count == 2)
    }

    /// RRSIG and NSEC beside a CNAME are not "other data" (RFC 4035 §2.5); the zone is refused only because
    /// it is signed (gtmd signs zones itself).
    @Test func cnameBesideDNSSECRecordsIsOnlyASignedZone() throws {
        let (r, dir) = try loadZone([
            "z.zone": head + """
                www CNAME other
                www RRSIG CNAME 8 3 300 20300101000000 20200101000000 12345 t.example. AAAA
                www NSEC z.t.example. CNAME RRSIG NSEC

                """
        ])
        let p = try #require(r.failure)
        let lines = problemLines(p.problems, dir: dir)
        #expect(lines.count == 2, "\(lines)")
        #expect(lines.allSatisfy { $0.contains("the zone is already DNSSEC-signed") }, "\(lines)")
        #expect(!lines.contains { $0.contains("beside other data") }, "\(lines)")
    }

    @Test func noTTLAnywhereFallsBackLikeBIND() throws {
        // No $TTL: the SOA takes its MINIMUM, later records the last TTL written (RFC 1035 §5.1), with warnings.
        let z = try loaded("@ SOA ns1 host 1 3600 600 86400 30\n@ NS ns1\nwww 60 A 192.0.2.1\nmail A 192.0.2.2\n")
        #expect(z.records.map(\.record.ttl) == [30, 30, 60, 60])
        #expect(z.warnings.map(\.line) == [1, 2, 4])
        #expect(z.warnings.allSatisfy { $0.isWarning })
        #expect(z.negativeTTL == 30)
    }
}

extension Result {
    var failure: Failure? { if case .failure(let f) = self { return f } else { return nil } }
}

@Suite struct SpecialFileTests {
    /// A FIFO (or a device) named by `$INCLUDE` would block the loader forever: refused at once.
    @Test func fifoIncludeIsRefused() throws {
        let dir = try TempZoneDir(["z.zone": head + "$INCLUDE pipe.inc\n"])
        #expect(mkfifo(dir.path("pipe.inc"), 0o600) == 0)
        let result = ZoneLoader.load(origin: testOrigin, path: dir.path("z.zone"))
        guard case .failure(let p) = result else {
            Issue.record("a FIFO include loaded")
            return
        }
        #expect(
            problemLines(p.problems, dir: dir) == [
                "z.zone:5: $INCLUDE pipe.inc: is not a regular file (a FIFO, device or socket cannot be a zone)"
            ]
        )
    }

    @Test func deviceAsZoneIsRefused() {
        guard case .failure(let p) = ZoneLoader.load(origin: testOrigin, path: "/dev/zero") else {
            Issue.record("/dev/zero loaded")
            return
        }
        #expect(p.problems.first?.message.contains("is not a regular file") == true, "\(p)")
    }
}
