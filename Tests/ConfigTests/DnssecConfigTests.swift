import Config
import DNSWire
import Foundation
import TestSupport
import Testing

/// The zone's `dnssec:` section: defaults, every key, and an error saying where and what for each bad value.
@Suite struct DnssecConfigTests {
    func parse(_ dnssec: String) -> Result<GtmdConfig, ConfigProblems> {
        ConfigLoader.parse(
            """
            zones:
              - origin: lab.example
                file: ../zones/lab.example.zone
                dnssec: \(dnssec)
            """,
            file: "t.yaml",
            baseDirectory: Repo.root.appendingPathComponent("config").path
        )
    }

    @Test func defaults() throws {
        let d = try #require(try parse("auto").get().zones[0].dnssec)
        #expect(d.keys == .auto && d.algorithm == .ecdsaP256SHA256 && d.denial == .nsec)
        #expect(d.signatureValidity == 14 * 86_400 && d.refresh == 7 * 86_400 && d.dnskeyTTL == 3600 && d.cds)
        #expect(try parse("off").get().zones[0].dnssec == nil)
    }

    @Test func everyKey() throws {
        let d = try #require(
            try parse(
                "{ keys: auto, algorithm: ed25519, denial: nsec3, signature_validity: 10d, refresh: 2d, dnskey_ttl: 600, cds: false }"
            ).get().zones[0].dnssec
        )
        #expect(d.algorithm == .ed25519 && d.denial == .nsec3 && !d.cds)
        #expect(d.signatureValidity == 10 * 86_400 && d.refresh == 2 * 86_400 && d.dnskeyTTL == 600)
        // Without refresh: half the validity.
        #expect(try parse("{ signature_validity: 4d }").get().zones[0].dnssec?.refresh == 2 * 86_400)
    }

    static let bad: [(String, String)] = [
        ("maybe", "t.yaml:4: zones[0].dnssec: 'maybe' is not auto, off or a mapping"),
        ("{ denial: nsec5 }", "t.yaml:4: zones[0].dnssec.denial: 'nsec5' is not nsec or nsec3"),
        ("{ algorithm: 8 }", "t.yaml:4: zones[0].dnssec.algorithm: '8' is not supported"),
        ("{ signature_validity: 10m }", "t.yaml:4: zones[0].dnssec.signature_validity: 10m is out of range"),
        (
            "{ signature_validity: 2d, refresh: 3d }",
            "zones[0].dnssec.refresh: 3d must be shorter than signature_validity"
        ),
        ("{ keys: [Knope+013+00001] }", "zones[0].dnssec.keys[0]: '"),
        ("{ keys: sometimes }", "zones[0].dnssec.keys: 'sometimes' is not auto or a list of key files"),
        ("{ colour: red }", "zones[0].dnssec.colour: unknown key"),
        ("{ key_lifetime: soon }", "t.yaml:4: zones[0].dnssec.key_lifetime: 'soon' is not a duration"),
        ("{ key_lifetime: 5000d }", "zones[0].dnssec.key_lifetime: 5000d is out of range"),
        ("{ parent_ds_ttl: 30d }", "zones[0].dnssec.parent_ds_ttl: 30d is out of range"),
        ("{ zone_max_ttl: -1 }", "zones[0].dnssec.zone_max_ttl: '-1'"),
        (
            "{ keys: [../zones/lab.example.zone], key_lifetime: 30d }",
            "zones[0].dnssec.key_lifetime: applies to keys: auto only",
        ),
    ]

    /// The automatic roll's settings: default a year and a day's DS TTL; `off`/`0` never rolls.
    @Test(arguments: [
        ("auto", Int64?.some(365 * 86_400), Int64(86_400), UInt32?.none),
        ("{ key_lifetime: 90d, parent_ds_ttl: 2h, zone_max_ttl: 1h }", 90 * 86_400, 7200, 3600),
        ("{ key_lifetime: off }", nil, 86_400, nil),
        ("{ key_lifetime: 0 }", nil, 86_400, nil),
        ("{ key_lifetime: 12s, parent_ds_ttl: 0 }", 12, 0, nil),
    ])
    func rollSettings(_ yaml: String, _ lifetime: Int64?, _ dsTTL: Int64, _ maxTTL: UInt32?) throws {
        let d = try #require(try parse(yaml).get().zones[0].dnssec)
        #expect(d.keyLifetime == lifetime && d.parentDSTTL == dsTTL && d.zoneMaxTTL == maxTTL)
    }

    @Test(arguments: bad)
    func badValuesSayWhereAndWhat(_ c: (String, String)) {
        switch parse(c.0) {
        case .success: Issue.record("\(c.0) was accepted")
        case .failure(let p): #expect(p.description.contains(c.1), "\(p.description)")
        }
    }
}
