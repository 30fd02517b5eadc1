import CLdns
import CLibcrypto

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

// DNSSEC through libldns: signing keys (generated, or read from the `K<zone>+<alg>+<tag>.key/.private`
// files that ldns-keygen and BIND write), DNSKEY and DS records, RRset signatures, and verification (the
// oracle for tests and `gtmd check`). Key timing metadata: KeyTiming.swift.

/// OpenSSL's libcrypto, which ldns signs, verifies and makes keys with, is loaded on first use (CLibcrypto).
/// Every way to a key or a verification asks for it here first, so a missing library is an error that names the
/// key or record, not an abort inside ldns.
enum Libcrypto {
    static func require() throws(DnssecError) {
        guard let why = gtmd_libcrypto_load() else { return }
        throw DnssecError(
            "DNSSEC needs OpenSSL's libcrypto.so.3 (Debian: libssl3), which cannot be loaded: \(String(cString: why))"
        )
    }
}

/// The signing algorithms gtmd offers (RFC 8624 recommends both for signing).
public enum DnssecAlgorithm: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    case ecdsaP256SHA256 = 13
    case ed25519 = 15

    public var description: String { self == .ecdsaP256SHA256 ? "ECDSAP256SHA256" : "ED25519" }
    var signing: ldns_signing_algorithm { self == .ecdsaP256SHA256 ? LDNS_SIGN_ECDSAP256SHA256 : LDNS_SIGN_ED25519 }
}

/// A key that cannot be made, read or used: says which file or step, and ldns's reason.
public struct DnssecError: Error, Sendable, Equatable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// A zone signing key: the private key (in ldns) and its DNSKEY record.
/// Invariant: `dnskey` is the public half of the private key, owned by `zone`, with `flags`; `keyTag` is its tag.
public final class SigningKey: @unchecked Sendable {  // the ldns key is only read after init (signing copies it)
    private let key: UnsafeMutablePointer<ldns_key>
    public let zone: DNSName
    public let algorithm: DnssecAlgorithm
    /// 257 (zone key + SEP: a KSK or CSK) or 256 (a ZSK).
    public let flags: UInt16
    public let dnskey: ResourceRecord
    public let keyTag: UInt16
    /// When it is published, signs, stops and goes (BIND's timing metadata; empty: always).
    public let timing: KeyTiming

    public var isKeySigningKey: Bool { flags & 1 == 1 }

    private init(
        key: UnsafeMutablePointer<ldns_key>,
        zone: DNSName,
        algorithm: DnssecAlgorithm,
        flags: UInt16,
        ttl: UInt32,
        timing: KeyTiming
    ) throws(DnssecError) {
        ldns_key_set_flags(key, flags)
        guard let owner = zone.makeLdnsRdf() else {
            ldns_key_deep_free(key)
            throw DnssecError("out of memory")
        }
        ldns_key_set_pubkey_owner(key, owner)  // the key takes the rdf
        guard let rr = ldns_key2rr(key) else {
            ldns_key_deep_free(key)
            throw DnssecError("ldns cannot make the DNSKEY")
        }
        defer { ldns_rr_free(rr) }
        ldns_rr_set_ttl(rr, ttl)
        let tag = ldns_calc_keytag(rr)
        ldns_key_set_keytag(key, tag)
        guard let record = LdnsRR.makeRecord(rr) else {
            ldns_key_deep_free(key)
            throw DnssecError("ldns made an unreadable DNSKEY")
        }
        self.key = key
        self.zone = zone
        self.algorithm = algorithm
        self.flags = flags
        self.dnskey = record
        self.keyTag = tag
        self.timing = timing
    }

    deinit { ldns_key_deep_free(key) }

    /// A new key pair for `zone`.
    public static func generate(
        zone: DNSName,
        algorithm: DnssecAlgorithm,
        keySigning: Bool,
        ttl: UInt32 = 3600,
        timing: KeyTiming = KeyTiming()
    ) throws(DnssecError) -> SigningKey {
        try Libcrypto.require()
        guard let k = ldns_key_new_frm_algorithm(algorithm.signing, 256) else {
            throw DnssecError("ldns cannot generate a \(algorithm) key (is libldns built with it?)")
        }
        return try SigningKey(
            key: k,
            zone: zone,
            algorithm: algorithm,
            flags: keySigning ? 257 : 256,
            ttl: ttl,
            timing: timing
        )
    }

