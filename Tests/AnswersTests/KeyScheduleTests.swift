import Answers
import DNSWire
import Foundation
import Synchronization
import TestSupport
import Testing

/// Key timing metadata (BIND's Publish/Activate/Inactive/Delete/SyncPublish/SyncDelete) and what it makes of a
/// zone's keys at each time: table tests of the state function, of a ZSK pre-publish roll and a KSK double-DS
/// roll, of the timeline checks, and of the signer following a roll (its signatures checked by ldns).
@Suite struct KeySchedules {
    static let zone = try! DNSName("lab.example.")

    static func key(_ ksk: Bool, _ t: KeyTiming = KeyTiming()) -> SigningKey {
        try! SigningKey.generate(zone: zone, algorithm: .ecdsaP256SHA256, keySigning: ksk, timing: t)
    }

    @Test(arguments: [
        ("20261129194923", Int64(1_795_981_763)), ("19700101000000", 0), ("20000229120000", 951_825_600),
        ("1795981763", 1_795_981_763),
    ])
    func timesReadAndWriteAsBINDDoes(_ text: String, _ t: Int64) {
        #expect(KeyTiming.parseTime(text) == t)
        #expect(KeyTiming.parseTime(KeyTiming.format(t)) == t)
    }

    @Test(arguments: ["2026112919492", "20261329194923", "2026112919492x", "", "now"])
    func badTimesAreRefused(_ text: String) {
        #expect(KeyTiming.parseTime(text) == nil)
    }

    @Test func keygenOptionTimes() {
        #expect(KeyTiming.parseOption("now", now: 1000) == 1000)
        #expect(KeyTiming.parseOption("+90", now: 1000) == 1090)
        #expect(KeyTiming.parseOption("+2h", now: 1000) == Int64(8200))
        #expect(KeyTiming.parseOption("now+3d", now: 1000) == Int64(260_200))
        #expect(KeyTiming.parseOption("+1w", now: 0) == 604_800)
        #expect(KeyTiming.parseOption("20261129194923", now: 0) == 1_795_981_763)
        #expect(KeyTiming.parseOption("+x", now: 0) == nil && KeyTiming.parseOption("tomorrow", now: 0) == nil)
    }

    /// One key: Publish 100, Activate 200, Inactive 300, Delete 400.
    @Test(arguments: [
        (Int64(50), KeyState.unpublished), (100, .published), (199, .published), (200, .active), (299, .active),
        (300, .inactive), (399, .inactive), (400, .removed), (10_000, .removed),
    ])
    func stateAtEachTime(_ t: Int64, _ want: KeyState) {
        let k = KeyTiming(publish: 100, activate: 200, inactive: 300, delete: 400)
        #expect(k.state(at: t) == want)
        #expect(KeyTiming().state(at: t) == .active, "no timing: active forever")
    }

    @Test(arguments: [
        (KeyTiming(publish: 200, activate: 100), "before Publish"),
        (KeyTiming(activate: 200, inactive: 200), "not after Activate"),
        (KeyTiming(inactive: 300, delete: 200), "before Inactive"),
        (KeyTiming(syncPublish: 300, syncDelete: 300), "SyncDelete"),
    ])
    func eventsOutOfOrderAreProblems(_ t: KeyTiming, _ says: String) {
        #expect(t.orderProblems.contains { $0.contains(says) }, "\(t.orderProblems)")
    }

