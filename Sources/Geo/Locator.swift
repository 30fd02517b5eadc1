/// Where clients are: network rules (longest prefix wins), then an optional MaxMind database (country,
/// continent or coordinates → region), then the default region. Immutable; built with the config and
/// swapped with the answer table, read by the responder without locks or allocation.
public final class Locator: Sendable {
    public let regions: [Region]
    /// Network rules, in config order; the trie stores rule indexes.
    public let rules: [(network: IPNetwork, region: Int)]
    let trie: NetworkMap
    public let database: GeoDatabase?
    let countries: [UInt16: Int]
    let continents: [UInt16: Int]
    public let defaultRegion: Int
    /// The most ECS source bits ever used (RFC 7871 §11.1 privacy; also keeps answers cacheable).
    public let ecsMaxPrefix4: Int
    public let ecsMaxPrefix6: Int

    /// `rules` must not repeat a network (the config loader reports that); region indexes must be valid.
    public init(regions: [Region], rules: [(network: IPNetwork, region: Int)], database: GeoDatabase? = nil,
                countries: [UInt16: Int] = [:], continents: [UInt16: Int] = [:], defaultRegion: Int = 0,
                ecsMaxPrefix4: Int = 24, ecsMaxPrefix6: Int = 56) {
        self.regions = regions; self.rules = rules; self.database = database
        self.countries = countries; self.continents = continents; self.defaultRegion = defaultRegion
        self.ecsMaxPrefix4 = ecsMaxPrefix4; self.ecsMaxPrefix6 = ecsMaxPrefix6
        var t = NetworkMap()
        for (i, r) in rules.enumerated() { t.insert(r.network, value: Int32(i)) }
        trie = t
    }

    public func regionIndex(_ name: String) -> Int? { regions.firstIndex { $0.name == name } }

    /// Bits of an ECS address that are used: the source prefix capped by the configured maximum.
    @inline(__always)
    public func ecsBits(family: UInt8, sourcePrefix: Int) -> Int {
        min(sourcePrefix, family == 4 ? ecsMaxPrefix4 : ecsMaxPrefix6)
    }

    /// The client region for the first `bits` bits of `a`, and the ECS scope that answer is valid for.
    @inline(__always)
    public func locate(_ a: AddressBits, bits: Int) -> (region: Int, scope: Int) {
        let m = trie.lookup(a, bits: bits)
        if m.value >= 0 { return (rules[Int(m.value)].region, m.scope) }
        guard let db = database else { return (defaultRegion, m.scope) }
        let e = db.lookup(a.masked(bits))
        let scope = min(bits, max(m.scope, e.netmask))
        return (regionOf(e)?.region ?? defaultRegion, scope)
    }

    @inline(__always)
    func regionOf(_ e: GeoDatabase.Entry) -> (region: Int, how: Int)? {
        guard e.found else { return nil }
        if e.country != 0, let r = countries[e.country] { return (r, 0) }
        if e.continent != 0, let r = continents[e.continent] { return (r, 1) }
        if let lat = e.latitude, let lon = e.longitude, let r = Distance.nearest(lat, lon, in: regions) { return (r, 2) }
        return nil
    }

    /// How a client was located, in words (for `gtmd locate` and `/explain`).
    public struct Location: Sendable {
        public var address: IPNetwork
        public var region: Int
        public var regionName: String
        public var scope: Int
        public var source: String
    }

    public func explain(_ a: AddressBits, bits: Int) -> Location {
        let (region, scope) = locate(a, bits: bits)
        let queried = IPNetwork(base: a, length: bits)
        let m = trie.lookup(a, bits: bits)
        var source: String
        if m.value >= 0 {
            source = "network rule \(rules[Int(m.value)].network)"
        } else if let db = database {
            let e = db.lookup(a.masked(bits))
            if let (_, how) = regionOf(e) {
                switch how {
                case 0: source = "database \(db.path): country \(GeoDatabase.codeText(e.country))"
                case 1: source = "database \(db.path): continent \(GeoDatabase.codeText(e.continent))"
                default: source = "database \(db.path): coordinates \(e.latitude!),\(e.longitude!), nearest region"
                }
                source += " (network /\(e.netmask))"
            } else if e.found {
                source = "database \(db.path) has country \(GeoDatabase.codeText(e.country)), continent \(GeoDatabase.codeText(e.continent)) and no coordinates, none mapped: default region"
            } else {
                source = "no network rule, not in database \(db.path): default region"
            }
        } else {
            source = "no network rule matches: default region"
        }
        return Location(address: queried, region: region, regionName: regions[region].name, scope: scope, source: source)
    }
}
