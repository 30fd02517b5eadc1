import Foundation
import TestSupport
import Testing

/// DNSSEC through a real validating unbound: the real gtmd serves the lab zone signed with `keys: auto`, the
/// resolver's trust anchor is the DS `gtmd dnssec ds` prints, and every answer must come back SECURE (AD),
/// before and after a failover and a failback, NXDOMAIN and NODATA included, never SERVFAIL.
@Suite(.serialized) struct DnssecTests {
    /// (name, type, expected status) asked through the validating resolver.
    static let labNames: [(String, String, String)] = [
        ("lab.example", "SOA", "NOERROR"), ("lab.example", "NS", "NOERROR"), ("lab.example", "MX", "NOERROR"),
        ("lab.example", "DNSKEY", "NOERROR"), ("lab.example", "CDS", "NOERROR"), ("ns1.lab.example", "A", "NOERROR"),
        ("www.lab.example", "A", "NOERROR"), ("www.lab.example", "AAAA", "NOERROR"),
        ("alias.lab.example", "A", "NOERROR"), ("chain.lab.example", "A", "NOERROR"),
        ("x.wild.lab.example", "A", "NOERROR"), ("x.wild.lab.example", "MX", "NOERROR"),
        ("b.ent.lab.example", "A", "NOERROR"), ("ent.lab.example", "TXT", "NOERROR"),
        ("nothere.lab.example", "A", "NXDOMAIN"), ("a.b.c.nothere.lab.example", "AAAA", "NXDOMAIN"),
        ("dual.lab.example", "AAAA", "NOERROR"), ("txt.lab.example", "TXT", "NOERROR"),
        ("big.lab.example", "TXT", "NOERROR"), ("_sip._udp.lab.example", "SRV", "NOERROR"),
        ("svc.lab.example", "HTTPS", "NOERROR"), ("child.lab.example", "DS", "NOERROR"),
        ("sub.lab.example", "DS", "NOERROR"), ("mail.lab.example", "TXT", "NOERROR"),
    ]

    func setUp(denial: String) throws -> (FailoverLab, UnboundResolver)? {
        guard UnboundResolver.available else {
            Issue.record("unbound is not installed (scripts/deps.sh)")
            return nil
        }
        let lab = try FailoverLab(dnssec: "{ keys: auto, denial: \(denial) }")
        try lab.waitForAnswer([lab.primaries[0].address], within: 10)
        #expect(lab.server.log.contains("dnssec: new CSK for lab.example. (ECDSAP256SHA256"), "\(lab.server.log)")
        let ds = try lab.gtmdOffline(["dnssec", "ds"])
        #expect(ds.status == 0, "\(ds.stderr)")
        let anchor = ds.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(anchor.contains("\tDS\t") || anchor.contains(" DS "), "\(anchor)")
        // Cache at most 1 s, so the resolver follows the switch at once (the test is about validation).
        let resolver = try UnboundResolver(
            zone: "lab.example",
            stub: "127.0.0.1",
            stubPort: lab.server.port,
            ecs: false,
            trustAnchor: anchor,
            serverOptions: ["cache-max-ttl: 1", "cache-max-negative-ttl: 1"]
        )
        return (lab, resolver)
    }

    func ask(_ r: UnboundResolver, _ name: String, _ type: String = "A") throws -> DigResult {
        try dig(name, type, server: r.address, port: r.port, ["+rec", "+dnssec"])
    }

    /// The addresses of an answer (its RRSIGs left out).
    func addresses(_ r: DigResult) -> [String] {
        zip(r.answerTypes, r.answerData).filter { $0.0 == "A" }.map(\.1)
    }

    @Test(arguments: ["nsec", "nsec3"])
    func everyLabNameIsSecure(_ denial: String) throws {
        guard let (lab, resolver) = try setUp(denial: denial) else { return }
        for (name, type, status) in Self.labNames {
            let r = try ask(resolver, name, type)
            #expect(r.status == status, "\(denial) \(name) \(type)\n\(r)\n\(resolver.log)")
            #expect(r.flags.contains("ad"), "\(denial) \(name) \(type) is not secure\n\(r)\n\(resolver.log)")
        }
        _ = lab
    }

