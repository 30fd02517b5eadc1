import Answers
import ArgumentParser
import Config
import ConfigText
import Control
import DNSWire
import FoundationEssentials
import Glibc
import Steering

/// `gtmd dnssec keygen|ds`: make key files, print the DS records to give the parent.
struct DnssecCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dnssec",
        abstract:
            "DNSSEC: make keys (keygen), print the DS records for the parent (ds), print a signed zone as served (dump), confirm a new DS at the parent (ds-seen).",
        subcommands: [Keygen.self, DSCommand.self, Dump.self, DsSeen.self]
    )

    struct Keygen: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "keygen",
            abstract:
                "Make a key pair as K<zone>+<alg>+<tag>.key/.private (ldns-keygen and BIND format); print its name.",
            discussion: """
                A CSK (the default) signs the whole zone; --ksk and --zsk make the two halves of a split pair. Give \
                the files to a zone's dnssec.keys.

                Timing (BIND's metadata, honoured by gtmd serve): --publish, --activate, --inactive, --delete, \
                --sync-publish, --sync-delete take YYYYMMDDHHMMSS (UTC), now, +N or now+N with s, m, h, d or w \
                (relative to now). Without them the key is published and signs from now on, forever.
                ZSK pre-publish roll: the successor gets --publish now --activate +2d (at least dnskey_ttl \
                later); the old key gets Inactive at that time and Delete one maximum TTL later (dnssec-settime \
                -I/-D, or a new key file). KSK double-DS roll: give the parent the new KSK's DS first (gtmd \
                dnssec ds; CDS lists both), then --publish/--activate the new KSK at the time the old one \
                is made inactive and deleted.
                """
        )
        @Argument(help: "The zone, e.g. lab.example.")
        var zone: String
        @Option(name: .shortAndLong, help: "13 / ecdsap256sha256 (default) or 15 / ed25519.")
        var algorithm: String = "13"
        @Flag(help: "Key-signing key (flags 257) of a KSK + ZSK pair.")
        var ksk = false
        @Flag(help: "Zone-signing key (flags 256) of a KSK + ZSK pair.")
        var zsk = false
        @Option(name: .long, help: "Folder to write into (default: the current folder).")
        var dir: String = "."
        @Option(name: .long, help: "When its DNSKEY is published (default: now).")
        var publish: String?
        @Option(name: .long, help: "When it starts signing (default: when published).")
        var activate: String?
        @Option(name: .long, help: "When it stops signing (its DNSKEY stays).")
        var inactive: String?
        @Option(name: .long, help: "When its DNSKEY leaves the zone.")
        var delete: String?
        @Option(name: .long, help: "KSK/CSK: when its CDS/CDNSKEY appear (its DS belongs at the parent).")
        var syncPublish: String?
        @Option(name: .long, help: "KSK/CSK: when its CDS/CDNSKEY go (default: at --delete).")
        var syncDelete: String?

        /// The timing options as BIND metadata (`Created` is now).
        func timing(now: Int64) throws -> KeyTiming {
            func t(_ v: String?, _ flag: String) throws -> Int64? {
                guard let v else { return nil }
                guard let t = KeyTiming.parseOption(v, now: now) else {
                    throw ValidationError(
                        "\(flag) '\(v)': give YYYYMMDDHHMMSS (UTC), now, +N or now+N (N with s, m, h, d or w)"
                    )
                }
                return t
            }
            var k = KeyTiming(created: now)
            k.publish = try t(publish, "--publish")
            k.activate = try t(activate, "--activate")
            k.inactive = try t(inactive, "--inactive")
            k.delete = try t(delete, "--delete")
            k.syncPublish = try t(syncPublish, "--sync-publish")
            k.syncDelete = try t(syncDelete, "--sync-delete")
            if k.publish == nil && (k.activate != nil || k.inactive != nil || k.delete != nil) { k.publish = now }
            // As dnssec-keygen: with timing, Activate defaults to Publish (a key with Publish and no Activate is
            // published and never signs: a `keys: auto` successor waiting for its DS).
            if k.activate == nil, let p = k.publish { k.activate = p }
            if let p = k.orderProblems.first { throw ValidationError(p) }
            return k
        }

        func run() throws {
            let name: DNSName
            do { name = try DNSName(absolute: zone) } catch {
                throw ValidationError("'\(zone)' is not a zone name: \(error)")
            }
            let alg: DnssecAlgorithm
            switch algorithm.lowercased() {
            case "13", "ecdsap256sha256", "ecdsa": alg = .ecdsaP256SHA256
            case "15", "ed25519": alg = .ed25519
            default: throw ValidationError("--algorithm '\(algorithm)': allowed 13 (ecdsap256sha256) or 15 (ed25519)")
            }
            if ksk && zsk { throw ValidationError("give --ksk or --zsk, not both") }
            let timing = try timing(now: Int64(Date().timeIntervalSince1970))
            do {
                let key = try SigningKey.generate(
                    zone: name.lowercased,
                    algorithm: alg,
                    keySigning: !zsk,
                    timing: timing
                )
                let base = try DnssecKeys.write(key, folder: dir)
                print(FilePaths.lastComponent(base))
            } catch {
                printError("gtmd dnssec keygen: \(error)")
                throw ExitCode(1)
            }
        }
    }

    struct DSCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "ds",
            abstract:
                "Print the DS records (SHA-256) of the key-signing keys: of key files, or of a config's signed zones.",
            discussion:
                "With --config, the keys of every zone with a dnssec section (keys: auto reads the state folder; run gtmd serve once first)."
        )
        @Option(name: .long, help: "Config file (YAML).")
        var config: String?
        @Option(name: .long, help: "State file (default: the config's state_file), for keys: auto.")
        var stateFile: String?
        @Argument(help: "Key files (K<zone>+<alg>+<tag>.key).")
        var keys: [String] = []

        func run() throws {
            var out: [String] = []
            for k in keys {
                var base = k
                for ext in [".key", ".private"] where base.hasSuffix(ext) { base.removeLast(ext.count) }
                let read: SigningKey?
                do { read = try DnssecKeys.read(base: base) } catch {
                    printError("gtmd dnssec ds: \(error)")
                    read = nil
                }
                guard let key = read else { throw ExitCode(1) }
                guard key.isKeySigningKey else {
                    printError("\(k): a zone-signing key (flags 256): the parent gets the KSK's DS only; skipped")
                    continue
                }
                if let ds = key.ds() { out.append(LdnsRR.presentation(ds)) }
            }
            if let config {
                let cfg: GtmdConfig
                switch ConfigLoader.load(path: config) {
                case .success(let c): cfg = c
                case .failure(let p):
                    printError(p.description)
                    throw ExitCode(1)
                }
                let state = stateFile ?? cfg.stateFile ?? StateFile.defaultPath(configFile: cfg.file)
                for (i, z) in cfg.zones.enumerated() where z.dnssec?.keys == .auto {
                    if DnssecKeys.autoKeyBases(zone: z.origin, folder: DnssecKeys.autoFolder(stateFile: state)).isEmpty
                    {
                        printError(
                            "\(cfg.file): zones[\(i)]: \(z.origin) has keys: auto and no keys yet in \(DnssecKeys.autoFolder(stateFile: state)); start gtmd serve once to make them"
                        )
                        throw ExitCode(1)
                    }
                }
                let loaded = DnssecKeys.load(config: cfg, stateFile: state, createKeys: false)
                if !loaded.problems.isEmpty {
                    for p in loaded.problems { printError(p) }
                    throw ExitCode(1)
                }
                if loaded.signers.isEmpty { printError("\(cfg.file): no zone has a dnssec section") }
                for (_, s) in loaded.signers.sorted(by: { $0.key < $1.key }) {
                    for k in s.roles.sync { if let ds = k.ds() { out.append(LdnsRR.presentation(ds)) } }
                }
            }
            if keys.isEmpty && config == nil { throw ValidationError("give key files or --config FILE") }
            for l in out { print(l) }
            if out.isEmpty { throw ExitCode(1) }
        }
    }

    struct Dump: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "dump",
            abstract:
                "Print a signed zone as gtmd serves it: records, RRSIGs, NSEC/NSEC3 chain (for ldns-verify-zone).",
            discussion:
                "No health is probed: service names show the zone file's own data. keys: auto reads the state folder (run gtmd serve once first)."
        )
        @Option(name: .long, help: "Config file (YAML).")
        var config: String
        @Option(name: .long, help: "State file (default: the config's state_file), for keys: auto.")
        var stateFile: String?
        @Argument(help: "The zone, e.g. lab.example.")
        var zone: String

        func run() throws {
            let origin: DNSName
            do { origin = try DNSName(absolute: zone) } catch {
                throw ValidationError("'\(zone)' is not a zone name: \(error)")
            }
            let prepared: Prepared
            switch Setup.prepare(SetupRequest(configPath: config, stateFile: stateFile)) {
            case .success(let p): prepared = p
            case .failure(let f):
                for p in f.problems { printError(p) }
                throw ExitCode(1)
            }
            guard let z = prepared.config.zones.first(where: { $0.origin.lowercased == origin.lowercased }),
                z.dnssec != nil
            else {
                printError("\(config): \(origin) is not a signed zone of this config (no dnssec section)")
                throw ExitCode(1)
            }
            let state = prepared.config.stateFile ?? StateFile.defaultPath(configFile: prepared.config.file)
            if z.dnssec?.keys == .auto,
                DnssecKeys.autoKeyBases(zone: origin, folder: DnssecKeys.autoFolder(stateFile: state)).isEmpty
            {
                printError("\(origin) has keys: auto and no keys yet; start gtmd serve once to make them")
                throw ExitCode(1)
            }
            for r in prepared.compile().servedZone(origin) ?? [] { print(LdnsRR.presentation(r)) }
        }
    }
}

