import Answers
import Config
import DNSWire
import FoundationEssentials
import Zones

/// Everything needed to serve, loaded and validated off to the side. Start-up, `gtmd check` and reload
/// share this one path, so a config that passes the check is exactly what the server will load.
public struct Prepared: Sendable {
    public var config: GtmdConfig
    public var zones: [Zone]
    /// Signers of the zones with a `dnssec:` section (by lower-case origin).
    public var signers: [DNSName: ZoneSigner]
    /// What preparing did that the operator must hear of (DNSSEC keys made, with their DS), logged at start.
    public var notices: [String]
    /// Zone origin → the notice of a DNSSEC key made while preparing; the writer records each as a `keys` event.
    public var keysMade: [String: String]
    /// Warnings found while preparing (DNSSEC key timelines), logged at warning level at start and reload.
    public var warnings: [String] = []

    public init(
        config: GtmdConfig,
        zones: [Zone],
        signers: [DNSName: ZoneSigner] = [:],
        notices: [String] = [],
        keysMade: [String: String] = [:]
    ) {
        self.config = config
        self.zones = zones
        self.signers = signers
        self.notices = notices
        self.keysMade = keysMade
    }

    var responseOptions: ResponseOptions {
        let s = config.server
        return ResponseOptions(
            ednsBufferSize: UInt16(s.ednsBufferSize),
            nsid: s.nsid,
            versionText: s.version,
            identityText: s.identity,
            locator: config.locator
        )
    }

    public func buildTable(generation: UInt64, dynamic: [DNSName: AnswerTableBuilder.Dynamic] = [:]) -> AnswerTable {
        AnswerTableBuilder(options: responseOptions, generation: generation).build(
            zones: zones,
            dynamic: dynamic,
            signers: signers
        )
    }

    /// Compiles the zones once; the publisher then re-emits only the services' answers on each change.
    public func compile() -> CompiledZones {
        AnswerTableBuilder(options: responseOptions).compile(
            zones: zones,
            serviceNames: config.services.map(\.name),
            signers: signers
        )
    }
}

/// What the operator asked for on the command line.
public struct SetupRequest: Sendable {
    public var configPath: String?
    /// `--zone ORIGIN=FILE`, repeatable; used with or without a config file.
    public var zoneArguments: [String] = []
    /// `--listen ADDR:PORT`, replaces the configured listen addresses.
    public var listen: [String] = []
    /// `--state-file PATH`, replaces the configured state file.
    public var stateFile: String? = nil
    /// `--control ADDR:PORT|off`, replaces the configured control listener.
    public var control: String? = nil
    /// `--node NAME`, replaces fleet.node (and the vantage when the config names none).
    public var node: String? = nil
    /// `--etcd URL[,URL]`, replaces fleet.etcd.endpoints.
    public var etcd: [String] = []
    /// Write the keys of `dnssec: { keys: auto }` zones when there are none yet (serve); `gtmd check` does not.
    public var createKeys = false
    public init(
        configPath: String? = nil,
        zoneArguments: [String] = [],
        listen: [String] = [],
        stateFile: String? = nil,
        control: String? = nil,
        node: String? = nil,
        etcd: [String] = []
    ) {
        self.configPath = configPath
        self.zoneArguments = zoneArguments
        self.listen = listen
        self.stateFile = stateFile
        self.control = control
        self.node = node
        self.etcd = etcd
    }
}

public enum Setup {
    /// Loads the config and every zone; returns all problems found (config and zones together).
    public static func prepare(_ request: SetupRequest) -> Result<Prepared, SetupFailure> {
        var problems: [String] = []
        var config: GtmdConfig
        if let path = request.configPath {
            switch ConfigLoader.load(path: path) {
            case .success(let c): config = c
            case .failure(let p):
                return .failure(SetupFailure(problems: p.problems.map(\.description)))
            }
        } else {
            config = GtmdConfig(file: "(command line)")
            if request.zoneArguments.isEmpty {
                return .failure(SetupFailure(problems: ["give --config FILE or at least one --zone ORIGIN=FILE"]))
            }
        }
        for arg in request.zoneArguments {
            guard let eq = arg.firstIndex(of: "="), eq != arg.startIndex else {
                problems.append("--zone '\(arg)': expected ORIGIN=FILE (example: lab.example=zones/lab.example.zone)")
                continue
            }
            let originText = String(arg[..<eq])
            let file = String(arg[arg.index(after: eq)...])
            do {
                let origin = try DNSName(absolute: originText)
                if config.zones.contains(where: { $0.origin == origin }) {
                    problems.append("--zone '\(arg)': zone \(origin) is given twice")
                } else {
                    config.zones.append(ZoneSource(origin: origin, file: file))
                }
            } catch {
                problems.append("--zone '\(arg)': \(error)")
            }
        }
        if !request.listen.isEmpty {
            var addrs: [ListenAddress] = []
            for l in request.listen {
                if let a = ListenAddress.parse(l) {
                    addrs.append(a)
                } else {
                    problems.append("--listen '\(l)': expected ADDR:PORT (examples: 127.0.0.1:5300, [::1]:5300)")
                }
            }
            config.server.listen = addrs
        }
        if let sf = request.stateFile { config.stateFile = sf }
        if let c = request.control {
            if let l = ControlSettings.parseListen(c) {
                config.control.listen = l
            } else {
                problems.append("--control '\(c)': expected ADDR:PORT or off (examples: 127.0.0.1:8053, [::1]:8053)")
            }
        }
        applyFleetFlags(request, &config, &problems)
        if let why = config.control.tokenFileProblem() {
            problems.append(
                ConfigProblem(
                    file: config.file,
                    line: config.control.tokenFileLine,
                    path: "control.token_file",
                    message: why
                ).description
            )
        }
        if config.zones.isEmpty { problems.append("\(config.file): no zones configured") }
        var zones: [Zone] = []
        for z in config.zones {
            switch ZoneLoader.load(origin: z.origin, path: z.file) {
            case .success(let zone): zones.append(zone)
            case .failure(let p): problems.append(contentsOf: p.problems.map(\.description))
            }
        }
        problems += serviceConflicts(config: config, zones: zones)
        var keys = DnssecKeys.Loaded()
        if problems.isEmpty {
            var maxTTL: [DNSName: UInt32] = [:]
            for z in zones { maxTTL[z.origin.lowercased] = z.records.map(\.record.ttl).max() ?? 0 }
            keys = DnssecKeys.load(
                config: config,
                stateFile: config.stateFile ?? StateFile.defaultPath(configFile: config.file),
                createKeys: request.createKeys,
                maxTTL: maxTTL
            )
            problems += keys.problems
        }
        if !problems.isEmpty { return .failure(SetupFailure(problems: problems)) }
        var prepared = Prepared(
            config: config,
            zones: zones,
            signers: keys.signers,
            notices: keys.notices,
            keysMade: keys.keysMade
        )
        prepared.warnings = keys.warnings
        return .success(prepared)
    }

