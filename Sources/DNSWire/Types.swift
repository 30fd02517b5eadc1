/// RR types, classes, rcodes and opcodes used by gtmd (IANA DNS parameters).
public enum RRType {
    public static let A: UInt16 = 1, NS: UInt16 = 2, CNAME: UInt16 = 5, SOA: UInt16 = 6, PTR: UInt16 = 12
    public static let HINFO: UInt16 = 13, MX: UInt16 = 15, TXT: UInt16 = 16, AAAA: UInt16 = 28, SRV: UInt16 = 33
    public static let DNAME: UInt16 = 39, OPT: UInt16 = 41, DS: UInt16 = 43, RRSIG: UInt16 = 46, NSEC: UInt16 = 47
    public static let DNSKEY: UInt16 = 48, NSEC3: UInt16 = 50, NSEC3PARAM: UInt16 = 51, SVCB: UInt16 = 64,
        HTTPS: UInt16 = 65
    public static let CDS: UInt16 = 59, CDNSKEY: UInt16 = 60
    public static let CAA: UInt16 = 257
    public static let TKEY: UInt16 = 249, TSIG: UInt16 = 250, IXFR: UInt16 = 251, AXFR: UInt16 = 252
    public static let MAILB: UInt16 = 253, MAILA: UInt16 = 254, ANY: UInt16 = 255

    static let names: [UInt16: String] = [
        1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 12: "PTR", 13: "HINFO", 15: "MX", 16: "TXT", 28: "AAAA", 33: "SRV",
        39: "DNAME", 41: "OPT", 43: "DS", 46: "RRSIG", 47: "NSEC", 48: "DNSKEY", 50: "NSEC3", 51: "NSEC3PARAM",
        59: "CDS", 60: "CDNSKEY", 64: "SVCB", 65: "HTTPS", 257: "CAA", 249: "TKEY", 250: "TSIG",
        251: "IXFR", 252: "AXFR", 255: "ANY",
    ]
    public static func name(_ t: UInt16) -> String { names[t] ?? "TYPE\(t)" }
    public static func value(_ s: String) -> UInt16? {
        let u = s.uppercased()
        if let hit = names.first(where: { $0.value == u }) { return hit.key }
        if u.hasPrefix("TYPE"), let v = UInt16(u.dropFirst(4)) { return v }
        return nil
    }
}

public enum RRClass {
    public static let IN: UInt16 = 1, CH: UInt16 = 3, NONE: UInt16 = 254, ANY: UInt16 = 255
}

public enum Rcode {
    public static let noError: UInt8 = 0, formErr: UInt8 = 1, servFail: UInt8 = 2, nxDomain: UInt8 = 3
    public static let notImp: UInt8 = 4, refused: UInt8 = 5, yxDomain: UInt8 = 6, notAuth: UInt8 = 9
    /// Extended rcode 16 (BADVERS): carried as 1 in the OPT TTL's upper byte, 0 in the header.
    public static let badVers: UInt16 = 16
    /// TSIG error BADKEY (RFC 8945 §5.3.2): carried in the TSIG RR's Error field, with rcode NOTAUTH.
    public static let badKey: UInt16 = 17
}

public enum Opcode { public static let query: UInt8 = 0 }

public enum EDNSOption {
    public static let nsid: UInt16 = 3, clientSubnet: UInt16 = 8, cookie: UInt16 = 10, padding: UInt16 = 12
    /// Extended DNS Errors (RFC 8914).
    public static let extendedError: UInt16 = 15
}