    /// Reads a key pair from its two files: `publicText` (the `.key` file: comments and one DNSKEY record)
    /// and `privateText` (the `.private` file, Private-key-format v1.x, with BIND's timing lines if any).
    /// `name` is used in errors.
    public static func read(name: String, publicText: String, privateText: String) throws(DnssecError) -> SigningKey {
        do { try Libcrypto.require() } catch { throw DnssecError("\(name): \(error)") }
        let line = publicText.split(separator: "\n").map { $0.drop { $0 == " " || $0 == "\t" } }
            .first { !$0.isEmpty && !$0.hasPrefix(";") }
        guard let line else { throw DnssecError("\(name).key: no DNSKEY record") }
        let rr: ResourceRecord
        do { rr = try LdnsRR.parse(String(line), origin: .root, defaultTTL: 3600) } catch {
            throw DnssecError("\(name).key: \(error)")
        }
        guard rr.type == RRType.DNSKEY, rr.rdata.count > 4 else {
            throw DnssecError("\(name).key: not a DNSKEY record")
        }
        let flags = UInt16(rr.rdata[0]) << 8 | UInt16(rr.rdata[1])
        guard let algorithm = DnssecAlgorithm(rawValue: rr.rdata[3]) else {
            throw DnssecError(
                "\(name).key: algorithm \(rr.rdata[3]) is not supported (13 ECDSAP256SHA256 or 15 ED25519)"
            )
        }
        guard flags & 0x0100 != 0 else {
            throw DnssecError("\(name).key: flags \(flags) lack the zone-key bit (256 or 257)")
        }
        let timing: KeyTiming
        do { timing = try KeyTiming.read(privateText: privateText, publicText: publicText) } catch {
            throw DnssecError("\(name)\(error.description)")
        }
        guard !privateText.utf8.contains(0),
            let file = privateText.withCString({ fmemopen(UnsafeMutableRawPointer(mutating: $0), strlen($0), "r") })
        else {
            throw DnssecError("\(name).private: cannot be read")
        }
        var key: UnsafeMutablePointer<ldns_key>? = nil
        var lineNumber: Int32 = 0
        let status = ldns_key_new_frm_fp_l(&key, file, &lineNumber)
        fclose(file)
        guard status == LDNS_STATUS_OK, let key else {
            throw DnssecError("\(name).private:\(lineNumber): \(LdnsRR.statusText(status))")
        }
        let made = try SigningKey(
            key: key,
            zone: rr.owner,
            algorithm: algorithm,
            flags: flags,
            ttl: rr.ttl,
            timing: timing
        )
        guard made.dnskey.rdata == rr.rdata else {
            throw DnssecError("\(name): the private key does not match the DNSKEY in \(name).key")
        }
        return made
    }

    /// `K<zone>+<alg>+<tag>`, the files' common name as BIND and ldns-keygen write it.
    public var fileName: String {
        let tag = String(keyTag)
        let alg = String(algorithm.rawValue)
        return
            "K\(zone)+\(String(repeating: "0", count: 3 - alg.count))\(alg)+\(String(repeating: "0", count: 5 - tag.count))\(tag)"
    }

    /// The `.key` file's text: comments (as BIND writes them: the role, then one per timing event) and the
    /// DNSKEY record.
    public var publicText: String {
        let events = timing.fields.map { "; \($0.name): \(KeyTiming.format($0.time)) (\(KeyTiming.iso($0.time)))\n" }
        return
            "; This is a \(isKeySigningKey ? "key" : "zone")-signing key, keyid \(keyTag), for \(zone)\n\(events.joined())\(LdnsRR.presentation(dnskey))\n"
    }

    /// The `.private` file's text (Private-key-format v1.x, then BIND's timing lines). Secret: write it with
    /// mode 0600.
    public var privateText: String {
        guard let s = ldns_key2str(key) else { return "" }
        defer { free(s) }
        var text = String(cString: s)
        if !text.hasSuffix("\n") { text += "\n" }
        // ldns writes v1.2; timing lines came with v1.3, and BIND's dnssec-settime refuses to retime a v1.2
        // file without -f. The key part is the same in both.
        let old = "Private-key-format: v1.2\n"
        if !timing.fields.isEmpty, text.hasPrefix(old) {
            text = "Private-key-format: v1.3\n" + text.dropFirst(old.count)
        }
        return text + timing.fields.map { "\($0.name): \(KeyTiming.format($0.time))\n" }.joined()
    }

    /// The DS record for the parent (SHA-256 digest, RFC 4509).
    public func ds(ttl: UInt32 = 3600) -> ResourceRecord? {
        guard let k = LdnsRR.makeLdnsRR(dnskey) else { return nil }
        defer { ldns_rr_free(k) }
        guard let ds = ldns_key_rr2ds(k, LDNS_SHA256) else { return nil }
        defer { ldns_rr_free(ds) }
        ldns_rr_set_ttl(ds, ttl)
        return LdnsRR.makeRecord(ds)
    }

