import Foundation
import Geo
import TestSupport
import Testing

func net(_ s: String) -> IPNetwork { try! IPNetwork.parse(s).get() }
func addr(_ s: String) -> AddressBits { AddressBits(IPAddress.parse(s)!) }

@Suite struct NetworkTests {
    @Test func parsing() throws {
        #expect(net("10.1.0.0/16").description == "10.1.0.0/16")
        #expect(net("192.0.2.7").length == 32)
        #expect(net("2001:db8::/32").description == "2001:db8::/32")
        #expect(net("0.0.0.0/0").length == 0)
        for bad in ["10.1.0.0/33", "10.1.0.1/16", "nonsense", "10.1.0.0/x", "2001:db8::1/32", "1.2.3.4/8/9", "::/129"] {
            guard case .failure(let e) = IPNetwork.parse(bad) else {
                Issue.record("\(bad) parsed")
                continue
            }
            #expect(e.description.contains(bad), "\(e)")
        }
        if case .failure(let e) = IPNetwork.parse("10.1.2.3/16") { #expect(e.description.contains("10.1.0.0/16")) }
    }

    @Test func maskingAndMapped() {
        #expect(addr("10.1.2.3").masked(16) == addr("10.1.0.0"))
        #expect(addr("2001:db8:1:2:3::1").masked(56) == addr("2001:db8:1::"))
        #expect(addr("2001:db8:1:2:3::1").masked(80) == addr("2001:db8:1:2:3::"))
        #expect(addr("::ffff:192.0.2.1").unmapped == addr("192.0.2.1"))
        #expect(addr("2001:db8::1").unmapped == addr("2001:db8::1"))
        #expect(addr("10.9.8.7").address == IPAddress.parse("10.9.8.7"))
    }

    @Test func longestPrefixAndScope() {
        var m = NetworkMap()
        #expect(m.insert(net("10.0.0.0/8"), value: 1) == nil)
        #expect(m.insert(net("10.1.0.0/16"), value: 2) == nil)
        #expect(m.insert(net("10.1.0.0/16"), value: 3) == 2)  // duplicate: first wins, reported
        m.insert(net("2001:db8::/32"), value: 4)
        m.insert(net("0.0.0.0/0"), value: 0)
        #expect(m.count == 4)
        // Inside the /16: that rule, scope 16 (nothing more specific inside it).
        #expect(m.lookup(addr("10.1.200.1"), bits: 32) == .init(value: 2, ruleLength: 16, scope: 16))
        // Inside the /8 but not the /16: the /8 decides, but 10.0.0.0/15 contains the /16, so the answer only
        // holds for the /15 half that does not contain 10.1.0.0/16 ... here 10.2/15.
        let r = m.lookup(addr("10.2.3.4"), bits: 32)
        #expect(r.value == 1 && r.ruleLength == 8 && r.scope == 15)
        #expect(m.lookup(addr("10.128.0.1"), bits: 32).scope == 9)
        // Only the default route: scope 1 (the half without 10/8 differs from the half with it... 10/8 is in 0/1).
        #expect(m.lookup(addr("192.0.2.1"), bits: 32) == .init(value: 0, ruleLength: 0, scope: 1))
        #expect(m.lookup(addr("2001:db8:ffff::1"), bits: 56) == .init(value: 4, ruleLength: 32, scope: 32))
        #expect(m.lookup(addr("2001:db9::1"), bits: 56).value == -1)
        // The walk never uses more bits than given: a /12 ECS prefix inside 10/8 stops at 12 bits, and as
        // 10.1/16 lies inside those 12 bits, the scope is 13: 12 bits do not decide (RFC 7871 §7.2.1).
        #expect(m.lookup(addr("10.0.0.0"), bits: 12) == .init(value: 1, ruleLength: 8, scope: 13))
        #expect(m.lookup(addr("10.2.0.0"), bits: 16) == .init(value: 1, ruleLength: 8, scope: 15))
        #expect(m.lookup(addr("10.1.0.0"), bits: 0).scope == 0)
    }

    /// A sealed map (`seal()`: lookups of eight bits or more start from a table of the walk's state after the
    /// first eight bits) gives the same match as the walk from the root, for every number of bits: random rules
    /// of both families and every length, addresses near them and anywhere.
    @Test func sealedLookupsMatchTheWalkFromTheRoot() {
        var state: UInt64 = 0x2545_F491_4F6C_DD1D
        func next() -> UInt64 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return state ^ (state >> 29)
        }
        func random(_ family: UInt8) -> AddressBits {
            family == 4
                ? AddressBits(family: 4, hi: next() & 0xFFFF_FFFF_0000_0000, lo: 0)
                : AddressBits(family: 6, hi: next(), lo: next())
        }
        var plain = NetworkMap()
        var bases: [AddressBits] = []
        for i in 0..<600 {
            let family: UInt8 = i % 3 == 0 ? 6 : 4
            // Short prefixes often (shared first bytes, rules inside the first eight bits), long ones too.
            let width = family == 4 ? 32 : 128
            let length = i % 5 == 0 ? Int(next() % 9) : Int(next() % UInt64(width + 1))
            let base = random(family).masked(length)
            bases.append(base)
            plain.insert(IPNetwork(base: base, length: length), value: Int32(i))
        }
        var sealed = plain
        sealed.seal()
        var checked = 0
        for k in 0..<30_000 {
            // Half near a rule (its base with random bits below a random length), half anywhere.
            let a: AddressBits
            if k % 2 == 0 {
                let b = bases[Int(next() % UInt64(bases.count))]
                let keep = Int(next() % UInt64(b.width + 1))
                let r = random(b.family)
                let hiMask: UInt64 = keep == 0 ? 0 : keep >= 64 ? .max : ~0 << UInt64(64 - keep)
                let loMask: UInt64 = keep <= 64 ? 0 : keep >= 128 ? .max : ~0 << UInt64(128 - keep)
                a = AddressBits(
                    family: b.family,
                    hi: (b.hi & hiMask) | (r.hi & ~hiMask),
                    lo: (b.lo & loMask) | (r.lo & ~loMask)
                )
            } else {
                a = random(k % 3 == 0 ? 6 : 4)
            }
            let bits = Int(next() % UInt64(a.width + 1))
            let want = plain.lookup(a, bits: bits)
            let got = sealed.lookup(a, bits: bits)
            if got != want {
                Issue.record("\(a.address) /\(bits): sealed \(got), from the root \(want)")
                break
            }
            checked += 1
        }
        #expect(checked == 30_000)
    }

