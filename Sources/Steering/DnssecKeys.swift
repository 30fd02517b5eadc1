import Answers
import Config
import DNSWire
import Foundation

/// Loads (or, with `keys: auto`, makes) each signed zone's keys and turns them into `ZoneSigner`s. Part of
/// `Setup.prepare`, so `gtmd check`, start-up and reload read keys the same way.
public enum DnssecKeys {
    /// The folder `keys: auto` keeps its keys in: `dnssec/` beside the state file.
    public static func autoFolder(stateFile: String) -> String {
        ((stateFile as NSString).deletingLastPathComponent as NSString).appendingPathComponent("dnssec")
    }

    /// What loading found: signers by zone origin (lower case), notices to log (keys made, their DS), problems.
    public struct Loaded {
        public var signers: [DNSName: ZoneSigner] = [:]
        public var notices: [String] = []
        /// Zone origin → the notice of the key `keys: auto` made for it (the writer records them as events).
        public var keysMade: [String: String] = [:]
        public var problems: [String] = []
        /// The keys' timelines as they are now: a role whose keys all stop with no successor, intervals too
        /// short for caches (logged as warnings; `gtmd check` prints them).
        public var warnings: [String] = []
    }

    /// Reads one key pair from `base.key` and `base.private`.
    public static func read(base: String) throws(DnssecError) -> SigningKey {
        let name = (base as NSString).lastPathComponent
        guard let pub = try? String(contentsOfFile: base + ".key", encoding: .utf8) else {
            throw DnssecError("\(base).key: cannot be read")
        }
        guard let priv = try? String(contentsOfFile: base + ".private", encoding: .utf8) else {
            throw DnssecError("\(base).private: cannot be read")
        }
        do { return try SigningKey.read(name: name, publicText: pub, privateText: priv) } catch {
            throw DnssecError("\((base as NSString).deletingLastPathComponent)/\(error.description)")
        }
    }

    /// Writes `key` as `folder/K<zone>+<alg>+<tag>.key` and `.private` (mode 0600); returns the base path.
    public static func write(_ key: SigningKey, folder: String) throws(DnssecError) -> String {
        let base = (folder as NSString).appendingPathComponent(key.fileName)
        do {
            try FileManager.default.createDirectory(
                atPath: folder,
                withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o700]
            )
            let priv = base + ".private"
            guard
                FileManager.default.createFile(
                    atPath: priv,
                    contents: Data(key.privateText.utf8),
                    attributes: [.posixPermissions: 0o600]
                )
            else { throw DnssecError("\(priv): cannot be written") }
            try Data(key.publicText.utf8).write(to: URL(fileURLWithPath: base + ".key"))
        } catch let e as DnssecError {
            throw e
        } catch {
            throw DnssecError("\(base): cannot be written: \(error.localizedDescription)")
        }
        return base
    }

    /// The key files in `folder` for `zone` (`K<zone>+*.key` with a `.private` beside it), sorted.
    public static func autoKeyBases(zone: DNSName, folder: String) -> [String] {
        let prefix = "K\(zone.lowercased)+"
        let files = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        return files.filter { $0.hasPrefix(prefix) && $0.hasSuffix(".key") }.sorted().map {
            (folder as NSString).appendingPathComponent(String($0.dropLast(4)))
        }.filter { FileManager.default.fileExists(atPath: $0 + ".private") }
    }

    /// Signers for every zone with a `dnssec:` section. `createKeys`: `keys: auto` writes new keys when the
    /// folder has none (start-up, reload); without it (`gtmd check`) missing auto keys are made in memory only.
    /// The keys' timing metadata is checked from `now` on (`KeySchedule.problems`): a timeline that would leave
    /// the zone unsigned is refused; `maxTTL` (per zone origin, lower case) is the longest TTL of its records,
    /// for the warning about a key removed too soon after it stopped signing.
    public static func load(
        config: GtmdConfig,
        stateFile: String,
        createKeys: Bool,
        maxTTL: [DNSName: UInt32] = [:],
        now: Int64 = Int64(Date().timeIntervalSince1970)
    ) -> Loaded {
        var out = Loaded()
        for (i, z) in config.zones.enumerated() {
            guard let d = z.dnssec else { continue }
            let at = ConfigProblem(file: config.file, line: d.line, path: "zones[\(i)].dnssec", message: "")
            func problem(_ m: String) {
                var p = at
                p.message = m
                out.problems.append(p.description)
            }
            var keys: [SigningKey] = []
            switch d.keys {
            case .files(let bases):
                for base in bases {
                    do { keys.append(try read(base: base)) } catch { problem(error.description) }
                }
            case .auto:
                let folder = autoFolder(stateFile: stateFile)
                let bases = autoKeyBases(zone: z.origin, folder: folder)
                if bases.isEmpty {
                    do {
                        let key = try SigningKey.generate(
                            zone: z.origin.lowercased,
                            algorithm: d.algorithm,
                            keySigning: true
                        )
                        if createKeys {
                            let base = try write(key, folder: folder)
                            let ds = key.ds().map(LdnsRR.presentation) ?? "?"
                            let notice =
                                "dnssec: new CSK for \(z.origin) (\(d.algorithm), key tag \(key.keyTag)) in \(base).private; give the parent this DS: \(ds)"
                            out.notices.append(notice)
                            out.keysMade["\(z.origin)".lowercased()] = notice
                        }
                        keys.append(key)
                    } catch {
                        problem("keys: auto: \(error.description)")
                    }
                } else {
                    for base in bases {
                        do { keys.append(try read(base: base)) } catch { problem(error.description) }
                    }
                }
            }
            for k in keys where k.zone.lowercased != z.origin.lowercased {
                problem("key \(k.fileName) is for \(k.zone), not for \(z.origin)")
            }
            if !keys.isEmpty && !keys.contains(where: \.isKeySigningKey) {
                problem("no key-signing key (flags 257): give a CSK, or a KSK with the ZSK")
            }
            if Set(keys.map(\.algorithm)).count > 1 {
                problem("keys of more than one algorithm (\(Set(keys.map(\.algorithm.description)).sorted())): use one")
            }
            guard !keys.isEmpty, out.problems.isEmpty else { continue }
            let found = KeySchedule(keys: keys).problems(
                now: now,
                dnskeyTTL: d.dnskeyTTL,
                maxTTL: max(d.dnskeyTTL, maxTTL[z.origin.lowercased] ?? 0)
            )
            for e in found.errors { problem("keys: \(e)") }
            for w in found.warnings {
                var p = at
                p.message = "keys: warning: \(w)"
                out.warnings.append(p.description)
            }
            guard found.errors.isEmpty else { continue }
            out.signers[z.origin.lowercased] = ZoneSigner(
                zone: z.origin.lowercased,
                keys: keys,
                nsec3: d.denial == .nsec3,
                validity: d.signatureValidity,
                refresh: d.refresh,
                dnskeyTTL: d.dnskeyTTL,
                cds: d.cds
            )
        }
        return out
    }
}
