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
    public init(
        regions: [Region],
        rules: [(network: IPNetwork, region: Int)],
        database: GeoDatabase? = nil,
        countries: [UInt16: Int] = [:],
        continents: [UInt16: Int] = [:],
        defaultRegion: Int = 0,
        ecsMaxPrefix4: Int = 24,
        ecsMaxPrefix6: Int = 56
    ) {
        self.regions = regions
        self.rules = rules
        self.database = database
        self.countries = countries
        self.continents = continents
        self.defaultRegion = defaultRegion
        self.ecsMaxPrefix4 = ecsMaxPrefix4
        self.ecsMaxPrefix6 = ecsMaxPrefix6
        var t = NetworkMap()
        for (i, r) in rules.enumerated() { t.insert(r.network, value: Int32(i)) }
        t.seal()
        trie = t
    }

    public func regionIndex(_ name: String) -> Int? { regions.firstIndex { $0.name == name } }

    /// Network rules more specific than the ECS cap of their family, in config order, each with a warning:
    /// ECS clients inside them are located by more bits than the cap (see `clientAddress`), and a resolver
    /// that sends no more than the cap gets answers whose scope asks for more.
    public var rulesLongerThanECSCap: [(network: IPNetwork, region: Int, warning: String)] {
        rules.compactMap { r in
            let cap = r.network.base.family == 4 ? ecsMaxPrefix4 : ecsMaxPrefix6
            guard r.network.length > cap else { return nil }
            let key = r.network.base.family == 4 ? "ecs_max_prefix_v4" : "ecs_max_prefix_v6"
            return (
                r.network, r.region,
                "\(r.network) (\(regions[r.region].name)) is longer than geo.\(key) (\(cap)): clients whose resolver sends "
                    + "ECS are located by up to \(r.network.length) bits of their address to tell it apart, and a resolver "
                    + "that sends /\(cap) or less gets answers scoped longer than its prefix (RFC 7871 §7.2.1)"
            )
        }
    }

    /// Bits of an ECS address that are used: the source prefix capped by the configured maximum.
    @inline(__always)
    public func ecsBits(family: UInt8, sourcePrefix: Int) -> Int {
        min(sourcePrefix, family == 4 ? ecsMaxPrefix4 : ecsMaxPrefix6)
    }

    /// Which address locates a client, and how many of its bits: the ECS address cut to the bits used
    /// when the query has ECS with a usable prefix, else the source address (an IPv4-mapped IPv6 source
    /// as IPv4). The one rule for the responder, `gtmd locate` and `/explain`.
    ///
    /// Bits used: the source prefix capped at `ecsMaxPrefix4/6`, and beyond the cap (up to the source
    /// prefix) as many as a more specific network rule needs to tell this address from its neighbours.
    /// So the scope of the answer never covers an address the rules send elsewhere: 127.0.0.3/32 with a
    /// /32 rule and a /24 cap is located by all 32 bits (scope /32), 127.0.0.5/32 by 30 (scope /30).
    @inline(__always)
    public func clientAddress(
        source: AddressBits,
        ecs: AddressBits?,
        ecsPrefix: Int
    ) -> (address: AddressBits, bits: Int, byECS: Bool) {
        if let ecs {
            var bits = ecsBits(family: ecs.family, sourcePrefix: ecsPrefix)
            if bits > 0 {
                if ecsPrefix > bits {
                    let needed = trie.lookup(ecs.masked(ecsPrefix), bits: ecsPrefix).scope
                    bits = min(ecsPrefix, max(bits, needed))
                }
                return (ecs.masked(bits), bits, true)
            }
        }
        let s = source.unmapped
        return (s, s.width, false)
    }

    /// What decided a client's region: the matching rule's index (-1 for none), else the database entry
    /// (nil without a database) and how it was mapped (see `regionOf`; nil when it was not).
    struct Resolution {
        var region: Int
        var scope: Int
        var rule: Int32
        var entry: GeoDatabase.Entry? = nil
        var how: Int? = nil
    }

    @inline(__always)
    func resolve(_ a: AddressBits, bits: Int) -> Resolution {
        let m = trie.lookup(a, bits: bits)
        if m.value >= 0 { return Resolution(region: rules[Int(m.value)].region, scope: m.scope, rule: m.value) }
        guard let db = database else { return Resolution(region: defaultRegion, scope: m.scope, rule: -1) }
        let e = db.lookup(a.masked(bits))
        let mapped = regionOf(e)
        return Resolution(
            region: mapped?.region ?? defaultRegion,
            scope: max(m.scope, min(bits, e.netmask)),
            rule: -1,
            entry: e,
            how: mapped?.how
        )
    }

    /// The client region for the first `bits` bits of `a`, and the ECS scope that answer is valid for.
    @inline(__always)
    public func locate(_ a: AddressBits, bits: Int) -> (region: Int, scope: Int) {
        let r = resolve(a, bits: bits)
        return (r.region, r.scope)
    }

    @inline(__always)
    func regionOf(_ e: GeoDatabase.Entry) -> (region: Int, how: Int)? {
        guard e.found else { return nil }
        if e.country != 0, let r = countries[e.country] { return (r, 0) }
        if e.continent != 0, let r = continents[e.continent] { return (r, 1) }
        if let lat = e.latitude, let lon = e.longitude, let r = Distance.nearest(lat, lon, in: regions) {
            return (r, 2)
        }
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
        let r = resolve(a, bits: bits)
        var source: String
        if r.rule >= 0 {
            source = "network rule \(rules[Int(r.rule)].network)"
        } else if let db = database, let e = r.entry {
            switch r.how {
            case 0?: source = "database \(db.path): country \(GeoDatabase.codeText(e.country)) (network /\(e.netmask))"
            case 1?:
                source = "database \(db.path): continent \(GeoDatabase.codeText(e.continent)) (network /\(e.netmask))"
            case 2?:
                source =
                    "database \(db.path): coordinates \(e.latitude!),\(e.longitude!), nearest region (network /\(e.netmask))"
            default:
                source =
                    e.found
                    ? "database \(db.path) has country \(GeoDatabase.codeText(e.country)), continent \(GeoDatabase.codeText(e.continent)) and no coordinates, none mapped: default region"
                    : "no network rule, not in database \(db.path): default region"
            }
        } else {
            source = "no network rule matches: default region"
        }
        return Location(
            address: IPNetwork(base: a, length: bits),
            region: r.region,
            regionName: regions[r.region].name,
            scope: r.scope,
            source: source
        )
    }
}