    @Test func distanceAndOrder() {
        // Frankfurt - New York is about 6,200 km.
        let d = Distance.km(50.11, 8.68, 40.71, -74.01)
        #expect(d > 6100 && d < 6300, "\(d)")
        let fra = Region(name: "fra", latitude: 50.11, longitude: 8.68)
        let nyc = Region(name: "nyc", latitude: 40.71, longitude: -74.01)
        let sfo = Region(name: "sfo", latitude: 37.77, longitude: -122.42)
        let pools = [("p-sfo", sfo), ("p-fra", fra), ("p-nyc", nyc)].map { (name: $0.0, region: $0.1) }
        #expect(Distance.order(pools: pools, from: fra, limit: nil) == ["p-fra", "p-nyc", "p-sfo"])
        #expect(Distance.order(pools: pools, from: sfo, limit: 2) == ["p-sfo", "p-nyc"])
        // A strong bias on sfo pulls New York's clients there.
        var biased = sfo
        biased.bias = 80
        let pools2 = [("p-sfo", biased), ("p-fra", fra), ("p-nyc", nyc)].map { (name: $0.0, region: $0.1) }
        #expect(Distance.order(pools: pools2, from: fra, limit: 1) == ["p-fra"])
        #expect(Distance.nearest(41, -80, in: [fra, biased, nyc]) == 2)
        #expect(Distance.nearest(10, 10, in: []) == nil)
    }
}