    /// The RRSIG over `rrset` (records of one owner, class and type), valid from `inception` to
    /// `expiration` (seconds since 1970, RFC 4034 §3.1.5 serial arithmetic).
    public func sign(
        _ rrset: [ResourceRecord],
        inception: UInt32,
        expiration: UInt32
    ) throws(DnssecError) -> ResourceRecord {
        guard let first = rrset.first,
            rrset.allSatisfy({ $0.owner == first.owner && $0.type == first.type && $0.rrClass == first.rrClass })
        else {
            throw DnssecError("an RRset to sign has one owner, class and type")
        }
        guard let list = LdnsRR.makeLdnsList(rrset) else {
            throw DnssecError("ldns cannot read the RRset \(first.owner)")
        }
        defer { ldns_rr_list_deep_free(list) }
        guard let keys = ldns_key_list_new() else { throw DnssecError("out of memory") }
        // ldns_key_list_free frees the keys it counts: the count is set to 0 first, as the key is only borrowed.
        // (ldns_key_list_pop_key of the last key reallocs the array to 0 bytes and keeps the freed pointer.)
        defer {
            ldns_key_list_set_key_count(keys, 0)
            ldns_key_list_free(keys)
        }
        // ldns takes the signature's times from the key object. Signers share one key (zones, compiles, threads),
        // so each call signs with its own shallow copy: same private key (read only), its own times.
        var signer = key.pointee
        let signed = withUnsafeMutablePointer(to: &signer) { signer in
            ldns_key_set_inception(signer, inception)
            ldns_key_set_expiration(signer, expiration)
            ldns_key_set_use(signer, true)
            _ = ldns_key_list_push_key(keys, signer)
            let sigs = ldns_sign_public(list, keys)
            ldns_key_list_set_key_count(keys, 0)  // the copy is gone after this closure
            return sigs
        }
        guard let sigs = signed else { throw DnssecError("ldns could not sign \(first.owner)") }
        defer { ldns_rr_list_deep_free(sigs) }
        guard ldns_rr_list_rr_count(sigs) == 1, let rr = ldns_rr_list_rr(sigs, 0), let sig = LdnsRR.makeRecord(rr)
        else {
            throw DnssecError("ldns made \(ldns_rr_list_rr_count(sigs)) signatures for one key")
        }
        return sig
    }
}

/// Signature checks through ldns: the oracle for tests, and a self-check after signing.
public enum DnssecVerify {
    /// Whether `signature` is a valid RRSIG over `rrset` by one of `keys` (DNSKEY records) at `now`
    /// (seconds since 1970); nil when it verifies, else ldns's reason.
    public static func failure(
        rrset: [ResourceRecord],
        signature: ResourceRecord,
        keys: [ResourceRecord],
        now: UInt32
    ) -> String? {
        do { try Libcrypto.require() } catch { return error.description }
        guard let set = LdnsRR.makeLdnsList(rrset), let keyList = LdnsRR.makeLdnsList(keys),
            let sig = LdnsRR.makeLdnsRR(signature), let good = ldns_rr_list_new()
        else { return "records ldns cannot read" }
        defer {
            ldns_rr_list_deep_free(set)
            ldns_rr_list_deep_free(keyList)
            ldns_rr_free(sig)
            ldns_rr_list_free(good)
        }
        let status = ldns_verify_rrsig_keylist_time(set, sig, keyList, time_t(now), good)
        return status == LDNS_STATUS_OK ? nil : LdnsRR.statusText(status)
    }
}

extension DnssecVerify {
    /// Whether the NSEC or NSEC3 records in `records` (with their RRSIGs) deny `name`/`type` (ldns's
    /// `ldns_dnssec_verify_denial` / `_nsec3`: the oracle for NXDOMAIN and NODATA answers; signatures are
    /// checked separately with `failure`). nil when they do, else ldns's reason.
    public static func denialFailure(name: DNSName, type: UInt16, records: [ResourceRecord], nxdomain: Bool) -> String?
    {
        let nsecs = records.filter { $0.type == RRType.NSEC || $0.type == RRType.NSEC3 }
        let sigs = records.filter {
            $0.type == RRType.RRSIG && $0.rdata.count > 2
                && [RRType.NSEC, RRType.NSEC3].contains(UInt16($0.rdata[0]) << 8 | UInt16($0.rdata[1]))
        }
        guard let q = ldns_rr_new(), let owner = name.makeLdnsRdf() else { return "out of memory" }
        defer { ldns_rr_free(q) }
        ldns_rr_set_owner(q, owner)
        ldns_rr_set_type(q, ldns_rr_type(rawValue: UInt32(type)))
        ldns_rr_set_class(q, LDNS_RR_CLASS_IN)
        guard let n = LdnsRR.makeLdnsList(nsecs), let s = LdnsRR.makeLdnsList(sigs) else {
            return "records ldns cannot read"
        }
        defer {
            ldns_rr_list_deep_free(n)
            ldns_rr_list_deep_free(s)
        }
        let status: ldns_status
        if nsecs.first?.type == RRType.NSEC3 {
            status = ldns_dnssec_verify_denial_nsec3(
                q,
                n,
                s,
                nxdomain ? LDNS_RCODE_NXDOMAIN : LDNS_RCODE_NOERROR,
                ldns_rr_type(rawValue: UInt32(type)),
                true
            )
        } else {
            status = ldns_dnssec_verify_denial(q, n, s)
        }
        return status == LDNS_STATUS_OK ? nil : LdnsRR.statusText(status)
    }
}

extension LdnsRR {
    /// An ldns list holding copies of `records`; caller frees it with `ldns_rr_list_deep_free`.
    static func makeLdnsList(_ records: [ResourceRecord]) -> UnsafeMutablePointer<ldns_rr_list>? {
        guard let list = ldns_rr_list_new() else { return nil }
        for r in records {
            guard let rr = makeLdnsRR(r) else {
                ldns_rr_list_deep_free(list)
                return nil
            }
            _ = ldns_rr_list_push_rr(list, rr)
        }
        return list
    }
}
