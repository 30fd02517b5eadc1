import FoundationEssentials
import Glibc

/// A region: where a set of pools runs, and a place clients are mapped to.
public struct Region: Sendable, Hashable {
    public var name: String
    public var latitude: Double
    public var longitude: Double
    /// Route 53-style bias, -99...99: a positive bias makes the region look nearer (its area grows).
    public var bias: Double
    public init(name: String, latitude: Double, longitude: Double, bias: Double = 0) {
        self.name = name
        self.latitude = latitude
        self.longitude = longitude
        self.bias = bias
    }
}

public enum Distance {
    /// Great-circle distance in kilometres (haversine, mean Earth radius).
    public static func km(_ lat1: Double, _ lon1: Double, _ lat2: Double, _ lon2: Double) -> Double {
        let r = Double.pi / 180
        let dlat = (lat2 - lat1) * r
        let dlon = (lon2 - lon1) * r
        let h = sin(dlat / 2) * sin(dlat / 2) + cos(lat1 * r) * cos(lat2 * r) * sin(dlon / 2) * sin(dlon / 2)
        return 2 * 6371.0088 * asin(min(1, sqrt(h)))
    }

    /// Distance from a point to a region as seen through the region's bias: `km * (1 - bias/100)`.
    public static func biased(_ lat: Double, _ lon: Double, to region: Region) -> Double {
        km(lat, lon, region.latitude, region.longitude) * (1 - region.bias / 100)
    }

    /// Index of the region nearest to a point (biased); ties go to the first listed.
    public static func nearest(_ lat: Double, _ lon: Double, in regions: [Region]) -> Int? {
        var best: Int? = nil
        var bestD = Double.infinity
        for (i, r) in regions.enumerated() {
            let d = biased(lat, lon, to: r)
            if d < bestD {
                best = i
                bestD = d
            }
        }
        return best
    }

    /// Pools ordered for clients in `client`: by biased distance from the client region to each pool's
    /// region, ties in the given order; `limit` keeps the first n.
    public static func order(pools: [(name: String, region: Region)], from client: Region, limit: Int?) -> [String] {
        let sorted = pools.enumerated().sorted { a, b in
            let da = biased(client.latitude, client.longitude, to: a.element.region)
            let db = biased(client.latitude, client.longitude, to: b.element.region)
            return da != db ? da < db : a.offset < b.offset
        }.map(\.element.name)
        if let limit { return Array(sorted.prefix(limit)) }
        return sorted
    }
}