@Suite struct DatabaseTests {
    static var records: [(String, [String: Any])] {
        [
            (
                "198.51.100.0/24",
                [
                    "country": ["iso_code": "DE"], "continent": ["code": "EU"],
                    "location": ["latitude": 50.1, "longitude": 8.7],
                ]
            ),
            ("203.0.113.0/25", ["continent": ["code": "NA"]]),
            ("203.0.113.128/25", ["location": ["latitude": 37.7, "longitude": -122.4]]),
            ("2001:db8:aa::/48", ["country": ["iso_code": "us"]]),
        ]
    }

    @Test func lookups() throws {
        let db = try GeoDatabase(path: try makeMMDB(Self.records))
        #expect(db.ipVersion == 6)
        let de = db.lookup(addr("198.51.100.77"))
        #expect(
            de.found && de.netmask == 24 && GeoDatabase.codeText(de.country) == "DE"
                && GeoDatabase.codeText(de.continent) == "EU"
        )
        #expect(de.latitude == 50.1 && de.longitude == 8.7)
        let na = db.lookup(addr("203.0.113.5"))
        #expect(
            na.found && na.netmask == 25 && na.country == 0 && GeoDatabase.codeText(na.continent) == "NA"
                && na.latitude == nil
        )
        // Lower-case codes in a database are read as upper case.
        #expect(GeoDatabase.codeText(db.lookup(addr("2001:db8:aa:1::1")).country) == "US")
        let none = db.lookup(addr("192.0.2.1"))
        #expect(!none.found)
        #expect(!db.lookup(addr("2001:db9::1")).found)
    }

    @Test func openErrorsSayWhat() throws {
        do {
            _ = try GeoDatabase(path: "/nonexistent/x.mmdb")
            Issue.record("opened")
        } catch {
            #expect(error.description.contains("/nonexistent/x.mmdb") && error.description.contains("cannot open"))
        }
        let junk = FileManager.default.temporaryDirectory.appendingPathComponent("junk-\(getpid()).mmdb").path
        _ = FileManager.default.createFile(atPath: junk, contents: Data(repeating: 7, count: 4096))
        do {
            _ = try GeoDatabase(path: junk)
            Issue.record("opened junk")
        } catch {
            #expect(error.description.contains(junk), "\(error)")
        }
    }

    @Test func locatorOrder() throws {
        let db = try GeoDatabase(path: try makeMMDB(Self.records))
        let regions = [
            Region(name: "eu", latitude: 50, longitude: 8), Region(name: "us-west", latitude: 37, longitude: -122),
            Region(name: "us-east", latitude: 40, longitude: -74),
        ]
        let loc = Locator(
            regions: regions,
            rules: [(net("198.51.100.128/25"), 2), (net("10.0.0.0/8"), 1)],
            database: db,
            countries: [GeoDatabase.code("DE")!: 0],
            continents: [GeoDatabase.code("NA")!: 2],
            defaultRegion: 1
        )
        // A network rule beats the database.
        let rule = loc.locate(addr("198.51.100.200"), bits: 32)
        #expect(rule.region == 2 && rule.scope == 25)
        #expect(loc.explain(addr("198.51.100.200"), bits: 32).source.contains("network rule 198.51.100.128/25"))
        // The database by country (scope: the database network, widened by the rule next to it: /25).
        let de = loc.locate(addr("198.51.100.5"), bits: 32)
        #expect(de.region == 0 && de.scope == 25)
        #expect(loc.explain(addr("198.51.100.5"), bits: 32).source.contains("country DE"))
        // By continent, by coordinates (nearest region: us-west), and the default.
        #expect(loc.locate(addr("203.0.113.1"), bits: 32).region == 2)
        #expect(loc.locate(addr("203.0.113.200"), bits: 32).region == 1)
        #expect(loc.explain(addr("203.0.113.200"), bits: 32).source.contains("coordinates"))
        let d = loc.locate(addr("192.0.2.1"), bits: 24)
        #expect(d.region == 1 && d.scope <= 24)
        #expect(loc.explain(addr("192.0.2.1"), bits: 24).regionName == "us-west")
    }
}