/// `gtmd dnssec ds-seen ZONE [KEYTAG]`: tell the running gtmd that the parent serves the DS of the `keys: auto`
/// successor (POST /v1/dnssec/ds-seen).
struct DsSeen: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ds-seen",
        abstract:
            "Confirm that the parent serves the DS of a keys: auto zone's successor CSK (POST /v1/dnssec/ds-seen).",
        discussion: """
            With keys: auto, when a CSK reaches key_lifetime gtmd publishes a successor (logged, with its DS, and in \
            /status) but keeps signing with the old CSK, so the chain from the old DS stays valid. Give the new DS \
            to the parent; once `dig DS ZONE @a-parent-server` shows it, run this. gtmd writes the keys' new \
            timing to its state folder (a restart keeps it) and reloads: the successor signs parent_ds_ttl later, \
            and the old CSK leaves the zone after the zone's longest TTL. KEYTAG (optional) must be the \
            successor's. Exit status: 0 done; 1 refused (unknown zone, no successor waiting, wrong key tag); 2 the \
            control API cannot be reached; 3 anything else.
            """
    )
    @Argument(help: "The zone (as in the config).") var zone: String
    @Argument(help: "The successor's key tag (default: the one waiting).") var keyTag: UInt16?
    @Option(name: .long, help: "Config file (YAML), for the control address and token file.") var config: String?
    @OptionGroup var target: ControlTarget

    func run() async throws {
        let client = try target.client(config: try loadConfig(config), withToken: true, defaultTimeout: 60)
        struct Body: Encodable {
            var zone: String
            var key_tag: UInt16?
        }
        let body = try JSONEncoder().encode(Body(zone: zone, key_tag: keyTag))
        let r: ControlClient.Response
        do { r = try await client.request("POST", "/v1/dnssec/ds-seen", body: Array(body)) } catch {
            printError("gtmd: dnssec ds-seen: \(error)")
            throw ExitCode(error.kind == .unreachable ? 2 : 3)
        }
        struct Reply: Decodable {
            var dsSeen: String?
            var error: String?
        }
        let reply = try? ControlJSON.decoder.decode(Reply.self, from: Data(r.body.utf8))
        if r.status == 200, let done = reply?.dsSeen {
            print(done)
            return
        }
        let message = reply?.error ?? r.body.trimmedSpace(newlines: true)
        printError("gtmd: dnssec ds-seen: \(r.status): \(message)")
        throw ExitCode([400, 404, 409].contains(r.status) ? 1 : 3)
    }
}
