import CLibcrypto
import DNSWire
import Foundation
import TestSupport
import Testing

/// Signing keys and signatures through ldns, checked by ldns's verifier and by ldnsutils' own tools
/// (ldns-keygen makes keys we must read; ldns-key2ds computes the DS we must match).
@Suite struct DnssecKeys {
    static let zone = try! DNSName("lab.example.")
    static let now = UInt32(Date().timeIntervalSince1970)
    static func rrset() throws -> [ResourceRecord] {
        [
            try LdnsRR.parse("www.lab.example. 30 IN A 127.0.0.11", origin: zone, defaultTTL: 30),
            try LdnsRR.parse("www.lab.example. 30 IN A 127.0.0.12", origin: zone, defaultTTL: 30),
        ]
    }

    /// CLibcrypto's functions forward to libcrypto.so.3, loaded at the first call (in this debug build ldns links
    /// the library itself, so its calls do not come this way; the release build's do).
    @Test func libcryptoCallsReachTheLibrary() throws {
        var digest = [UInt8](repeating: 0, count: 32)
        let abc: [UInt8] = Array("abc".utf8)
        #expect(gtmd_libcrypto_sha256(abc, UInt(abc.count), &digest) == 0)
        // FIPS 180-2, appendix B.1.
        #expect(
            digest.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }
                .joined() == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        )
        #expect(gtmd_libcrypto_loaded() == 1)
        #expect(gtmd_libcrypto_load() == nil)
    }

    @Test(arguments: DnssecAlgorithm.allCases)
    func signedRRsetsVerifyAndTamperingIsCaught(_ algorithm: DnssecAlgorithm) throws {
        let key = try SigningKey.generate(zone: Self.zone, algorithm: algorithm, keySigning: false)
        #expect(key.flags == 256 && !key.isKeySigningKey && key.dnskey.rdata[3] == algorithm.rawValue)
        let set = try Self.rrset()
        let sig = try key.sign(set, inception: Self.now - 3600, expiration: Self.now + 14 * 86400)
        #expect(sig.type == RRType.RRSIG && sig.owner == set[0].owner)
        #expect(DnssecVerify.failure(rrset: set, signature: sig, keys: [key.dnskey], now: Self.now) == nil)
        // The signature covers the data, the time window and the key.
        var changed = set
        changed[1].rdata = [127, 0, 0, 13]
        #expect(DnssecVerify.failure(rrset: changed, signature: sig, keys: [key.dnskey], now: Self.now) != nil)
        #expect(DnssecVerify.failure(rrset: set, signature: sig, keys: [key.dnskey], now: Self.now + 15 * 86400) != nil)
        let other = try SigningKey.generate(zone: Self.zone, algorithm: algorithm, keySigning: false)
        #expect(DnssecVerify.failure(rrset: set, signature: sig, keys: [other.dnskey], now: Self.now) != nil)
    }

    @Test(arguments: DnssecAlgorithm.allCases)
    func keyFilesRoundTrip(_ algorithm: DnssecAlgorithm) throws {
        let key = try SigningKey.generate(zone: Self.zone, algorithm: algorithm, keySigning: true)
        #expect(key.fileName == String(format: "Klab.example.+%03d+%05d", Int(algorithm.rawValue), Int(key.keyTag)))
        let back = try SigningKey.read(name: key.fileName, publicText: key.publicText, privateText: key.privateText)
        #expect(back.keyTag == key.keyTag && back.dnskey == key.dnskey && back.flags == 257)
        // The key read back signs what the original's DNSKEY verifies.
        let sig = try back.sign(try Self.rrset(), inception: Self.now - 60, expiration: Self.now + 3600)
        #expect(DnssecVerify.failure(rrset: try Self.rrset(), signature: sig, keys: [key.dnskey], now: Self.now) == nil)
    }

    /// ldns-keygen's files are read, and our DS equals ldns-key2ds's.
    @Test(arguments: [("ECDSAP256SHA256", DnssecAlgorithm.ecdsaP256SHA256), ("ED25519", .ed25519)])
    func readsLdnsKeygenFilesAndMatchesItsDS(_ name: String, _ algorithm: DnssecAlgorithm) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gtmd-keys-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let made = try runIn(dir, "/usr/bin/ldns-keygen", ["-a", name, "-k", "lab.example"])
        let base = made.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(base.hasPrefix("Klab.example.+0\(algorithm.rawValue)+"), "\(made)")
        let pub = try String(contentsOf: dir.appendingPathComponent(base + ".key"), encoding: .utf8)
        let priv = try String(contentsOf: dir.appendingPathComponent(base + ".private"), encoding: .utf8)
        let key = try SigningKey.read(name: base, publicText: pub, privateText: priv)
        #expect(key.fileName == base && key.isKeySigningKey && key.algorithm == algorithm)
        let theirs = try String(contentsOf: dir.appendingPathComponent(base + ".ds"), encoding: .utf8)
        let ds = try #require(key.ds())
        let theirDS = try LdnsRR.parse(
            theirs.split(separator: ";")[0].trimmingCharacters(in: .whitespaces),
            origin: .root,
            defaultTTL: 3600
        )
        #expect(ds.rdata == theirDS.rdata, "\(LdnsRR.presentation(ds)) vs \(theirs)")
    }

    @Test func badKeyFilesSayWhichAndWhy() throws {
        let key = try SigningKey.generate(zone: Self.zone, algorithm: .ed25519, keySigning: true)
        let other = try SigningKey.generate(zone: Self.zone, algorithm: .ed25519, keySigning: true)
        #expect(throws: DnssecError("Kx: the private key does not match the DNSKEY in Kx.key")) {
            try SigningKey.read(name: "Kx", publicText: key.publicText, privateText: other.privateText)
        }
        #expect(throws: DnssecError("Kx.key: no DNSKEY record")) {
            try SigningKey.read(name: "Kx", publicText: "; only a comment\n", privateText: key.privateText)
        }
        let rsa = "lab.example. IN DNSKEY 257 3 8 AwEAAb=="
        #expect(throws: DnssecError.self) {
            try SigningKey.read(name: "Kx", publicText: rsa, privateText: key.privateText)
        }
        do {
            _ = try SigningKey.read(
                name: "Kx",
                publicText: key.publicText,
                privateText: "Private-key-format: v1.2\nAlgorithm: 15\n"
            )
            Issue.record("a private file without a key was accepted")
        } catch { #expect(error.description.hasPrefix("Kx.private:"), "\(error)") }
        #expect(throws: DnssecError.self) {
            _ = try key.sign(
                [
                    try LdnsRR.parse("a.lab.example. 30 IN A 1.2.3.4", origin: Self.zone, defaultTTL: 30),
                    try LdnsRR.parse("b.lab.example. 30 IN A 1.2.3.4", origin: Self.zone, defaultTTL: 30),
                ],
                inception: 0,
                expiration: 1
            )
        }
    }

    /// ldns-keygen writes into its working directory: run it there through sh.
    func runIn(_ dir: URL, _ exe: String, _ args: [String]) throws -> CommandResult {
        try run("/bin/sh", ["-c", "cd \"$0\" && exec \"$@\"", dir.path, exe] + args)
    }
}