/// Issue 14: the scope of an ECS answer never covers an address that the rules send to another region.
@Suite struct ECSScopeTests {
    let locator = Locator(
        regions: [Region(name: "a", latitude: 50, longitude: 8), Region(name: "b", latitude: 53, longitude: -6)],
        rules: [
            (net("127.0.0.2/32"), 0), (net("127.0.0.3/32"), 1), (net("10.1.0.0/16"), 0), (net("10.2.0.0/16"), 1),
            (net("10.2.128.0/17"), 0), (net("2001:db8:b::/48"), 1), (net("2001:db8:b:1::/64"), 0),
        ],
        defaultRegion: 0,
        ecsMaxPrefix4: 24,
        ecsMaxPrefix6: 56
    )

    func locate(_ ecs: String, _ prefix: Int) -> (region: Int, bits: Int, scope: Int) {
        let c = locator.clientAddress(source: addr("192.0.2.1"), ecs: addr(ecs), ecsPrefix: prefix)
        let (region, scope) = locator.locate(c.address, bits: c.bits)
        return (region, c.bits, scope)
    }

    struct Row: Sendable, CustomTestStringConvertible {
        var ecs: String, prefix: Int, region: Int, bits: Int, scope: Int
        var testDescription: String { "\(ecs)/\(prefix)" }
    }
    static let rows: [Row] = [
        // A /32 rule inside the /24 cap: as many bits as the rule needs.
        Row(ecs: "127.0.0.3", prefix: 32, region: 1, bits: 32, scope: 32),
        Row(ecs: "127.0.0.2", prefix: 32, region: 0, bits: 32, scope: 32),
        Row(ecs: "127.0.0.5", prefix: 32, region: 0, bits: 30, scope: 30),
        Row(ecs: "127.0.0.200", prefix: 32, region: 0, bits: 25, scope: 25),
        // Sources no longer than the cap are used as given; a scope longer than the source says "not enough".
        Row(ecs: "127.0.0.0", prefix: 24, region: 0, bits: 24, scope: 25),
        Row(ecs: "10.2.0.0", prefix: 16, region: 1, bits: 16, scope: 17),
        Row(ecs: "10.2.3.0", prefix: 24, region: 1, bits: 24, scope: 17),
        Row(ecs: "10.2.200.1", prefix: 32, region: 0, bits: 24, scope: 17),
        Row(ecs: "10.1.77.0", prefix: 24, region: 0, bits: 24, scope: 16),
        Row(ecs: "2001:db8:b:1::", prefix: 64, region: 0, bits: 64, scope: 64),
        Row(ecs: "2001:db8:b:2::", prefix: 64, region: 1, bits: 63, scope: 63),
    ]

    @Test(arguments: rows)
    func bitsAndScope(_ r: Row) {
        let got = locate(r.ecs, r.prefix)
        #expect(got.region == r.region && got.bits == r.bits && got.scope == r.scope, "\(got)")
    }

    /// Every /32 source in 127.0.0.0/24, every 5th in 10.2.0.0/24, one in every 7th /24 of 10.2.0.0/16:
    /// every address inside the answer's scope (all of them up to 256, else 256 spread evenly) is sent to
    /// the same region by the rules.
    @Test func scopeNeverCoversAnotherRegion() {
        var sources = (0..<256).map { "127.0.0.\($0)" } + stride(from: 0, to: 256, by: 5).map { "10.2.0.\($0)" }
        sources += stride(from: 0, to: 256, by: 7).map { "10.2.\($0).7" }
        for s in sources {
            let got = locate(s, 32)
            let a = addr(s)
            let scope = min(got.scope, 32)
            let hostBits = 32 - scope
            guard hostBits < 20 else {
                Issue.record("\(s): scope /\(scope) too wide to check")
                continue
            }
            let base = a.masked(scope)
            for k in stride(from: 0, to: 1 << hostBits, by: max(1, (1 << hostBits) / 256)) {
                let other = AddressBits(family: 4, hi: base.hi | (UInt64(k) << 32), lo: 0)
                let region = locator.locate(other, bits: 32).region
                if region != got.region {
                    Issue.record(
                        "\(s): answer region \(got.region) scope /\(scope) covers \(other.address), region \(region)"
                    )
                    break
                }
            }
        }
    }
}