    @Test func failoverAndFailbackStaySecure() throws {
        guard let (lab, resolver) = try setUp(denial: "nsec") else { return }
        let primary = lab.primaries[0].address
        let standby = lab.standby.address
        let before = try ask(resolver, "www.lab.example")
        #expect(addresses(before) == [primary] && before.flags.contains("ad"), "\(before)\n\(resolver.log)")
        var statuses: Set<String> = []
        func secure(_ want: String) throws -> Bool {
            let r = try ask(resolver, "www.lab.example")
            statuses.insert(r.status)
            return addresses(r) == [want] && r.flags.contains("ad")
        }
        lab.primaries[0].kill()
        try waitFor("standby answered SECURE\n\(lab.server.log)\n\(resolver.log)", timeout: 15, interval: 0.1) {
            try secure(standby)
        }
        try lab.primaries[0].start()
        try waitFor("primary answered SECURE again\n\(lab.server.log)\n\(resolver.log)", timeout: 15, interval: 0.1) {
            try secure(primary)
        }
        #expect(statuses == ["NOERROR"], "a client saw \(statuses)\n\(resolver.log)")
        // NXDOMAIN and NODATA after the switches, and the service's NODATA for AAAA.
        for (name, type, status) in [
            ("gone.lab.example", "A", "NXDOMAIN"), ("www.lab.example", "AAAA", "NOERROR"),
            ("www.lab.example", "TXT", "NOERROR"),
        ] {
            let r = try ask(resolver, name, type)
            #expect(r.status == status && r.flags.contains("ad") && r.answer.isEmpty, "\(name) \(type)\n\(r)")
        }
    }
}

