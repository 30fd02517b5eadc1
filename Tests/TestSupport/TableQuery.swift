import Answers
import DNSWire

/// Asks an answer table a question the way a UDP worker does, with no socket; the reply is parsed by ldns.
public enum TableQuery {
    /// The raw reply to `query` (empty when the responder drops it).
    public static func ask(
        _ query: [UInt8],
        table: AnswerTable,
        transport: ClientInfo.Transport = .udp,
        from source: String? = nil
    ) -> [UInt8] {
        let scratch = QueryScratch()
        let info = source.map { Self.client(ipv4: $0, transport: transport) } ?? ClientInfo(transport: transport)
        var out = [UInt8](repeating: 0, count: AnswerTable.maxTCPPayload)
        let n = query.withUnsafeBytes { q in
            out.withUnsafeMutableBytes { o in
                table.respond(q, into: o, client: info, scratch: scratch)
            }
        }
        return Array(out[0..<n])
    }

    /// The parsed reply for `name`/`type`, nil when there is none or ldns cannot parse it.
    public static func reply(
        _ table: AnswerTable,
        _ name: String,
        _ type: UInt16 = RRType.A,
        id: UInt16 = 1,
        from source: String? = nil
    ) -> ParsedPacket? {
        var q = QueryBuilder(name, type)
        q.id = id
        return LdnsRR.parsePacket(ask(q.bytes, table: table, from: source))
    }

    /// The answer section as (rdata text, TTL) pairs.
    public static func answers(
        _ table: AnswerTable,
        _ name: String,
        _ type: UInt16 = RRType.A,
        from source: String? = nil
    ) -> [(data: String, ttl: UInt32)] {
        (reply(table, name, type, from: source)?.answer ?? []).map { (LdnsRR.rdataPresentation($0), $0.ttl) }
    }

    /// A client at this IPv4 address (dotted quad), as a UDP worker fills it from the packet's source.
    public static func client(ipv4 text: String, transport: ClientInfo.Transport = .udp) -> ClientInfo {
        let octets = text.split(separator: ".").compactMap { UInt8($0) }
        precondition(octets.count == 4, "not an IPv4 address: \(text)")
        var bytes = [UInt8](repeating: 0, count: 16)
        bytes.replaceSubrange(0..<4, with: octets)
        let hi = bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 0, as: UInt64.self) }
        let lo = bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 8, as: UInt64.self) }
        return ClientInfo(transport: transport, family: 4, address: (hi, lo))
    }
}
