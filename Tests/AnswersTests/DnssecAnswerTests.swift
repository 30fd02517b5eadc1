import Answers
import DNSWire
import Foundation
import TestSupport
import Testing
import Zones

/// Signed answers, checked with ldns as the oracle: every RRset a DO=1 reply carries verifies against the
/// zone's DNSKEY, NXDOMAIN and NODATA carry a denial ldns accepts, replies without DO are the unsigned bytes,
/// and a failover then failback signs nothing the second time.
@Suite struct SignedAnswers {
    static let origin = try! DNSName("lab.example.")
    static let key = try! SigningKey.generate(zone: origin, algorithm: .ecdsaP256SHA256, keySigning: true)
    static let zone: Zone = {
        let path = Repo.root.appendingPathComponent("zones/lab.example.zone").path
        return try! ZoneLoader.load(origin: origin, path: path).get()
    }()
    static let www = try! DNSName("www.lab.example.")
    static func a(_ s: String, ttl: UInt32 = 30) -> ResourceRecord {
        ResourceRecord(owner: www, type: RRType.A, ttl: ttl, rdata: s.split(separator: ".").map { UInt8($0)! })
    }
    static let primary: AnswerTableBuilder.Dynamic = .init(variants: [[a("127.0.0.11")]])
    static let standby: AnswerTableBuilder.Dynamic = .init(variants: [[a("127.0.0.12", ttl: 5)]])

    static func signer(nsec3: Bool, keys: [SigningKey] = [key]) -> ZoneSigner {
        ZoneSigner(zone: origin, keys: keys, nsec3: nsec3)
    }

    static func table(nsec3: Bool?, _ d: AnswerTableBuilder.Dynamic = primary) -> AnswerTable {
        AnswerTableBuilder().build(
            zones: [zone],
            dynamic: [www: d],
            signers: nsec3.map { [origin: signer(nsec3: $0)] } ?? [:]
        )
    }

    static func ask(_ t: AnswerTable, _ name: String, _ type: UInt16, dnssec: Bool, edns: Bool = true) -> [UInt8] {
        var q = QueryBuilder(name, type, edns: edns ? 1232 : nil)
        q.ednsDO = dnssec
        return TableQuery.ask(q.bytes, table: t)
    }

    /// (question, type, rcode): every kind of answer the lab zone has.
    static let questions: [(String, UInt16, UInt16)] = [
        ("lab.example", RRType.SOA, 0), ("lab.example", RRType.NS, 0), ("lab.example", RRType.MX, 0),
        ("lab.example", RRType.DNSKEY, 0), ("lab.example", RRType.CDS, 0), ("lab.example", RRType.CDNSKEY, 0),
        ("lab.example", RRType.AAAA, 0), ("www.lab.example", RRType.A, 0), ("www.lab.example", RRType.AAAA, 0),
        ("alias.lab.example", RRType.A, 0), ("chain.lab.example", RRType.A, 0), ("chain.lab.example", RRType.TXT, 0),
        ("x.wild.lab.example", RRType.A, 0), ("y.x.wild.lab.example", RRType.TXT, 0),
        ("x.wild.lab.example", RRType.MX, 0), ("ent.lab.example", RRType.A, 0), ("b.ent.lab.example", RRType.A, 0),
        ("a.b.ent.lab.example", RRType.A, 0), ("nothere.lab.example", RRType.A, 3),
        ("a.b.nothere.lab.example", RRType.A, 3), ("zzz.lab.example", RRType.A, 3), ("0.lab.example", RRType.A, 3),
        ("dual.lab.example", RRType.AAAA, 0), ("big.lab.example", RRType.TXT, 0),
        ("_sip._udp.lab.example", RRType.SRV, 0), ("svc.lab.example", RRType.HTTPS, 0),
        ("child.lab.example", RRType.DS, 0), ("sub.lab.example", RRType.DS, 0), ("host.sub.lab.example", RRType.A, 0),
        ("host.child.lab.example", RRType.A, 0), ("www.legacy.lab.example", RRType.A, 0),
        ("lab.example", RRType.ANY, 0),
    ]

