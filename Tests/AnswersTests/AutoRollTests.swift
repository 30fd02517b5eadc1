import Answers
import DNSWire
import Testing

/// The automatic CSK roll of `keys: auto` (`AutoRoll`): its step from the keys' timing at each time, the
/// successor it writes, and what `ds-seen` does to both keys' timing.
@Suite struct AutoRollTests {
    static let zone = try! DNSName("lab.example.")
    static func key(_ t: KeyTiming) -> SigningKey {
        try! SigningKey.generate(zone: zone, algorithm: .ecdsaP256SHA256, keySigning: true, timing: t)
    }

    /// Old key made at 1000, lifetime 100: due at 1100; a successor published at 1100 waits for the DS.
    @Test func stepsFromTheKeysTiming() throws {
        let old = Self.key(KeyTiming(created: 1000))
        #expect(AutoRoll.step(keys: [old], lifetime: 100, now: 1050) == .due(key: old.keyTag, at: 1100))
        #expect(AutoRoll.step(keys: [old], lifetime: nil, now: 1050) == .off)
        #expect(AutoRoll.step(keys: [old], lifetime: 0, now: 1050) == .off)
        let new = try AutoRoll.successor(zone: Self.zone, algorithm: .ecdsaP256SHA256, now: 1100)
        #expect(new.timing == KeyTiming(created: 1100, publish: 1100))
        #expect(new.timing.state(at: 1100) == .published && new.timing.state(at: 99_999) == .published)
        // Waiting: no timer moves it on, however long.
        for t: Int64 in [1100, 5000, 1_000_000] {
            #expect(
                AutoRoll.step(keys: [old, new], lifetime: 100, now: t)
                    == .waitingForDS(old: old.keyTag, successor: new.keyTag, since: 1100)
            )
            let roles = KeySchedule(keys: [old, new]).roles(at: t)
            #expect(roles.keySigning.map(\.keyTag) == [old.keyTag] && roles.zoneSigning.map(\.keyTag) == [old.keyTag])
            #expect(roles.published.count == 2 && roles.sync.count == 2)
            // The key-expiry warning has nothing to warn about: the old key has no end.
            #expect(KeySchedule(keys: [old, new]).signingEnds(from: t).isEmpty)
        }
    }

    /// ds-seen at 2000 with parent DS TTL 60, DNSKEY TTL 10, zone max TTL 300: the switch at 2060, old key
    /// gone at 2360; then the steps follow with no one's help, and the next roll is due a lifetime later.
    @Test func dsSeenRetimesBothKeys() throws {
        let old = Self.key(KeyTiming(created: 1000))
        let new = Self.key(KeyTiming(created: 1100, publish: 1100))
        let waiting = AutoRoll.step(keys: [old, new], lifetime: 100, now: 2000)
        let r = try AutoRoll.dsSeen(
            keys: [old, new],
            step: waiting,
            keyTag: new.keyTag,
            now: 2000,
            parentDSTTL: 60,
            dnskeyTTL: 10,
            maxTTL: 300
        )
        #expect(r.oldTiming == KeyTiming(created: 1000, inactive: 2060, delete: 2360, syncDelete: 2060))
        #expect(r.successorTiming == KeyTiming(created: 1100, publish: 1100, activate: 2060))
        let o = Self.key(r.oldTiming)
        let n = Self.key(r.successorTiming)
        let s = KeySchedule(keys: [o, n])
        #expect(s.problems(now: 2000, dnskeyTTL: 10, maxTTL: 300).errors.isEmpty)
        let table: [(Int64, AutoRoll.Step, [UInt16], [UInt16], [UInt16])] = [
            (
                2000, .switching(old: o.keyTag, successor: n.keyTag, at: 2060), [o.keyTag], [o.keyTag, n.keyTag],
                [o.keyTag, n.keyTag]
            ),
            (
                2060, .retiring(old: o.keyTag, successor: n.keyTag, at: 2360), [n.keyTag], [o.keyTag, n.keyTag],
                [n.keyTag]
            ),
            (2360, .due(key: n.keyTag, at: 2160), [n.keyTag], [n.keyTag], [n.keyTag]),
        ]
        for (t, step, signers, published, cds) in table {
            #expect(AutoRoll.step(keys: [o, n], lifetime: 100, now: t) == step, "at \(t)")
            let roles = s.roles(at: t)
            #expect(roles.keySigning.map(\.keyTag) == signers, "at \(t)")
            #expect(Set(roles.published.map(\.keyTag)) == Set(published), "at \(t)")
            #expect(Set(roles.sync.map(\.keyTag)) == Set(cds), "at \(t)")
        }
        // A successor published moments ago waits for the DNSKEY TTL too.
        let fresh = Self.key(KeyTiming(created: 1995, publish: 1995))
        let r2 = try AutoRoll.dsSeen(
            keys: [old, fresh],
            step: AutoRoll.step(keys: [old, fresh], lifetime: 100, now: 2000),
            keyTag: nil,
            now: 2000,
            parentDSTTL: 0,
            dnskeyTTL: 3600,
            maxTTL: 300
        )
        #expect(r2.successorTiming.activate == Int64(5595))
    }

    /// ds-seen refuses what does not fit: no successor waiting, the old key's tag, a ZSK set, keys set by hand.
    @Test func dsSeenRefusals() throws {
        let old = Self.key(KeyTiming(created: 1000))
        let new = Self.key(KeyTiming(created: 1100, publish: 1100))
        func refused(_ keys: [SigningKey], _ tag: UInt16?) -> String {
            do {
                _ = try AutoRoll.dsSeen(
                    keys: keys,
                    step: AutoRoll.step(keys: keys, lifetime: 100, now: 2000),
                    keyTag: tag,
                    now: 2000,
                    parentDSTTL: 60,
                    dnskeyTTL: 10,
                    maxTTL: 300
                )
                return "accepted"
            } catch { return error.description }
        }
        #expect(refused([old], nil).contains("no successor waits for its DS"))
        #expect(refused([old, new], old.keyTag).contains("key tag \(old.keyTag) is not the successor"))
        let zsk = try SigningKey.generate(zone: Self.zone, algorithm: .ecdsaP256SHA256, keySigning: false)
        #expect(
            AutoRoll.step(keys: [old, zsk], lifetime: 100, now: 2000)
                == .manual("the zone has a ZSK; the automatic roll rolls a single CSK")
        )
        let byHand = Self.key(KeyTiming(created: 1000, inactive: 5000))
        if case .manual = AutoRoll.step(keys: [byHand], lifetime: 100, now: 2000) {
        } else {
            Issue.record("a key retimed by hand is rolled")
        }
    }
}
