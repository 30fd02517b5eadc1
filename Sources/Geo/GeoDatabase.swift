import CMaxMindDB
import Glibc

/// A MaxMind DB file (`.mmdb`: GeoLite2/GeoIP2 City or Country, DB-IP, or a home-made one), memory-mapped
/// by libmaxminddb. Read-only after `init`, so lookups are safe from any thread; `lookup` does not allocate.
public final class GeoDatabase: @unchecked Sendable {  // the MMDB_s is never written after init
    public let path: String
    public let databaseType: String
    public let ipVersion: Int
    public let nodeCount: Int
    let db: UnsafeMutablePointer<MMDB_s>
    /// NULL-terminated key paths for MMDB_aget_value, allocated once.
    let countryPath: UnsafeMutablePointer<UnsafePointer<CChar>?>
    let continentPath: UnsafeMutablePointer<UnsafePointer<CChar>?>
    let latitudePath: UnsafeMutablePointer<UnsafePointer<CChar>?>
    let longitudePath: UnsafeMutablePointer<UnsafePointer<CChar>?>

    public init(path: String) throws(GeoError) {
        db = .allocate(capacity: 1)
        let status = MMDB_open(path, UInt32(MMDB_MODE_MMAP), db)
        guard status == MMDB_SUCCESS else {
            let why = String(cString: MMDB_strerror(status))
            let errnoText = status == MMDB_IO_ERROR ? ": " + String(cString: strerror(errno)) : ""
            db.deallocate()
            throw GeoError("\(path): cannot open the MaxMind database: \(why)\(errnoText)")
        }
        self.path = path
        databaseType = db.pointee.metadata.database_type.map { String(cString: $0) } ?? "?"
        ipVersion = Int(db.pointee.metadata.ip_version)
        nodeCount = Int(db.pointee.metadata.node_count)
        func keyPath(_ keys: [String]) -> UnsafeMutablePointer<UnsafePointer<CChar>?> {
            let p = UnsafeMutablePointer<UnsafePointer<CChar>?>.allocate(capacity: keys.count + 1)
            for (i, k) in keys.enumerated() { p[i] = UnsafePointer(strdup(k)) }
            p[keys.count] = nil
            return p
        }
        countryPath = keyPath(["country", "iso_code"])
        continentPath = keyPath(["continent", "code"])
        latitudePath = keyPath(["location", "latitude"])
        longitudePath = keyPath(["location", "longitude"])
    }

    deinit {
        MMDB_close(db)
        db.deallocate()
        for p in [countryPath, continentPath, latitudePath, longitudePath] {
            var i = 0
            while let s = p[i] {
                free(UnsafeMutablePointer(mutating: s))
                i += 1
            }
            p.deallocate()
        }
    }

    /// What the database says about an address. Codes are the two ASCII letters packed big-endian
    /// (`"DE"` = 0x4445), 0 when absent.
    public struct Entry: Sendable, Equatable {
        public var found = false
        /// Prefix length of the database network holding the address (in the address's own family).
        public var netmask = 0
        public var country: UInt16 = 0
        public var continent: UInt16 = 0
        public var latitude: Double? = nil
        public var longitude: Double? = nil
        public init() {}
    }

    public static func code(_ s: String) -> UInt16? {
        let u = Array(s.uppercased().utf8)
        guard u.count == 2, u.allSatisfy({ $0 >= 65 && $0 <= 90 }) else { return nil }
        return UInt16(u[0]) << 8 | UInt16(u[1])
    }

    public static func codeText(_ c: UInt16) -> String {
        c == 0 ? "-" : String(decoding: [UInt8(c >> 8), UInt8(c & 0xFF)], as: UTF8.self)
    }

    public func lookup(_ a: AddressBits) -> Entry {
        var entry = Entry()
        var err: Int32 = 0
        var result = MMDB_lookup_result_s()
        if a.family == 4 {
            var sin = sockaddr_in()
            sin.sin_family = sa_family_t(AF_INET)
            sin.sin_addr.s_addr = UInt32(truncatingIfNeeded: a.hi >> 32).bigEndian
            result = withUnsafePointer(to: &sin) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { MMDB_lookup_sockaddr(db, $0, &err) }
            }
        } else {
            guard ipVersion == 6 else { return entry }
            var sin6 = sockaddr_in6()
            sin6.sin6_family = sa_family_t(AF_INET6)
            withUnsafeMutableBytes(of: &sin6.sin6_addr) { raw in
                raw.storeBytes(of: a.hi.bigEndian, toByteOffset: 0, as: UInt64.self)
                raw.storeBytes(of: a.lo.bigEndian, toByteOffset: 8, as: UInt64.self)
            }
            result = withUnsafePointer(to: &sin6) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { MMDB_lookup_sockaddr(db, $0, &err) }
            }
        }
        guard err == MMDB_SUCCESS else { return entry }
        // IPv4 in an IPv6 tree lives below ::/96; report the IPv4 prefix length.
        var netmask = Int(result.netmask)
        if a.family == 4 && ipVersion == 6 { netmask = max(0, netmask - 96) }
        entry.netmask = min(netmask, a.width)
        guard result.found_entry else { return entry }
        entry.found = true
        var e = result.entry
        var data = MMDB_entry_data_s()
        /// A two-letter code as upper-case ASCII packed big-endian, 0 when absent or not two letters long.
        func code(_ path: UnsafeMutablePointer<UnsafePointer<CChar>?>) -> UInt16 {
            guard MMDB_aget_value(&e, &data, path) == MMDB_SUCCESS, data.has_data,
                data.type == UInt32(MMDB_DATA_TYPE_UTF8_STRING),
                data.data_size == 2, let s = data.utf8_string
            else { return 0 }
            return UInt16(UInt8(bitPattern: s[0]) & 0xDF) << 8 | UInt16(UInt8(bitPattern: s[1]) & 0xDF)
        }
        entry.country = code(countryPath)
        entry.continent = code(continentPath)
        func number(_ path: UnsafeMutablePointer<UnsafePointer<CChar>?>) -> Double? {
            guard MMDB_aget_value(&e, &data, path) == MMDB_SUCCESS, data.has_data else { return nil }
            if data.type == UInt32(MMDB_DATA_TYPE_DOUBLE) { return data.double_value }
            if data.type == UInt32(MMDB_DATA_TYPE_FLOAT) { return Double(data.float_value) }
            return nil
        }
        if let lat = number(latitudePath), let lon = number(longitudePath),
            (-90...90).contains(lat), (-180...180).contains(lon)
        {
            entry.latitude = lat
            entry.longitude = lon
        }
        return entry
    }
}