    /// The RRsets of a section: records grouped by owner and type, RRSIGs apart (keyed by covered type).
    static func rrsets(_ records: [ResourceRecord]) -> (sets: [[ResourceRecord]], sigs: [ResourceRecord]) {
        var sets: [[ResourceRecord]] = []
        var sigs: [ResourceRecord] = []
        for r in records {
            if r.type == RRType.RRSIG {
                sigs.append(r)
            } else if let i = sets.firstIndex(where: { $0[0].owner == r.owner && $0[0].type == r.type }) {
                sets[i].append(r)
            } else {
                sets.append([r])
            }
        }
        return (sets, sigs)
    }

    @Test(arguments: [false, true])
    func everySignedRRsetVerifies(nsec3: Bool) throws {
        let t = Self.table(nsec3: nsec3)
        let now = UInt32(Date().timeIntervalSince1970)
        for (name, type, rcode) in Self.questions {
            let p = try #require(LdnsRR.parsePacket(Self.ask(t, name, type, dnssec: true)), "\(name)")
            let what = "\(nsec3 ? "nsec3" : "nsec") \(name) \(LdnsRR.typeName(type))\n\(p.text)"
            #expect(p.rcode == rcode, "\(what)")
            #expect(!p.tc, "\(what)")
            #expect(p.edns?.doBit == true, "\(what)")
            let referral = !p.aa && p.rcode == 0
            for (section, records) in [("answer", p.answer), ("authority", p.authority), ("additional", p.additional)] {
                let (sets, sigs) = Self.rrsets(records.filter { $0.type != RRType.OPT })
                for set in sets {
                    let covering = sigs.filter {
                        $0.owner == set[0].owner && UInt16($0.rdata[0]) << 8 | UInt16($0.rdata[1]) == set[0].type
                    }
                    // Unsigned: a delegation's NS and glue, and a CNAME synthesized from a DNAME.
                    let mayBeUnsigned =
                        (referral && (set[0].type == RRType.NS || section == "additional"))
                        || (set[0].type == RRType.CNAME && name.contains("legacy"))
                        || name.contains(".sub.") && section == "additional"
                    if covering.isEmpty {
                        #expect(
                            mayBeUnsigned,
                            "\(section) \(set[0].owner) \(LdnsRR.typeName(set[0].type)) unsigned\n\(what)"
                        )
                        continue
                    }
                    for sig in covering {
                        let failure = DnssecVerify.failure(
                            rrset: set,
                            signature: sig,
                            keys: [Self.key.dnskey],
                            now: now
                        )
                        #expect(
                            failure == nil,
                            "\(section) \(set[0].owner) \(LdnsRR.typeName(set[0].type)): \(failure ?? "")\n\(what)"
                        )
                    }
                }
            }
            // ldns's NSEC check treats an empty non-terminal as a missing name (it wants the wildcard denied
            // too); the validating unbound in IntegrationTests/DnssecTests checks those answers instead.
            let ent = !nsec3 && name.hasSuffix("ent.lab.example") && !name.hasPrefix("a.")
            if p.aa && p.answer.isEmpty && !ent {
                let failure = DnssecVerify.denialFailure(
                    name: try DNSName(name + "."),
                    type: type,
                    records: p.authority,
                    nxdomain: rcode == 3
                )
                #expect(failure == nil, "denial: \(failure ?? "")\n\(what)")
            }
        }
    }

    @Test(arguments: [false, true])
    func withoutDOTheRepliesAreTheUnsignedOnes(nsec3: Bool) {
        let signed = Self.table(nsec3: nsec3)
        let plain = Self.table(nsec3: nil)
        for (name, type, _) in Self.questions
        where type != RRType.DNSKEY && type != RRType.CDS && type != RRType.CDNSKEY
            && !(name == "lab.example" && type == RRType.ANY)
        {
            for edns in [false, true] {
                #expect(
                    Self.ask(signed, name, type, dnssec: false, edns: edns)
                        == Self.ask(plain, name, type, dnssec: false, edns: edns),
                    "\(name) \(type) edns \(edns)"
                )
            }
        }
    }

    @Test func failoverThenFailbackSignsNothingTheSecondTime() {
        let signer = Self.signer(nsec3: false)
        let compiled = AnswerTableBuilder().compile(
            zones: [Self.zone],
            serviceNames: [Self.www],
            signers: [Self.origin: signer]
        )
        _ = compiled.table(dynamic: [Self.www: Self.primary], generation: 1)
        let afterPrimary = signer.counts.signed
        let onStandby = compiled.table(dynamic: [Self.www: Self.standby], generation: 2)
        let afterStandby = signer.counts.signed
        // The standby's A RRset and the NSEC at www (its TTL-free types are the same: no new NSEC): 1 signature.
        #expect(afterStandby - afterPrimary == 1, "\(afterPrimary) -> \(afterStandby)")
        let back = compiled.table(dynamic: [Self.www: Self.primary], generation: 3)
        _ = compiled.table(dynamic: [Self.www: Self.standby], generation: 4)
        #expect(signer.counts.signed == afterStandby)
        let p = LdnsRR.parsePacket(Self.ask(back, "www.lab.example", RRType.A, dnssec: true))
        #expect(p?.answer.map(LdnsRR.rdataPresentation).contains("127.0.0.11") == true)
        #expect(onStandby.signatureExpiry != nil && onStandby.resignAt != nil)
    }

    /// Weighted variants are picked by query ID % count: the signed twins keep that layout.
    @Test func weightedVariantsAreSignedEachWithItsOwnAddress() throws {
        let t = Self.table(nsec3: false, .init(variants: [[Self.a("192.0.2.1")], [Self.a("192.0.2.2")], []]))
        let now = UInt32(Date().timeIntervalSince1970)
        for id: UInt16 in 0..<6 {
            for dnssec in [false, true] {
                var q = QueryBuilder("www.lab.example", RRType.A, edns: 1232)
                q.id = id
                q.ednsDO = dnssec
                let p = try #require(LdnsRR.parsePacket(TableQuery.ask(q.bytes, table: t)))
                let addresses = p.answer.filter { $0.type == RRType.A }
                let want = id % 3 == 2 ? [] : ["192.0.2.\(id % 3 + 1)"]
                #expect(addresses.map(LdnsRR.rdataPresentation) == want, "id \(id) DO \(dnssec)\n\(p.text)")
                guard dnssec else { continue }
                if let sig = p.answer.first(where: { $0.type == RRType.RRSIG }) {
                    #expect(
                        DnssecVerify.failure(rrset: addresses, signature: sig, keys: [Self.key.dnskey], now: now) == nil
                    )
                } else {
                    // The empty variant: NODATA proven by www's own NSEC, without A in its bitmap.
                    let nsec = try #require(p.authority.first { $0.type == RRType.NSEC }, "\(p.text)")
                    #expect(!LdnsRR.presentation(nsec).contains(" A "), "\(p.text)")
                }
            }
        }
    }

    final class Clock: @unchecked Sendable {  // read and moved by one test thread only
        var now: UInt32 = 1_800_000_000
    }

    /// Signatures are made again once less than `refresh` is left: the dynamic ones at the next publish,
    /// the static ones by a new compile, which the steering loop runs when `baseResignAt` is due.
    @Test func signaturesAreMadeAgainWhenHalfTheirValidityIsGone() throws {
        let clock = Clock()
        let signer = ZoneSigner(
            zone: Self.origin,
            keys: [Self.key],
            validity: 14 * 86_400,
            refresh: 7 * 86_400,
            clock: { clock.now }
        )
        let compile = {
            AnswerTableBuilder().compile(zones: [Self.zone], serviceNames: [Self.www], signers: [Self.origin: signer])
        }
        let compiled = compile()
        let first = compiled.table(dynamic: [Self.www: Self.standby], generation: 1)
        #expect(first.signatureExpiry == clock.now + 14 * 86_400)
        let due = try #require(compiled.baseResignAt)
        // Renewal falls between 5.6 and 7 days in (refresh 7 d, jitter up to a tenth of the validity).
        #expect(due >= clock.now + 7 * 86_400 - 14 * 8_640 && due <= clock.now + 7 * 86_400)
        let before = signer.counts.signed
        _ = compiled.table(dynamic: [Self.www: Self.standby], generation: 2)
        #expect(signer.counts.signed == before, "nothing is due yet")
        clock.now += 8 * 86_400
        let later = compiled.table(dynamic: [Self.www: Self.standby], generation: 3)
        #expect(signer.counts.signed > before, "the publish re-signs the service's answer")
        #expect(later.signatureExpiry == first.signatureExpiry, "the static answers wait for a compile")
        let fresh = compile().table(dynamic: [Self.www: Self.standby], generation: 4)
        #expect(fresh.signatureExpiry == clock.now + 14 * 86_400)
        let p = try #require(LdnsRR.parsePacket(Self.ask(fresh, "lab.example", RRType.SOA, dnssec: true)))
        let sig = try #require(p.answer.first { $0.type == RRType.RRSIG })
        let soa = p.answer.filter { $0.type == RRType.SOA }
        #expect(DnssecVerify.failure(rrset: soa, signature: sig, keys: [Self.key.dnskey], now: clock.now) == nil)
    }

    /// The zone as served (`gtmd dnssec dump`) passes ldns-verify-zone: every RRSIG, and the chain; also once the
    /// graph is frozen (as a server's is after its first table), and a publish then signs against it.
    @Test(arguments: [false, true], [false, true])
    func theServedZonePassesLdnsVerifyZone(nsec3: Bool, frozen: Bool) throws {
        let compiled = AnswerTableBuilder().compile(
            zones: [Self.zone],
            serviceNames: [Self.www],
            signers: [Self.origin: Self.signer(nsec3: nsec3)]
        )
        _ = compiled.table(dynamic: [Self.www: Self.primary], generation: 1)
        if frozen { compiled.freeze() }
        _ = compiled.table(dynamic: [Self.www: Self.standby], generation: 2)
        let records = try #require(compiled.servedZone(Self.origin))
        #expect(records.first?.type == RRType.SOA)
        #expect(records.contains { $0.owner == Self.www && LdnsRR.rdataPresentation($0) == "127.0.0.12" })
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("gtmd-dump-\(UUID().uuidString).zone")
        defer { try? FileManager.default.removeItem(at: file) }
        try (records.map(LdnsRR.presentation).joined(separator: "\n") + "\n").write(
            to: file,
            atomically: true,
            encoding: .utf8
        )
        let r = try run("/usr/bin/ldns-verify-zone", [file.path])
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
    }

    @Test func splitKeysSignTheKeySetWithTheKSKOnly() throws {
        let zsk = try SigningKey.generate(zone: Self.origin, algorithm: .ed25519, keySigning: false)
        let ksk = try SigningKey.generate(zone: Self.origin, algorithm: .ed25519, keySigning: true)
        let t = AnswerTableBuilder().build(
            zones: [Self.zone],
            signers: [Self.origin: Self.signer(nsec3: false, keys: [ksk, zsk])]
        )
        let keys = try #require(LdnsRR.parsePacket(Self.ask(t, "lab.example", RRType.DNSKEY, dnssec: true)))
        let keySigs = keys.answer.filter { $0.type == RRType.RRSIG }
        #expect(keySigs.count == 1)
        let tag = UInt16(keySigs[0].rdata[16]) << 8 | UInt16(keySigs[0].rdata[17])
        #expect(tag == ksk.keyTag)
        let soa = try #require(LdnsRR.parsePacket(Self.ask(t, "lab.example", RRType.SOA, dnssec: true)))
        let soaSig = try #require(soa.answer.first { $0.type == RRType.RRSIG })
        #expect(UInt16(soaSig.rdata[16]) << 8 | UInt16(soaSig.rdata[17]) == zsk.keyTag)
        let soaSet = soa.answer.filter { $0.type == RRType.SOA }
        let now = UInt32(Date().timeIntervalSince1970)
        #expect(DnssecVerify.failure(rrset: soaSet, signature: soaSig, keys: [zsk.dnskey], now: now) == nil)
    }
}
