import ConfigText
import DNSWire
import FoundationEssentials
import Policy

extension YAMLReader {
    public func double(_ node: Node?, _ path: String, range: ClosedRange<Double>) -> Double? {
        guard let node else { return nil }
        guard let s = node.scalar?.string, let v = Double(s), v.isFinite else {
            problem(
                node,
                path,
                "'\(node.scalar?.string ?? "")' is not a finite number (allowed: \(range.lowerBound)...\(range.upperBound))"
            )
            return nil
        }
        guard range.contains(v) else {
            problem(node, path, "\(s) is out of range \(range.lowerBound)...\(range.upperBound)")
            return nil
        }
        return v
    }
}

extension ConfigLoader {
    static let geoKeys: Set<String> = [
        "default_region", "networks", "database", "countries", "continents", "ecs_max_prefix_v4", "ecs_max_prefix_v6",
    ]

    /// `regions:`, read before the pools and services that refer to them.
    static func readRegions(_ root: [String: Node], _ r: YAMLReader, _ config: inout GtmdConfig) {
        var regions: [Region] = []
        if let rm = r.mapping(root["regions"], "regions", allowed: nil) {
            for name in orderedKeys(root["regions"]) {
                let p = "regions.\(name)"
                guard let m = r.mapping(rm[name], p, allowed: regionKeys) else { continue }
                guard let lat = r.double(m["latitude"], "\(p).latitude", range: -90...90),
                    let lon = r.double(m["longitude"], "\(p).longitude", range: -180...180)
                else {
                    if m["latitude"] == nil || m["longitude"] == nil {
                        r.problem(
                            rm[name],
                            p,
                            "needs latitude and longitude (degrees, e.g. latitude: 50.11, longitude: 8.68)"
                        )
                    }
                    continue
                }
                let bias = r.double(m["bias"], "\(p).bias", range: -99...99) ?? 0
                regions.append(Region(name: name, latitude: lat, longitude: lon, bias: bias))
            }
        }
        config.regions = regions
    }

    /// `geo:` (where clients are), then each `nearest` service's pool order per client region. Runs after
    /// the pools and services are read.
    static func readGeo(_ root: [String: Node], _ r: YAMLReader, _ config: inout GtmdConfig, baseDirectory: String) {
        let regions = config.regions
        func regionIndex(_ node: Node?, _ name: String, _ path: String) -> Int? {
            if let i = regions.firstIndex(where: { $0.name == name }) { return i }
            r.problem(node, path, "no region named '\(name)' (defined: \(regions.map(\.name).joined(separator: ", ")))")
            return nil
        }

        let g = r.mapping(root["geo"], "geo", allowed: geoKeys)
        if g != nil && regions.isEmpty { r.problem(root["geo"], "geo", "geo needs regions: to map clients to") }
        guard !regions.isEmpty else { return }

        var defaultRegion = 0
        if let name = r.string(g?["default_region"], "geo.default_region") {
            defaultRegion = regionIndex(g?["default_region"], name, "geo.default_region") ?? 0
        }
        var rules: [(network: IPNetwork, region: Int)] = []
        var seen: [IPNetwork: String] = [:]
        if let nm = r.mapping(g?["networks"], "geo.networks", allowed: nil) {
            for name in orderedKeys(g?["networks"]) {
                let p = "geo.networks.\(name)"
                guard let ri = regionIndex(nm[name], name, p), let list = r.stringList(nm[name], p) else { continue }
                for (k, text) in list.enumerated() {
                    switch IPNetwork.parse(text) {
                    case .failure(let e): r.problem(nm[name], "\(p)[\(k)]", e.description)
                    case .success(let n):
                        if let prev = seen[n] {
                            r.problem(nm[name], "\(p)[\(k)]", "\(n) is already mapped under \(prev)")
                            continue
                        }
                        seen[n] = p
                        rules.append((n, ri))
                    }
                }
            }
        }
        var database: GeoDatabase? = nil
        if let path = r.string(g?["database"], "geo.database") {
            let resolved = FilePaths.resolve(path, in: baseDirectory)
            do { database = try GeoDatabase(path: resolved) } catch {
                r.problem(g?["database"], "geo.database", "\(error)")
            }
        }
        func codeMap(_ key: String, _ what: String) -> [UInt16: Int] {
            var out: [UInt16: Int] = [:]
            guard let m = r.mapping(g?[key], "geo.\(key)", allowed: nil) else { return out }
            if database == nil && g?["database"] == nil {
                r.problem(g?[key], "geo.\(key)", "only used with geo.database")
            }
            for (regionName, node) in m {
                let p = "geo.\(key).\(regionName)"
                guard let ri = regionIndex(node, regionName, p), let codes = r.stringList(node, p) else { continue }
                for c in codes {
                    guard let code = GeoDatabase.code(c) else {
                        r.problem(node, p, "'\(c)' is not a two-letter \(what) code")
                        continue
                    }
                    if let prev = out[code], prev != ri {
                        r.problem(node, p, "\(c) is already mapped to \(regions[prev].name)")
                    }
                    out[code] = ri
                }
            }
            return out
        }
        let countries = codeMap("countries", "ISO 3166 country")
        let continents = codeMap("continents", "continent (AF, AN, AS, EU, NA, OC, SA)")
        let ecs4 = r.int(g?["ecs_max_prefix_v4"], "geo.ecs_max_prefix_v4", range: 0...32) ?? 24
        let ecs6 = r.int(g?["ecs_max_prefix_v6"], "geo.ecs_max_prefix_v6", range: 0...128) ?? 56
        config.locator = Locator(
            regions: regions,
            rules: rules,
            database: database,
            countries: countries,
            continents: continents,
            defaultRegion: defaultRegion,
            ecsMaxPrefix4: ecs4,
            ecsMaxPrefix6: ecs6
        )

        // Pool order per client region for each nearest service (its problems were reported with the service).
        for si in config.services.indices where config.services[si].policy == .nearest {
            let s = config.services[si]
            let located: [(name: String, region: Region)] = s.pools.compactMap { pn in
                guard let pool = config.pools.first(where: { $0.name == pn }),
                    let reg = regions.first(where: { $0.name == pool.region })
                else { return nil }
                return (pn, reg)
            }
            config.services[si].regionOrder = regions.map { client in
                if let explicit = s.explicitOrder[client.name] {
                    return RegionOrder(region: client.name, pools: explicit, basis: "explicit order")
                }
                return RegionOrder(
                    region: client.name,
                    pools: Distance.order(pools: located, from: client, limit: s.maxPools),
                    basis: "distance"
                )
            }
        }
    }
}