    /// Zone records a service would silently replace or that would hide it, each an error that names the
    /// record's file and line, the record, and what to do:
    /// - an A, AAAA or CNAME record at the service's name: the service answers those types from its pools, so
    ///   the record would never be served;
    /// - when the service can answer with a CNAME (a pool member is a name): every record at its name (a CNAME
    ///   stands alone);
    /// - a delegation (NS below the apex) at or above the name, or a DNAME above it: the name is answered by
    ///   the referral or the DNAME, so the service's answers would never be served.
    static func serviceConflicts(config: GtmdConfig, zones: [Zone]) -> [String] {
        var out: [String] = []
        for s in config.services {
            let name = s.name.lowercased
            // The zone that holds the name: the longest origin containing it.
            guard
                let zone = zones.filter({ name.isSubdomain(of: $0.origin.lowercased) })
                    .max(by: { $0.origin.wire.count < $1.origin.wire.count })
            else { continue }
            let origin = zone.origin.lowercased
            let answersCNAME = config.pools.contains { p in
                s.pools.contains(p.name) && p.members.contains { $0.cname != nil }
            }
            let service = "the service \(s.name) (\(config.file): services.\(s.name))"
            for zr in zone.records {
                let type = zr.record.type
                // Only records at the name, delegations and DNAMEs can conflict (`==` ignores case).
                guard type == RRType.NS || type == RRType.DNAME || zr.record.owner == name else { continue }
                let owner = zr.record.owner.lowercased
                let why: String
                if owner == name {
                    if type == RRType.A || type == RRType.AAAA {
                        why =
                            "\(service) answers A and AAAA at this name from its pools, so this record would never be "
                            + "served: remove it from the zone file (the pools' members are the addresses), or rename "
                            + "the service"
                    } else if type == RRType.CNAME {
                        why =
                            "\(service) answers this name from its pools and would replace this alias: remove the "
                            + "CNAME (or point it elsewhere and rename the service)"
                    } else if answersCNAME {
                        why =
                            "\(service) can answer with a CNAME (a pool member is a name), and a CNAME leaves no "
                            + "other record at its name: remove the record, or rename the service"
                    } else {
                        continue
                    }
                } else if type == RRType.NS, owner != origin, name.isSubdomain(of: owner) {
                    why =
                        "\(service) lies in the subtree delegated here, so queries for it get this referral and "
                        + "never the service's answers: move the service out of \(zr.record.owner) or remove the delegation"
                } else if type == RRType.DNAME, owner != name, name.isSubdomain(of: owner) {
                    why =
                        "\(service) lies below this DNAME, which rewrites every name under \(zr.record.owner), so "
                        + "the service's answers would never be served: move the service or remove the DNAME"
                } else {
                    continue
                }
                out.append("\(zr.file):\(zr.line): \(LdnsRR.presentation(zr.record)): \(why)")
            }
        }
        return out
    }
}

public struct SetupFailure: Error, Sendable, CustomStringConvertible {
    public var problems: [String]
    public var description: String { problems.joined(separator: "\n") }
}

extension Setup {
    /// `--node` and `--etcd` on top of the `fleet:` section (they need one: the fleet's name is not a flag).
    static func applyFleetFlags(_ request: SetupRequest, _ config: inout GtmdConfig, _ problems: inout [String]) {
        guard request.node != nil || !request.etcd.isEmpty else { return }
        guard var f = config.fleet else {
            problems.append(
                "--node/--etcd: the config has no fleet: section (it names the fleet; see config/fleet-example.yaml)"
            )
            return
        }
        if let n = request.node {
            if FleetSettings.isSafeName(n) {
                if f.vantage == f.node { f.vantage = n }
                f.node = n
            } else {
                problems.append("--node '\(n)': letters, digits, '.', '_' or '-' only")
            }
        }
        if !request.etcd.isEmpty {
            var urls: [String] = []
            for u in request.etcd.flatMap({ $0.split(separator: ",").map(String.init) }) {
                if let p = FleetSettings.endpointProblem(u) {
                    problems.append("--etcd: \(p)")
                } else {
                    urls.append(u.hasSuffix("/") ? String(u.dropLast()) : u)
                }
            }
            if !urls.isEmpty { f.endpoints = urls }
        }
        config.fleet = f
    }
}