    @Test func timingSurvivesTheKeyFiles() throws {
        let t = KeyTiming(created: 1000, publish: 2000, activate: 3000, inactive: 4000, delete: 5000, syncPublish: 2500)
        let k = Self.key(false, t)
        #expect(k.privateText.contains("Activate: \(KeyTiming.format(3000))\n"))
        #expect(k.publicText.contains("; Inactive: \(KeyTiming.format(4000)) ("))
        let back = try SigningKey.read(name: k.fileName, publicText: k.publicText, privateText: k.privateText)
        #expect(back.timing == t && back.dnskey == k.dnskey)
        // The .key comments alone (a .private without timing lines) are read too.
        let bare = Self.key(false)
        let commented =
            k.publicText.replacingOccurrences(of: LdnsRR.presentation(k.dnskey), with: "")
            + LdnsRR.presentation(bare.dnskey)
        let fromComments = try SigningKey.read(name: "x", publicText: commented, privateText: bare.privateText)
        #expect(fromComments.timing == t)
        // Revoke (RFC 5011) is refused with where and why; so is a time that is not one.
        #expect(throws: DnssecError.self) {
            try SigningKey.read(
                name: "K",
                publicText: k.publicText,
                privateText: k.privateText + "Revoke: 20300101000000\n"
            )
        }
        do {
            _ = try SigningKey.read(name: "K", publicText: k.publicText, privateText: k.privateText + "Delete: soon\n")
            Issue.record("a bad time was accepted")
        } catch {
            #expect(error.description.hasPrefix("K.private:") && error.description.contains("Delete: 'soon'"))
        }
    }

    /// Key files written by BIND's own dnssec-keygen and dnssec-settime (bind9-utils; scripts/deps.sh).
    @Test func bindKeyFilesAreRead() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/dnssec-keygen") else {
            Issue.record("dnssec-keygen is not installed (scripts/deps.sh installs bind9-utils)")
            return
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gtmd-bind-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let gen = try run(
            "/usr/bin/dnssec-keygen",
            [
                "-K", dir.path, "-a", "13", "-P", "20300101000000", "-A", "20300102000000", "-I", "20300201000000",
                "-D", "20300301000000", "lab.example",
            ]
        )
        #expect(gen.status == 0, "\(gen.stderr)")
        let base = dir.appendingPathComponent(gen.stdout.trimmingCharacters(in: .whitespacesAndNewlines)).path
        let set = try run("/usr/bin/dnssec-settime", ["-P", "sync", "20300105000000", base])
        #expect(set.status == 0, "\(set.stderr)")
        let k = try SigningKey.read(
            name: "K",
            publicText: String(contentsOfFile: base + ".key", encoding: .utf8),
            privateText: String(contentsOfFile: base + ".private", encoding: .utf8)
        )
        let t = k.timing
        #expect(
            t.publish == KeyTiming.parseTime("20300101000000") && t.activate == KeyTiming.parseTime("20300102000000")
        )
        #expect(
            t.inactive == KeyTiming.parseTime("20300201000000") && t.delete == KeyTiming.parseTime("20300301000000")
        )
        #expect(t.syncPublish == KeyTiming.parseTime("20300105000000") && t.created != nil)
        #expect(!k.isKeySigningKey && k.timing.state(at: KeyTiming.parseTime("20300110000000")!) == .active)
        // And the other way: BIND's dnssec-settime retimes a key gtmd wrote (format v1.3), and gtmd reads it.
        let ours = Self.key(false, KeyTiming(created: 1000, publish: 1000, inactive: 1_900_000_000))
        #expect(ours.privateText.hasPrefix("Private-key-format: v1.3\n"))
        let mine = dir.appendingPathComponent(ours.fileName).path
        try ours.publicText.write(toFile: mine + ".key", atomically: true, encoding: .utf8)
        try ours.privateText.write(toFile: mine + ".private", atomically: true, encoding: .utf8)
        let retime = try run("/usr/bin/dnssec-settime", ["-D", "20300301000000", mine])
        #expect(retime.status == 0, "\(retime.stderr)")
        let back = try SigningKey.read(
            name: "K",
            publicText: String(contentsOfFile: mine + ".key", encoding: .utf8),
            privateText: String(contentsOfFile: mine + ".private", encoding: .utf8)
        )
        #expect(back.timing.delete == KeyTiming.parseTime("20300301000000") && back.timing.inactive == 1_900_000_000)
        #expect(back.dnskey == ours.dnskey)
    }

    /// ZSK pre-publish (RFC 6781 §4.1.1.1): Z2 published at 100, signs from 200 when Z1 stops; Z1 goes at 300.
    @Test func zskPrePublishRoll() {
        let ksk = Self.key(true)
        let z1 = Self.key(false, KeyTiming(inactive: 200, delete: 300))
        let z2 = Self.key(false, KeyTiming(publish: 100, activate: 200))
        let s = KeySchedule(keys: [ksk, z1, z2])
        func tags(_ ks: [SigningKey]) -> Set<UInt16> { Set(ks.map(\.keyTag)) }
        let table: [(Int64, Set<UInt16>, Set<UInt16>, Int64?)] = [
            (0, [ksk.keyTag, z1.keyTag], [z1.keyTag], 100),
            (100, [ksk.keyTag, z1.keyTag, z2.keyTag], [z1.keyTag], 200),
            (200, [ksk.keyTag, z1.keyTag, z2.keyTag], [z2.keyTag], 300),
            (300, [ksk.keyTag, z2.keyTag], [z2.keyTag], nil),
        ]
        for (t, published, signing, next) in table {
            let r = s.roles(at: t)
            #expect(tags(r.published) == published, "t=\(t)")
            #expect(tags(r.zoneSigning) == signing && tags(r.keySigning) == [ksk.keyTag], "t=\(t)")
            #expect(r.nextEvent == next && r.overstaying.isEmpty, "t=\(t)")
        }
        let p = s.problems(now: 0, dnskeyTTL: 50, maxTTL: 60)
        #expect(p.errors.isEmpty && p.warnings.isEmpty, "\(p)")
        // Pre-published too briefly, removed too soon: warnings with the numbers.
        let tight = s.problems(now: 0, dnskeyTTL: 3600, maxTTL: 86_400).warnings
        #expect(tight.contains { $0.contains("signs 100 s after it is published") }, "\(tight)")
        #expect(tight.contains { $0.contains("goes 100 s after it stops signing") }, "\(tight)")
    }

    /// KSK double-DS (RFC 6781 §4.1.2): the new KSK's DS is listed (CDS) from the start; at 200 the KSKs swap
    /// in the DNSKEY set; from then on only the new one's DS belongs at the parent.
    @Test func kskDoubleDSRoll() {
        let k1 = Self.key(true, KeyTiming(inactive: 200, delete: 200))
        let k2 = Self.key(true, KeyTiming(publish: 200, activate: 200))
        let zsk = Self.key(false)
        let s = KeySchedule(keys: [k1, k2, zsk])
        let before = s.roles(at: 100)
        #expect(before.published.map(\.keyTag).sorted() == [k1.keyTag, zsk.keyTag].sorted())
        #expect(before.keySigning.map(\.keyTag) == [k1.keyTag])
        #expect(Set(before.sync.map(\.keyTag)) == [k1.keyTag, k2.keyTag], "both DS belong at the parent")
        let after = s.roles(at: 200)
        #expect(after.published.map(\.keyTag).sorted() == [k2.keyTag, zsk.keyTag].sorted())
        #expect(after.keySigning.map(\.keyTag) == [k2.keyTag] && after.zoneSigning.map(\.keyTag) == [zsk.keyTag])
        #expect(after.sync.map(\.keyTag) == [k2.keyTag])
        // SyncPublish / SyncDelete move the CDS window.
        let k3 = Self.key(true, KeyTiming(syncPublish: 150, syncDelete: 250))
        #expect(k3.timing.inSync(at: 149) == false && k3.timing.inSync(at: 150) && !k3.timing.inSync(at: 250))
    }

    @Test(arguments: [
        // (ZSK timings, error or warning, text)
        ([KeyTiming(inactive: 200), KeyTiming(activate: 300)], true, "no zone-signing (ZSK) key is active from"),
        ([KeyTiming(activate: 500)], true, "no zone-signing (ZSK) key is active now: the first"),
        ([KeyTiming(inactive: 200)], false, "stops signing at"),
        ([KeyTiming(inactive: 50)], false, "keeps signing past its end"),
        ([KeyTiming(publish: 300, activate: 200)], true, "before Publish"),
    ])
    func timelineProblems(_ zsks: [KeyTiming], _ isError: Bool, _ says: String) {
        let s = KeySchedule(keys: [Self.key(true)] + zsks.map { Self.key(false, $0) })
        let p = s.problems(now: 100, dnskeyTTL: 0, maxTTL: 0)
        let found = isError ? p.errors : p.warnings
        #expect(found.contains { $0.contains(says) }, "\(p)")
        if isError == false { #expect(p.errors.isEmpty, "\(p)") }
    }

    /// The last ZSK stops at 200 with no successor: it keeps signing (and stays published past Delete) rather
    /// than leave the zone unsigned; the end is reported for the warning before it.
    @Test func lastKeyOverstaysInsteadOfLeavingTheZoneUnsigned() {
        let ksk = Self.key(true)
        let z = Self.key(false, KeyTiming(inactive: 200, delete: 300))
        let s = KeySchedule(keys: [ksk, z])
        let r = s.roles(at: 400)
        #expect(r.zoneSigning.map(\.keyTag) == [z.keyTag] && r.overstaying.map(\.keyTag) == [z.keyTag])
        #expect(r.published.contains { $0 === z })
        let ends = s.signingEnds(from: 100)
        #expect(ends.count == 1 && ends[0].role == .zsk && ends[0].at == 200, "\(ends)")
        #expect(s.states(at: 400).first { $0.key === z }?.overstaying == true)
        #expect(KeySchedule(keys: [ksk, Self.key(false)]).signingEnds(from: 100).isEmpty)
    }

    /// The signer follows a ZSK roll: each compile fixes the DNSKEY set and the signing key at its clock; every
    /// signature verifies against that DNSKEY set (ldns); a key event re-signs what the new key signs, and the
    /// DNSKEY set (signed by the KSK) is re-signed when its content changes.
    @Test func signerFollowsARoll() throws {
        let ksk = Self.key(true)
        let z1 = Self.key(false, KeyTiming(inactive: 2_000_000_200, delete: 2_000_000_300))
        let z2 = Self.key(false, KeyTiming(publish: 2_000_000_100, activate: 2_000_000_200))
        let clock = Mutex<UInt32>(2_000_000_000)
        let signer = ZoneSigner(zone: Self.zone, keys: [ksk, z1, z2], clock: { clock.withLock { $0 } })
        let rrset = [ResourceRecord(owner: Self.zone, type: RRType.TXT, ttl: 60, rdata: [2, 104, 105])]
        func check(_ at: UInt32, dnskeys: Set<UInt16>, signer want: UInt16) throws {
            clock.withLock { $0 = at }
            let apex = signer.beginCompile()
            let dnskey = apex.filter { $0.type == RRType.DNSKEY }
            #expect(Set(dnskey.map { r in signer.keys.first { $0.dnskey.rdata == r.rdata }!.keyTag }) == dnskeys)
            let sig = try #require(signer.signatures(rrset).records.first)
            #expect(UInt16(sig.rdata[16]) << 8 | UInt16(sig.rdata[17]) == want, "t=\(at)")
            #expect(DnssecVerify.failure(rrset: rrset, signature: sig, keys: dnskey, now: at) == nil)
            let ksig = try #require(signer.signatures(dnskey).records.first)
            #expect(DnssecVerify.failure(rrset: dnskey, signature: ksig, keys: dnskey, now: at) == nil)
        }
        try check(2_000_000_000, dnskeys: [ksk.keyTag, z1.keyTag], signer: z1.keyTag)
        #expect(signer.nextKeyEvent == 2_000_000_100)
        let made = signer.counts.signed
        try check(2_000_000_100, dnskeys: [ksk.keyTag, z1.keyTag, z2.keyTag], signer: z1.keyTag)
        #expect(signer.counts.signed == made + 1, "pre-publish re-signs only the new DNSKEY set")
        try check(2_000_000_200, dnskeys: [ksk.keyTag, z1.keyTag, z2.keyTag], signer: z2.keyTag)
        try check(2_000_000_300, dnskeys: [ksk.keyTag, z2.keyTag], signer: z2.keyTag)
        #expect(signer.nextKeyEvent == nil)
    }
}
