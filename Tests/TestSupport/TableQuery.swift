import Answers
import DNSWire

/// Asks an answer table a question the way a UDP worker does, with no socket; the reply is parsed by ldns.
public enum TableQuery {
    /// The raw reply to `query` (empty when the responder drops it).
    public static func ask(_ query: [UInt8], table: AnswerTable, transport: ClientInfo.Transport = .udp) -> [UInt8] {
        let scratch = QueryScratch()
        var out = [UInt8](repeating: 0, count: AnswerTable.maxTCPPayload)
        let n = query.withUnsafeBytes { q in
            out.withUnsafeMutableBytes { o in
                table.respond(q, into: o, client: ClientInfo(transport: transport), scratch: scratch)
            }
        }
        return Array(out[0..<n])
    }

    /// The parsed reply for `name`/`type`, nil when there is none or ldns cannot parse it.
    public static func reply(
        _ table: AnswerTable,
        _ name: String,
        _ type: UInt16 = RRType.A,
        id: UInt16 = 1
    ) -> ParsedPacket? {
        var q = QueryBuilder(name, type)
        q.id = id
        return LdnsRR.parsePacket(ask(q.bytes, table: table))
    }

    /// The answer section as (rdata text, TTL) pairs.
    public static func answers(
        _ table: AnswerTable,
        _ name: String,
        _ type: UInt16 = RRType.A
    ) -> [(data: String, ttl: UInt32)] {
        (reply(table, name, type)?.answer ?? []).map { (LdnsRR.rdataPresentation($0), $0.ttl) }
    }
}
