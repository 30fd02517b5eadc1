import Answers
import Config
import DNSWire
import FoundationEssentials
import Glibc
import Zones

/// Loads (or, with `keys: auto`, makes) each signed zone's keys and turns them into `ZoneSigner`s. Part of
/// `Setup.prepare`, so `gtmd check`, start-up and reload read keys the same way.
public enum DnssecKeys {
    /// The folder `keys: auto` keeps its keys in: `dnssec/` beside the state file.
    public static func autoFolder(stateFile: String) -> String {
        FilePaths.join(FilePaths.directory(of: stateFile), "dnssec")
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
        let name = FilePaths.lastComponent(base)
        guard let pub = try? String(contentsOfFile: base + ".key", encoding: .utf8) else {
            throw DnssecError("\(base).key: cannot be read")
        }
        guard let priv = try? String(contentsOfFile: base + ".private", encoding: .utf8) else {
            throw DnssecError("\(base).private: cannot be read")
        }
        do { return try SigningKey.read(name: name, publicText: pub, privateText: priv) } catch {
            throw DnssecError("\(FilePaths.directory(of: base))/\(error.description)")
        }
    }

    /// Writes `key` as `folder/K<zone>+<alg>+<tag>.key` and `.private` (mode 0600); returns the base path.
    public static func write(_ key: SigningKey, folder: String) throws(DnssecError) -> String {
        let base = FilePaths.join(folder, key.fileName)
        do {
            try FileManager.default.createDirectory(
                atPath: folder,
                withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o700]
            )
            // Each file is written beside it, then renamed over it: a crash leaves the old or the new file.
            let priv = base + ".private"
            let tmp = priv + ".tmp"
            guard
                FileManager.default.createFile(
                    atPath: tmp,
                    contents: Data(key.privateText.utf8),
                    attributes: [.posixPermissions: 0o600]
                )
            else { throw DnssecError("\(priv): cannot be written") }
            guard rename(tmp, priv) == 0 else { throw DnssecError("\(priv): cannot be written (rename)") }
            try Data(key.publicText.utf8).write(to: URL(fileURLWithPath: base + ".key"), options: .atomic)
        } catch let e as DnssecError {
            throw e
        } catch {
            throw DnssecError("\(base): cannot be written: \(error)")
        }
        return base
    }

    /// A file's modification time (seconds since 1970).
    static func modified(_ path: String) -> Int64? {
        StateFile.mtime(path).map { Int64($0.timeIntervalSince1970) }
    }

    /// `key` with other timing metadata (the same key pair).
    public static func retimed(_ key: SigningKey, _ timing: KeyTiming) throws(DnssecError) -> SigningKey {
        let names = ["Created", "Publish", "Activate", "Inactive", "Delete", "SyncPublish", "SyncDelete"]
        let lines = key.privateText.split(separator: "\n").filter { line in
            !names.contains { line.hasPrefix($0 + ":") }
        }
        let text =
            lines.joined(separator: "\n") + "\n"
            + timing.fields.map { "\($0.name): \(KeyTiming.format($0.time))\n" }.joined()
        do { return try SigningKey.read(name: key.fileName, publicText: key.publicText, privateText: text) } catch {
            throw DnssecError("\(key.fileName): cannot be retimed: \(error.description)")
        }
    }

    /// `gtmd dnssec ds-seen`: the operator confirms that the parent of `zone` (a `keys: auto` zone) serves the
    /// DS of the successor waiting for it (`keyTag`, or the one waiting when nil). Rewrites both keys' timing in
    /// the auto folder (`AutoRoll.dsSeen`): that is what makes the decision survive a restart; the caller
    /// reloads so it takes effect. Returns what will happen, for the log and the reply.
    public static func dsSeen(
        config: GtmdConfig,
        stateFile: String,
        zone: String,
        keyTag: UInt16?,
        maxTTL: UInt32,
        now: Int64 = Int64(Date().timeIntervalSince1970)
    ) throws(DnssecError) -> String {
        let want = zone.lowercased().hasSuffix(".") ? zone.lowercased() : zone.lowercased() + "."
        guard let z = config.zones.first(where: { "\($0.origin)".lowercased() == want }) else {
            let names = config.zones.map { "\($0.origin)" }.joined(separator: ", ")
            throw DnssecError("no zone \(zone) in \(config.file) (zones: \(names))")
        }
        guard let d = z.dnssec else { throw DnssecError("zone \(z.origin) is not signed (no dnssec: section)") }
        guard case .auto = d.keys else {
            throw DnssecError(
                "zone \(z.origin) has key files, not keys: auto: roll them by their timing (gtmd dnssec keygen, dnssec-settime)"
            )
        }
        let folder = autoFolder(stateFile: stateFile)
        var keys: [SigningKey] = []
        var born: [UInt16: Int64] = [:]
        for base in autoKeyBases(zone: z.origin, folder: folder) {
            let k = try read(base: base)
            keys.append(k)
            if AutoRoll.birth(k) == nil, let m = modified(base + ".private") { born[k.keyTag] = m }
        }
        let step = AutoRoll.step(keys: keys, lifetime: d.keyLifetime ?? Int64(Int32.max), now: now) { born[$0.keyTag] }
        let r = try AutoRoll.dsSeen(
            keys: keys,
            step: step,
            keyTag: keyTag,
            now: now,
            parentDSTTL: d.parentDSTTL,
            dnskeyTTL: Int64(d.dnskeyTTL),
            maxTTL: Int64(d.zoneMaxTTL ?? maxTTL)
        )
        // The successor first: if the second write fails, the old key still signs (no gap).
        _ = try write(try retimed(r.successor, r.successorTiming), folder: folder)
        _ = try write(try retimed(r.old, r.oldTiming), folder: folder)
        return
            "DS of CSK \(r.successor.keyTag) seen at the parent of \(z.origin): it signs from \(KeyTiming.iso(r.successorTiming.activate ?? now)); CSK \(r.old.keyTag) stops then and leaves the zone at \(KeyTiming.iso(r.oldTiming.delete ?? now))"
    }

    /// The key files in `folder` for `zone` (`K<zone>+*.key` with a `.private` beside it), sorted.
    public static func autoKeyBases(zone: DNSName, folder: String) -> [String] {
        let prefix = "K\(zone.lowercased)+"
        let files = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        return files.filter { $0.hasPrefix(prefix) && $0.hasSuffix(".key") }.sorted().map {
            FilePaths.join(folder, String($0.dropLast(4)))
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
            var born: [UInt16: Int64] = [:]
            var roll: AutoRollSettings? = nil
            switch d.keys {
            case .files(let bases):
                for base in bases {
                    do { keys.append(try read(base: base)) } catch { problem(error.description) }
                }
            case .auto:
                let folder = autoFolder(stateFile: stateFile)
                let bases = autoKeyBases(zone: z.origin, folder: folder)
                /// Writes a key made here into the folder and tells the operator, with its DS for the parent.
                func announce(_ key: SigningKey, _ notice: (_ base: String, _ ds: String) -> String) throws(DnssecError)
                {
                    let base = try write(key, folder: folder)
                    let text = notice(base, key.ds().map(LdnsRR.presentation) ?? "?")
                    out.notices.append(text)
                    out.keysMade["\(z.origin)".lowercased()] = text
                }
                if bases.isEmpty {
                    do {
                        let key = try SigningKey.generate(
                            zone: z.origin.lowercased,
                            algorithm: d.algorithm,
                            keySigning: true,
                            timing: KeyTiming(created: now)
                        )
                        if createKeys {
                            try announce(key) { base, ds in
                                "dnssec: new CSK for \(z.origin) (\(d.algorithm), key tag \(key.keyTag)) in \(base).private; give the parent this DS: \(ds)"
                            }
                        }
                        keys.append(key)
                    } catch {
                        problem("keys: auto: \(error.description)")
                    }
                } else {
                    for base in bases {
                        do {
                            let k = try read(base: base)
                            keys.append(k)
                            if AutoRoll.birth(k) == nil, let m = modified(base + ".private") { born[k.keyTag] = m }
                        } catch { problem(error.description) }
                    }
                }
                if let lifetime = d.keyLifetime, out.problems.isEmpty {
                    roll = AutoRollSettings(
                        lifetime: lifetime,
                        parentDSTTL: d.parentDSTTL,
                        algorithm: d.algorithm,
                        born: born
                    )
                    let step = AutoRoll.step(keys: keys, lifetime: lifetime, now: now) { born[$0.keyTag] }
                    if let due = step.dueAt, due <= now {
                        do {
                            let key = try AutoRoll.successor(
                                zone: z.origin.lowercased,
                                algorithm: d.algorithm,
                                now: now
                            )
                            if createKeys {
                                try announce(key) { base, ds in
                                    "dnssec: key_lifetime reached: successor CSK for \(z.origin) (\(d.algorithm), key tag \(key.keyTag)) published in \(base).private; the old CSK keeps signing until the parent serves this DS and you confirm it (gtmd dnssec ds-seen \(z.origin) \(key.keyTag)): \(ds)"
                                }
                                keys.append(key)
                            }
                        } catch {
                            problem("keys: auto: successor: \(error.description)")
                        }
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
                maxTTL: max(d.dnskeyTTL, d.zoneMaxTTL ?? maxTTL[z.origin.lowercased] ?? 0)
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
                cds: d.cds,
                autoRoll: roll
            )
        }
        return out
    }
}

extension DnssecKeys {
    /// The body of `POST /v1/dnssec/ds-seen`, read strictly: `zone` (required) and `key_tag` (the successor's
    /// key tag; optional: the one waiting).
    public static func decodeDsSeen(json body: [UInt8]) throws(OverrideError) -> (zone: String, keyTag: UInt16?) {
        let f = try RequestFields(
            body,
            allowed: ["zone", "key_tag"],
            shape: #"a JSON object such as {"zone": "lab.example.", "key_tag": 12345}"#
        )
        let zone = try f.required("zone", example: "\"lab.example.\"")
        switch f.values["key_tag"] {
        case nil, .null?: return (zone, nil)
        case .number(let n)?:
            guard let t = UInt16(n) else { throw OverrideError("field 'key_tag': \(n) is not a key tag (0...65535)") }
            return (zone, t)
        case let v?: throw OverrideError("field 'key_tag' must be a number (e.g. 12345), not \(v.kind)")
        }
    }

    /// The longest TTL of each zone's records (lower-case origin), for how long an old key stays published.
    public static func maxTTL(_ prepared: Prepared) -> [DNSName: UInt32] {
        var out: [DNSName: UInt32] = [:]
        for z in prepared.zones { out[z.origin.lowercased] = z.records.map(\.record.ttl).max() ?? 0 }
        return out
    }
}
