import Answers
import CSockets
import Logging
import NIOCore
import NIOPosix
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The DNS listener: UDP on dedicated OS threads (recvmmsg/sendmmsg batches, one SO_REUSEPORT socket per
/// thread), TCP on SwiftNIO. Answers come from `store.current().respond(...)`. See Sources/Server/README.md.
public final class DNSServer: Sendable {
    private let endpoints: [ListenEndpoint]
    private let store: AnswerStore
    private let options: ServerOptions
    private let logger: Logger
    private let stopFlag = StopFlag()
    private let state = Mutex(State())

    private enum Phase { case idle, starting, running, stopped }

    /// Everything `start()` creates and `stop()` tears down.
    private struct Running {
        var udpFDs: [Int32] = []
        var threads: [pthread_t] = []
        var udpSlots: [CounterSlot] = []
        var tcpListeners: [Channel] = []
        /// Bound, listening TCP sockets not yet handed to NIO (closed by a tear-down).
        var tcpFDs: [Int32] = []
        var tcp: TCPService?
        var group: MultiThreadedEventLoopGroup?
    }

    private struct State {
        var phase = Phase.idle
        var running = Running()
        /// `stop()` was called while `start()` was binding; `start()` tears down and throws.
        var stopRequested = false
    }

    public init(
        endpoints: [ListenEndpoint],
        store: AnswerStore,
        options: ServerOptions = ServerOptions(),
        logger: Logger = Logger(label: "gtmd.server")
    ) {
        self.endpoints = endpoints
        self.store = store
        self.options = options
        self.logger = logger
    }

    /// Binds UDP and TCP on every endpoint and starts serving. Returns the endpoints actually bound (port 0
    /// replaced by the port the OS chose, the same for UDP and TCP), in the order given.
    /// Throws `ServerError` naming the address and the OS reason if anything cannot be bound; nothing stays
    /// bound or running in that case. Can be called once.
    public func start() throws -> [ListenEndpoint] {
        try state.withLock { s throws(ServerError) in
            guard s.phase == .idle else { throw ServerError(endpoint: nil, message: "server already started") }
            s.phase = .starting
        }
        var r = Running()
        let bound: [ListenEndpoint]
        do {
            bound = try startAll(into: &r)
        } catch {
            Self.tearDown(r, stopFlag: stopFlag, logger: logger)
            state.withLock { $0.phase = .stopped }
            throw error
        }
        let started = r
        let stoppedMeanwhile = state.withLock { s in
            s.running = started
            s.phase = s.stopRequested ? .stopped : .running
            if s.stopRequested { s.running = Running(udpSlots: started.udpSlots, tcp: started.tcp) }
            return s.stopRequested
        }
        if stoppedMeanwhile {
            Self.tearDown(started, stopFlag: stopFlag, logger: logger)
            throw ServerError(endpoint: nil, message: "server stopped while starting")
        }
        logger.info(
            "DNS server listening",
            metadata: ["endpoints": "\(bound.map(\.description).joined(separator: " "))"]
        )
        return bound
    }

    /// Stops serving: UDP threads finish their current batch and are joined (they notice within ~100 ms),
    /// TCP listeners close, then the TCP event loops shut down, closing open connections. Idempotent.
    public func stop() {
        let r: Running? = state.withLock { s in
            guard s.phase == .running else {
                if s.phase == .idle { s.phase = .stopped }
                if s.phase == .starting { s.stopRequested = true }
                return nil
            }
            s.phase = .stopped
            let r = s.running
            // Keep the counter slots so counters() still reports after stop.
            s.running = Running(udpSlots: r.udpSlots, tcp: r.tcp)
            return r
        }
        guard let r else { return }
        Self.tearDown(r, stopFlag: stopFlag, logger: logger)
        logger.info("DNS server stopped")
    }

    /// Sum of the responder counters of all UDP workers and TCP event loops (as last published: each worker
    /// publishes once per batch). Safe from any thread.
    public func counters() -> ResponderCounters {
        let slots = state.withLock { s in s.running.udpSlots + (s.running.tcp?.slots ?? []) }
        var total = ResponderCounters()
        for slot in slots { total.add(slot.read()) }
        return total
    }

    /// The counters of one transport (UDP workers or TCP event loops), as `counters()` but split.
    public func counters(_ transport: ClientInfo.Transport) -> ResponderCounters {
        let slots = state.withLock { s in transport == .udp ? s.running.udpSlots : (s.running.tcp?.slots ?? []) }
        var total = ResponderCounters()
        for slot in slots { total.add(slot.read()) }
        return total
    }

    // MARK: - Start

    private func startAll(into r: inout Running) throws -> [ListenEndpoint] {
        guard !endpoints.isEmpty else { throw ServerError(endpoint: nil, message: "no listen endpoints") }
        guard (1...1024).contains(options.udpBatchSize) else {
            throw ServerError(endpoint: nil, message: "udpBatchSize must be 1...1024, not \(options.udpBatchSize)")
        }
        for ep in endpoints {
            guard gtmd_parse_family(ep.host) != 0 else {
                throw ServerError(endpoint: ep, message: "'\(ep.host)' is not an IPv4 or IPv6 address")
            }
            guard (0...65535).contains(ep.port) else {
                throw ServerError(endpoint: ep, message: "port \(ep.port) out of range")
            }
        }
        let workers = options.udpWorkersPerAddress > 0 ? options.udpWorkersPerAddress : System.coreCount
        // Every socket is bound first, so a taken address fails the start before anything is served; then the
        // UDP threads start, and NIO's event loops are made and take the TCP sockets after them: their threads
        // and channel set-up (~1 ms at a cold start) are no longer between the first table and the first UDP
        // answer. Connections that arrive meanwhile wait in the listen backlog.
        var bound: [ListenEndpoint] = []
        for ep in endpoints {
            let (fds, tcpFD, port) = try bind(ep, udpSockets: workers)
            r.udpFDs += fds
            r.tcpFDs.append(tcpFD)
            bound.append(ListenEndpoint(host: ep.host, port: port))
        }

        var index = 0
        let ready = ThreadsReady()
        for fd in r.udpFDs {
            let slot = CounterSlot()
            guard
                let worker = UDPWorker(
                    fd: fd,
                    batchSize: options.udpBatchSize,
                    store: store,
                    slot: slot,
                    stop: stopFlag,
                    logger: logger,
                    rateLimit: options.rateLimit
                )
            else {
                throw ServerError(endpoint: nil, message: "cannot allocate UDP buffers")
            }
            r.udpSlots.append(slot)
            r.threads.append(try startThread(worker, name: "gtmd-udp-\(index)", ready: ready))
            index += 1
        }
        ready.wait(for: r.threads.count)
        let tcpThreads = options.tcpThreads > 0 ? options.tcpThreads : System.coreCount
        let group = MultiThreadedEventLoopGroup(numberOfThreads: tcpThreads)
        r.group = group
        let tcp = TCPService(group: group, store: store, options: options, logger: logger)
        r.tcp = tcp
        for ep in bound {
            // NIO owns the socket from here (it closes it with the channel).
            let fd = r.tcpFDs.removeFirst()
            r.tcpListeners.append(try tcpListener(fd, ep, group: group, tcp: tcp))
        }
        return bound
    }

    /// Binds `udpSockets` UDP sockets and one listening TCP socket on one endpoint. With port 0, the first UDP
    /// socket picks the port and the rest follow it; if TCP cannot get that port, everything is retried on a
    /// new one.
    private func bind(_ ep: ListenEndpoint, udpSockets: Int) throws -> ([Int32], Int32, Int) {
        let attempts = ep.port == 0 ? 8 : 1
        var attempt = 0
        while true {
            attempt += 1
            var fds: [Int32] = []
            let port: Int
            do {
                let first = try udpSocket(ep, port: ep.port)
                fds.append(first)
                let local = gtmd_local_port(first)
                guard local > 0 else {
                    throw ServerError(endpoint: ep, message: "cannot read bound UDP port: \(errnoText(-local))")
                }
                port = Int(local)
                for _ in 1..<max(1, udpSockets) {
                    fds.append(try udpSocket(ep, port: port))
                }
            } catch {
                for fd in fds { _ = gtmd_close(fd) }
                throw error
            }
            do {
                return (fds, try tcpSocket(ep, port: port), port)
            } catch {
                for fd in fds { _ = gtmd_close(fd) }
                // The OS-chosen UDP port may be taken for TCP: try another one.
                if attempt >= attempts { throw error }
            }
        }
    }

    private func udpSocket(_ ep: ListenEndpoint, port: Int) throws -> Int32 {
        let fd = gtmd_udp_socket(
            ep.host,
            UInt16(port),
            Int32(clamping: options.socketBufferSize),
            UDPWorker.receiveTimeoutMs
        )
        return try Self.bound(fd, "UDP", ep, port: port)
    }

    /// The TCP listeners' backlog.
    static let tcpBacklog: Int32 = 256

    private func tcpSocket(_ ep: ListenEndpoint, port: Int) throws -> Int32 {
        try Self.bound(gtmd_tcp_listener(ep.host, UInt16(port), Self.tcpBacklog), "TCP", ep, port: port)
    }

    /// `fd` from a CSockets socket maker, or the error naming the address and the OS reason (`-fd`).
    private static func bound(_ fd: Int32, _ transport: String, _ ep: ListenEndpoint, port: Int) throws -> Int32 {
        guard fd >= 0 else {
            let shown = ListenEndpoint(host: ep.host, port: port)
            throw ServerError(endpoint: shown, message: "cannot bind \(transport): \(errnoText(-fd))")
        }
        return fd
    }

    /// The NIO listener on a bound, listening socket (`tcpSocket`).
    private func tcpListener(
        _ fd: Int32,
        _ ep: ListenEndpoint,
        group: MultiThreadedEventLoopGroup,
        tcp: TCPService
    ) throws -> Channel {
        let bootstrap = ServerBootstrap(group: group)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            // Small reads bound the work and reply bytes one read can produce (all complete queries of
            // a read are answered before back-pressure can stop reading) and keep the event loop fair
            // between connections: ≤ 4 KiB of queries per connection per turn.
            .childChannelOption(.maxMessagesPerRead, value: 1)
            .childChannelOption(.recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: 4096))
            .childChannelOption(.writeBufferWaterMark, value: .init(low: 32 * 1024, high: 256 * 1024))
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try tcp.initialize(channel) }
            }
        do {
            let channel = try bootstrap.withBoundSocket(fd).wait()
            // NIO listens again with its own default backlog (128) when it takes a socket: ours back.
            _ = gtmd_listen(fd, Self.tcpBacklog)
            return channel
        } catch {
            throw ServerError(endpoint: ep, message: "cannot listen on TCP: \(describe(error))")
        }
    }

    // MARK: - Stop

    private static func tearDown(_ r: Running, stopFlag: StopFlag, logger: Logger) {
        stopFlag.set()
        // Wake the UDP threads blocked in recvmmsg (their receive timeout is the fallback).
        for fd in r.udpFDs { _ = gtmd_shutdown_read(fd) }
        // Stop accepting TCP.
        for listener in r.tcpListeners { try? listener.close().wait() }
        for fd in r.tcpFDs { _ = gtmd_close(fd) }
        for thread in r.threads { _ = pthread_join(thread, nil) }
        for fd in r.udpFDs { _ = gtmd_close(fd) }
        // Closes the remaining TCP connections.
        do { try r.group?.syncShutdownGracefully() } catch {
            logger.warning("TCP event loop shutdown failed: \(error)")
        }
    }
}

func errnoText(_ err: Int32) -> String {
    "\(String(cString: gtmd_strerror(err))) (errno \(err))"
}

private func describe(_ error: Error) -> String {
    if let io = error as? IOError { return errnoText(io.errnoCode) }
    return "\(error)"
}
