import Answers
import CSockets
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Set once by `DNSServer.stop()`; UDP workers check it after every receive (which returns at least every
/// `UDPWorker.receiveTimeoutMs`).
final class StopFlag: Sendable {
    private let flag = Atomic<Bool>(false)
    var isSet: Bool { flag.load(ordering: .acquiring) }
    func set() { flag.store(true, ordering: .releasing) }
}

/// Everything one UDP worker thread owns: its socket (shared with nobody but `DNSServer.stop()`, which only
/// shuts it down and closes it after the thread has been joined), one `gtmd_batch` of buffers and one
/// `QueryScratch`. Created by `DNSServer.start()`, handed to its thread, then touched only by that thread,
/// so it is deliberately not `Sendable`.
final class UDPWorker {
    /// Largest query datagram accepted; bigger ones arrive with MSG_TRUNC and are dropped.
    static let maxQuerySize = 4096
    /// SO_RCVTIMEO of UDP sockets: a fallback only. `stop()` shuts the socket down for reading, which wakes a
    /// blocked `recvmmsg` and makes every later one return at once (the state stays on the socket, so the wake-up
    /// cannot be missed). An idle worker wakes once a second for it (10 times a second until session 23).
    static let receiveTimeoutMs: Int32 = 1000

    let fd: Int32
    private let batch: OpaquePointer
    private let store: AnswerStore
    private let scratch = QueryScratch()
    private let slot: CounterSlot
    private let stop: StopFlag
    private let logger: Logger
    private let limiter: ResponseRateLimiter?

    /// Returns nil if the batch buffers cannot be allocated.
    init?(
        fd: Int32,
        batchSize: Int,
        store: AnswerStore,
        slot: CounterSlot,
        stop: StopFlag,
        logger: Logger,
        rateLimit: RateLimitOptions = RateLimitOptions()
    ) {
        guard
            let batch = gtmd_batch_new(
                UInt32(batchSize),
                UInt32(Self.maxQuerySize),
                UInt32(AnswerTable.maxUDPPayload),
                gtmd_udp_has_pktinfo(fd)
            )
        else { return nil }
        self.fd = fd
        self.batch = batch
        self.store = store
        self.slot = slot
        self.stop = stop
        self.logger = logger
        self.limiter = rateLimit.enabled ? ResponseRateLimiter(rateLimit) : nil
    }

    deinit { gtmd_batch_free(batch) }

    /// The worker loop: receive a batch, take one table snapshot, answer every datagram into its own reply
    /// buffer, send all replies with one sendmmsg, publish the counters. No allocation, no lock per packet.
    func run() {
        let outCap = Int(gtmd_batch_out_cap(batch))
        let pkts = gtmd_batch_pkts(batch)!
        var errorsLogged = 0
        while !stop.isSet {
            let n = gtmd_batch_recv(batch, fd)
            if n < 0 {
                let err = -n
                if err == EAGAIN || err == EWOULDBLOCK || stop.isSet { continue }
                // Unexpected (ENOMEM, ...): log a few times, back off so a persistent error cannot spin.
                if errorsLogged < 10 {
                    errorsLogged += 1
                    logger.error("UDP receive failed: \(String(cString: gtmd_strerror(err))) (errno \(err))")
                }
                usleep(10_000)
                continue
            }
            if n == 0 { continue }
            let table = store.current()
            let nowMs = limiter == nil ? 0 : ResponseRateLimiter.nowMs()
            // A plain counting loop: a `for in` over a Range goes through an unspecialised generic iterator
            // in debug builds, which allocates.
            var i = 0
            while i < Int(n) {
                let p = pkts + i
                i += 1
                let len = Int(p.pointee.len)
                // Zero-length datagrams (also what a shutdown wake-up looks like) are ignored.
                if len == 0 { continue }
                if p.pointee.truncated != 0 || p.pointee.family == 0 {
                    scratch.counters.dropped += 1
                    continue
                }
                let client = ClientInfo(
                    transport: .udp,
                    family: p.pointee.family,
                    address: p.pointee.addr,
                    port: p.pointee.port
                )
                let query = UnsafeRawBufferPointer(start: p.pointee.in, count: len)
                let out = UnsafeMutableRawBufferPointer(start: p.pointee.out, count: outCap)
                var replyLength = table.respond(query, into: out, client: client, scratch: scratch)
                if replyLength > 0, let limiter {
                    switch limiter.check(
                        client: client,
                        reply: UnsafeRawBufferPointer(rebasing: out[0..<replyLength]),
                        scratch: scratch,
                        nowMs: nowMs
                    ) {
                    case .send: break
                    case .drop:
                        replyLength = 0
                        scratch.counters.rrlDropped += 1
                    case .slip:
                        replyLength = table.slip(out, length: replyLength, scratch: scratch)
                        scratch.counters.rrlSlipped += 1
                    }
                }
                p.pointee.out_len = replyLength > 0 && replyLength <= outCap ? UInt32(replyLength) : 0
            }
            _ = gtmd_batch_send(batch, fd, UInt32(n))
            slot.publish(scratch.counters)
        }
        slot.publish(scratch.counters)
    }
}

/// Counts the UDP threads that have reached their receive loop.
final class ThreadsReady: Sendable {
    private let count = Atomic<Int>(0)

    func arrive() { count.add(1, ordering: .releasing) }

    /// Yields the CPU until `n` threads have arrived, for at most `limitNs` of the monotonic clock (a yield can
    /// last a whole time slice of another task, so a count of yields would not bound the time). On a server held
    /// to one core a new thread otherwise waits for the starting thread's time slice to end, and the UDP threads
    /// should be receiving before the start goes on with the TCP listener's set-up.
    func wait(for n: Int, limitNs: Int64 = 50_000_000) {
        let deadline = gtmd_monotonic_ns() + limitNs
        while count.load(ordering: .acquiring) < n && gtmd_monotonic_ns() < deadline {
            sched_yield()
        }
    }
}

/// Starts `worker.run()` on a new joinable OS thread named `name` (at most 15 bytes are kept); the thread tells
/// `ready` when it starts receiving.
func startThread(_ worker: UDPWorker, name: String, ready: ThreadsReady) throws(ServerError) -> pthread_t {
    final class Start {
        let worker: UDPWorker
        let name: String
        let ready: ThreadsReady
        init(worker: UDPWorker, name: String, ready: ThreadsReady) {
            self.worker = worker
            self.name = name
            self.ready = ready
        }
    }
    let arg = Unmanaged.passRetained(Start(worker: worker, name: name, ready: ready)).toOpaque()
    var thread = pthread_t()
    let rc = pthread_create(
        &thread,
        nil,
        { raw in
            let start = Unmanaged<Start>.fromOpaque(raw!).takeRetainedValue()
            _ = gtmd_set_thread_name(start.name)
            start.ready.arrive()
            start.worker.run()
            return nil
        },
        arg
    )
    if rc != 0 {
        Unmanaged<Start>.fromOpaque(arg).release()
        throw ServerError(endpoint: nil, message: "cannot start UDP thread: \(String(cString: gtmd_strerror(rc)))")
    }
    return thread
}