/// Key rolls driven by key timing metadata, through the real gtmd and a real validating unbound (cache at most
/// 1 s, DNSKEY TTL 1 s): the events are a few seconds apart, and every answer before, during and after the
/// roll is SECURE, never SERVFAIL. Phases are read from gtmd itself (DNSKEY set, the SOA's RRSIG key tag).
@Suite(.serialized) struct DnssecRollTests {
    /// `gtmd dnssec keygen ZONE ARGS --dir DIR`: the key's base path.
    static func keygen(_ dir: String, _ args: [String]) throws -> String {
        let r = try run(GtmdServer.binary, ["dnssec", "keygen", "lab.example"] + args + ["--dir", dir])
        guard r.status == 0 else { throw TestError.failed("keygen \(args): \(r.stderr)") }
        return dir + "/" + r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static func keyTag(_ base: String) -> String { String(Int(base.split(separator: "+").last!)!) }

    /// Key tags as one sorted, comma-separated word.
    static func list(_ tags: some Sequence<String>) -> String { tags.sorted().joined(separator: ",") }

    /// Key tags of the DNSKEY records with `flags`, and of the SOA's RRSIGs, as gtmd serves them now; nil when a
    /// query went unanswered (dig's 2 s timeout on a loaded machine), so that a poll without an answer is not read
    /// as a phase with no keys.
    static func served(_ port: Int, flags: String) throws -> (dnskeys: Set<String>, soaSigners: Set<String>)? {
        let k = try dig("lab.example", "DNSKEY", port: port, ["+dnssec", "+multiline"])
        guard !k.status.isEmpty else { return nil }
        // +multiline prints "; KSK; alg = ECDSAP256SHA256 ; key id = N" after each key.
        var tags: Set<String> = []
        for line in k.raw.split(separator: "\n") where line.contains("key id = ") {
            let isKSK = line.contains("KSK")
            if (flags == "257") == isKSK, let id = line.split(separator: "=").last {
                tags.insert(id.trimmingCharacters(in: .whitespaces))
            }
        }
        let soa = try dig("lab.example", "SOA", port: port, ["+dnssec"])
        guard !soa.status.isEmpty else { return nil }
        let sigs = zip(soa.answerTypes, soa.answerData).filter { $0.0 == "RRSIG" }.map {
            String($0.1.split(separator: " ")[6])
        }
        return (tags, Set(sigs))
    }

    /// Asks the resolver a few names until `done` says the roll is over (bounded by `deadline` seconds); every
    /// answer must be SECURE with the expected status. Returns the phases seen, in order.
    static func watch(
        _ resolver: UnboundResolver,
        _ lab: FailoverLab,
        deadline: Double,
        phase: () throws -> String?,
        done: (String) -> Bool
    ) throws -> [String] {
        var phases: [String] = []
        var statuses: [String: Int] = [:]
        var bad: [String] = []
        let questions = [
            ("www.lab.example", "A", "NOERROR"), ("lab.example", "SOA", "NOERROR"),
            ("nothere.lab.example", "A", "NXDOMAIN"), ("www.lab.example", "TXT", "NOERROR"),
        ]
        defer { if phases.count < 2 { print("phases: \(phases)\n\(lab.server.log)\n\(resolver.log)") } }
        try waitFor("roll finished (phases seen: see the output)", timeout: deadline, interval: 0.2) {
            guard let p = try phase() else { return false }  // unanswered: poll again
            if phases.last != p { phases.append(p) }
            for (name, type, want) in questions {
                let r = try dig(name, type, server: resolver.address, port: resolver.port, ["+rec", "+dnssec"])
                statuses[r.status, default: 0] += 1
                if r.status != want || !r.flags.contains("ad") { bad.append("[\(p)] \(name) \(type): \(r)") }
            }
            return done(p)
        }
        #expect(bad.isEmpty, "not SECURE during the roll:\n\(bad.prefix(3).joined(separator: "\n"))\n\(resolver.log)")
        #expect(statuses["SERVFAIL"] == nil, "\(statuses)")
        return phases
    }

    func resolver(_ lab: FailoverLab, anchor: String) throws -> UnboundResolver {
        try UnboundResolver(
            zone: "lab.example",
            stub: "127.0.0.1",
            stubPort: lab.server.port,
            ecs: false,
            trustAnchor: anchor,
            serverOptions: ["cache-max-ttl: 1", "cache-max-negative-ttl: 1", "val-bogus-ttl: 1"]
        )
    }

    /// ZSK pre-publish roll (RFC 6781 §4.1.1.1): Z2 is published, then signs when Z1 stops, then Z1 goes.
    @Test func zskPrePublishRollStaysSecure() throws {
        guard UnboundResolver.available else {
            Issue.record("unbound is not installed (scripts/deps.sh)")
            return
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gtmd-roll-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        // One clock for every key: times as seconds since 1970 (relative times would differ per keygen run).
        let t0 = Int(Date().timeIntervalSince1970)
        let ksk = try Self.keygen(dir, ["--ksk"])
        let z1 = try Self.keygen(dir, ["--zsk", "--inactive", "\(t0 + 24)", "--delete", "\(t0 + 32)"])
        let z2 = try Self.keygen(dir, ["--zsk", "--publish", "\(t0 + 15)", "--activate", "\(t0 + 24)"])
        let lab = try FailoverLab(dnssec: "{ keys: [\(ksk), \(z1), \(z2)], dnskey_ttl: 1 }")
        try lab.waitForAnswer([lab.primaries[0].address], within: 10)
        let ds = try lab.gtmdOffline(["dnssec", "ds"])
        #expect(ds.status == 0, "\(ds.stderr)")
        let r = try resolver(lab, anchor: ds.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        let (t1, t2) = (Self.keyTag(z1), Self.keyTag(z2))
        let phases = try Self.watch(r, lab, deadline: 50) {
            try Self.served(lab.server.port, flags: "256").map {
                "dnskey \(Self.list($0.dnskeys)) signer \(Self.list($0.soaSigners))"
            }
        } done: {
            $0 == "dnskey \(t2) signer \(t2)"
        }
        let want = [
            "dnskey \(t1) signer \(t1)", "dnskey \(Self.list([t1, t2])) signer \(t1)",
            "dnskey \(Self.list([t1, t2])) signer \(t2)", "dnskey \(t2) signer \(t2)",
        ]
        #expect(phases == want, "\(phases)\n\(lab.server.log)")
        #expect(lab.server.log.contains("dnssec: key event"), "\(lab.server.log)")
    }

    /// KSK double-DS roll (RFC 6781 §4.1.2): the trust anchor is the DS set of both KSKs (what the parent holds
    /// during the roll: CDS lists both); at the swap the new KSK replaces the old in the DNSKEY set; then CDS
    /// lists the new one only.
    @Test func kskDoubleDSRollStaysSecure() throws {
        guard UnboundResolver.available else {
            Issue.record("unbound is not installed (scripts/deps.sh)")
            return
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gtmd-roll-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let swap = "\(Int(Date().timeIntervalSince1970) + 15)"
        let k1 = try Self.keygen(dir, ["--ksk", "--inactive", swap, "--delete", swap])
        let k2 = try Self.keygen(dir, ["--ksk", "--publish", swap, "--activate", swap])
        let zsk = try Self.keygen(dir, ["--zsk"])
        let lab = try FailoverLab(dnssec: "{ keys: [\(k1), \(k2), \(zsk)], dnskey_ttl: 1 }")
        try lab.waitForAnswer([lab.primaries[0].address], within: 10)
        // The DS set the parent holds during the roll, as the CDS set lists it now.
        let cds = try dig("lab.example", "CDS", port: lab.server.port)
        #expect(cds.answer.count == 2, "\(cds)")
        let ds = try run(GtmdServer.binary, ["dnssec", "ds", k1 + ".key", k2 + ".key"])
        #expect(ds.status == 0 && ds.stdout.split(separator: "\n").count == 2, "\(ds.stderr)")
        let r = try resolver(lab, anchor: ds.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        let (t1, t2) = (Self.keyTag(k1), Self.keyTag(k2))
        let phases = try Self.watch(r, lab, deadline: 35) {
            try Self.served(lab.server.port, flags: "257").map { "ksk \(Self.list($0.dnskeys))" }
        } done: {
            $0 == "ksk \(t2)"
        }
        #expect(phases == ["ksk \(t1)", "ksk \(t2)"], "\(phases)\n\(lab.server.log)")
        let after = try dig("lab.example", "CDS", port: lab.server.port)
        #expect(after.answer.count == 1 && after.answerData[0].hasPrefix("\(t2) "), "\(after)")
    }
    /// `keys: auto` rolls its own CSK: at `key_lifetime` the successor is published (CDS lists both) while the
    /// old CSK keeps signing; the parent gets the new DS (the resolver's trust anchor becomes both DSes);
    /// `gtmd dnssec ds-seen` makes the successor sign; the old CSK goes. Every answer stays SECURE throughout.
    @Test func autoCSKRollWaitsForDSAndStaysSecure() throws {
        guard UnboundResolver.available else {
            Issue.record("unbound is not installed (scripts/deps.sh)")
            return
        }
        let lab = try FailoverLab(
            dnssec: "{ keys: auto, key_lifetime: 12s, parent_ds_ttl: 1s, dnskey_ttl: 1, zone_max_ttl: 2s }"
        )
        try lab.waitForAnswer([lab.primaries[0].address], within: 10)
        let folder = lab.dir.appendingPathComponent("dnssec").path
        func bases() throws -> [String] {
            try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasSuffix(".key") }.sorted().map {
                folder + "/" + String($0.dropLast(4))
            }
        }
        let first = try bases()
        #expect(first.count == 1, "\(first)")
        let k1 = try #require(first.first)
        let t1 = Self.keyTag(k1)
        let ds1 = try run(GtmdServer.binary, ["dnssec", "ds", k1 + ".key"])
        #expect(ds1.status == 0, "\(ds1.stderr)")
        func phase() throws -> String? {
            try Self.served(lab.server.port, flags: "257").map {
                "dnskey \(Self.list($0.dnskeys)) signer \(Self.list($0.soaSigners))"
            }
        }
        // 1. The parent holds the old DS only: the successor appears, the old key keeps signing.
        var k2 = ""
        var t2 = ""
        do {
            let r = try resolver(lab, anchor: ds1.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
            let phases = try Self.watch(r, lab, deadline: 40, phase: phase) { $0 != "dnskey \(t1) signer \(t1)" }
            let now = try bases()
            #expect(now.count == 2, "\(now)")
            k2 = try #require(now.first { $0 != k1 })
            t2 = Self.keyTag(k2)
            #expect(
                phases == ["dnskey \(t1) signer \(t1)", "dnskey \(Self.list([t1, t2])) signer \(t1)"],
                "\(phases)\n\(lab.server.log)"
            )
        }
        let mode = try FileManager.default.attributesOfItem(atPath: k2 + ".private")[.posixPermissions] as? Int
        #expect(mode == 0o600)
        let cds = try dig("lab.example", "CDS", port: lab.server.port)
        #expect(cds.answer.count == 2, "\(cds)")
        let status = try lab.gtmd(["status"])
        #expect(status.stdout.contains("waiting for its DS at the parent"), "\(status.stdout)")
        #expect(lab.server.log.contains("key_lifetime reached"), "\(lab.server.log)")
        let metrics = try lab.server.control("GET", "/metrics").body
        let waiting = metrics.split(separator: "\n").first {
            $0.hasPrefix("gtmd_dnssec_waiting_for_ds_since_timestamp_seconds{")
        }
        #expect((waiting?.split(separator: " ").last.flatMap { Double($0) } ?? 0) > 1e9, "\(metrics)")
        #expect(!metrics.contains("gtmd_dnssec_signing_ends_timestamp_seconds"), "key-expiry alert input while waiting")
        // Nothing happens on a timer while the DS is not confirmed.
        Thread.sleep(forTimeInterval: 2)
        #expect(try phase() == "dnskey \(Self.list([t1, t2])) signer \(t1)")
        // Wrong input is refused with what is wrong.
        let wrongTag = try lab.gtmd(["dnssec", "ds-seen", "lab.example", t1])
        #expect(wrongTag.status == 1 && wrongTag.stderr.contains("is not the successor"), "\(wrongTag.stderr)")
        let wrongZone = try lab.gtmd(["dnssec", "ds-seen", "nothere.example"])
        #expect(wrongZone.status == 1 && wrongZone.stderr.contains("no zone nothere.example"), "\(wrongZone.stderr)")
        // 2. The parent holds both DSes; the operator confirms; the successor takes over, the old key goes.
        let both = try run(GtmdServer.binary, ["dnssec", "ds", k1 + ".key", k2 + ".key"])
        #expect(both.status == 0 && both.stdout.split(separator: "\n").count == 2, "\(both.stderr)")
        let r = try resolver(lab, anchor: both.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        let seen = try lab.gtmd(["dnssec", "ds-seen", "lab.example", t2])
        #expect(seen.status == 0 && seen.stdout.contains("DS of CSK \(t2) seen"), "\(seen.stdout)\(seen.stderr)")
        let phases = try Self.watch(r, lab, deadline: 30, phase: phase) { $0 == "dnskey \(t2) signer \(t2)" }
        let allowed = [
            "dnskey \(Self.list([t1, t2])) signer \(t1)", "dnskey \(Self.list([t1, t2])) signer \(t2)",
            "dnskey \(t2) signer \(t2)",
        ]
        #expect(phases.allSatisfy(allowed.contains) && phases.last == allowed[2], "\(phases)\n\(lab.server.log)")
        let after = try dig("lab.example", "CDS", port: lab.server.port)
        #expect(after.answer.count == 1 && after.answerData[0].hasPrefix("\(t2) "), "\(after)")
        // The decision is on disk: the old key's file carries its Inactive and Delete times.
        let old = try String(contentsOfFile: k1 + ".private", encoding: .utf8)
        #expect(old.contains("Inactive: ") && old.contains("Delete: "), "\(old)")
    }
}
