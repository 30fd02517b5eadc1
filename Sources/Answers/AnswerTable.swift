import DNSWire

/// The immutable table of prebuilt wire answers (stub; the real builder lands with the responder).
public final class AnswerTable: Sendable {
    /// Largest UDP payload the responder ever writes; UDP output buffers must be at least this big.
    public static let maxUDPPayload = 4096
    /// TCP output buffers must be at least this big.
    public static let maxTCPPayload = 65535
    public let generation: UInt64
    public init(generation: UInt64 = 0) { self.generation = generation }
}

/// Per-worker scratch space, allocated once per worker thread / TCP connection handler and reused for
/// every query so the hot path does not allocate. Not shared between threads.
public final class QueryScratch {
    public var counters = ResponderCounters()
    public init() {}
}

extension AnswerTable {
    /// Answers one query. Writes the response into `out` and returns its length; 0 means drop.
    /// `out.count` must be ≥ `maxUDPPayload` for UDP and ≥ `maxTCPPayload` for TCP.
    public func respond(_ query: UnsafeRawBufferPointer, into out: UnsafeMutableRawBufferPointer,
                        client: ClientInfo, scratch: QueryScratch) -> Int {
        guard query.count >= 12, query[2] & 0x80 == 0 else { scratch.counters.dropped += 1; return 0 }
        // Stub: REFUSED echo of the header and question.
        let n = min(query.count, out.count)
        out.copyMemory(from: UnsafeRawBufferPointer(rebasing: query[0..<n]))
        out[2] = (query[2] | 0x80) & 0xFB
        out[3] = 5
        scratch.counters.queries += 1
        return n
    }
}
