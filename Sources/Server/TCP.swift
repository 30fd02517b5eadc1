import Answers
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// Per-event-loop resources for TCP: one reply buffer of `AnswerTable.maxTCPPayload` bytes and one
/// `QueryScratch`, shared by all connections on that loop (the responder is synchronous, so they are never
/// used by two queries at once). Only touched on its event loop (it lives in a `NIOLoopBoundBox`).
final class TCPLoopState {
    let out: UnsafeMutableRawBufferPointer
    let scratch = QueryScratch()
    let slot: CounterSlot

    init(slot: CounterSlot) {
        self.slot = slot
        out = UnsafeMutableRawBufferPointer.allocate(byteCount: AnswerTable.maxTCPPayload, alignment: 16)
        out.initializeMemory(as: UInt8.self, repeating: 0)
    }

    deinit { out.deallocate() }
}

/// Caps open TCP connections in total and per client address. Taken once per connection open / close.
final class ConnectionLimiter: Sendable {
    struct Key: Hashable, Sendable {
        var family: UInt8
        var high: UInt64
        var low: UInt64
    }

    private struct State {
        var total = 0
        var perClient: [Key: Int] = [:]
    }

    private let maxTotal: Int
    private let maxPerClient: Int
    private let state = Mutex(State())

    init(maxTotal: Int, maxPerClient: Int) {
        self.maxTotal = maxTotal
        self.maxPerClient = maxPerClient
    }

    /// Counts a new connection from `key`; false (and nothing counted) if a cap is reached.
    func acquire(_ key: Key) -> Bool {
        state.withLock { s in
            guard s.total < maxTotal, s.perClient[key, default: 0] < maxPerClient else { return false }
            s.total += 1
            s.perClient[key, default: 0] += 1
            return true
        }
    }

    func release(_ key: Key) {
        state.withLock { s in
            s.total -= 1
            if let n = s.perClient[key], n > 1 { s.perClient[key] = n - 1 } else { s.perClient[key] = nil }
        }
    }

    var open: Int { state.withLock { $0.total } }
}

/// Everything the TCP side shares between listeners and connections.
final class TCPService: Sendable {
    let store: AnswerStore
    let limiter: ConnectionLimiter
    let idleTimeout: TimeAmount
    let queryTimeout: TimeAmount
    let logger: Logger
    /// One state box per event loop of the group, keyed by the loop's identity; immutable after init.
    private let loops: [ObjectIdentifier: NIOLoopBoundBox<TCPLoopState>]
    let slots: [CounterSlot]

    init(group: MultiThreadedEventLoopGroup, store: AnswerStore, options: ServerOptions, logger: Logger) {
        self.store = store
        limiter = ConnectionLimiter(
            maxTotal: max(0, options.tcpMaxConnections),
            maxPerClient: max(0, options.tcpMaxConnectionsPerClient)
        )
        idleTimeout = TimeAmount(options.tcpIdleTimeout)
        queryTimeout = TimeAmount(options.tcpQueryTimeout)
        self.logger = logger
        var loops: [ObjectIdentifier: NIOLoopBoundBox<TCPLoopState>] = [:]
        var slots: [CounterSlot] = []
        for loop in group.makeIterator() {
            let slot = CounterSlot()
            slots.append(slot)
            loops[ObjectIdentifier(loop)] = NIOLoopBoundBox.makeBoxSendingValue(
                TCPLoopState(slot: slot),
                eventLoop: loop
            )
        }
        self.loops = loops
        self.slots = slots
    }

    /// Sets up an accepted connection's pipeline; runs on the connection's event loop.
    func initialize(_ channel: Channel) throws {
        let client = clientInfo(channel.remoteAddress)
        let key = ConnectionLimiter.Key(family: client.family, high: client.address.0, low: client.address.1)
        guard limiter.acquire(key) else {
            logger.debug(
                "TCP connection refused (over the connection cap)",
                metadata: ["client": "\(channel.remoteAddress.map { "\($0)" } ?? "?")"]
            )
            try channel.pipeline.syncOperations.addHandler(RejectHandler())
            return
        }
        let limiter = self.limiter
        channel.closeFuture.whenComplete { _ in limiter.release(key) }
        guard let box = loops[ObjectIdentifier(channel.eventLoop)] else {
            // A channel on a loop outside our group cannot happen with ServerBootstrap(group:).
            try channel.pipeline.syncOperations.addHandler(RejectHandler())
            return
        }
        try channel.pipeline.syncOperations.addHandlers([
            BackPressureHandler(),
            IdleStateHandler(readTimeout: idleTimeout),
            ByteToMessageHandler(DNSFrameDecoder(queryTimeout: queryTimeout)),
            DNSQueryHandler(store: store, loop: box.value, client: client),
        ])
    }

    /// ClientInfo of a TCP peer: family, address bytes in network order, port.
    private func clientInfo(_ address: SocketAddress?) -> ClientInfo {
        var info = ClientInfo(transport: .tcp)
        switch address {
        case .v4(let a)?:
            var sin = a.address
            withUnsafeMutableBytes(of: &info.address) { dst in
                withUnsafeBytes(of: &sin.sin_addr) { dst.copyMemory(from: $0) }
            }
            info.family = 4
            info.port = UInt16(bigEndian: sin.sin_port)
        case .v6(let a)?:
            var sin6 = a.address
            withUnsafeMutableBytes(of: &info.address) { dst in
                withUnsafeBytes(of: &sin6.sin6_addr) { dst.copyMemory(from: $0) }
            }
            info.family = 6
            info.port = UInt16(bigEndian: sin6.sin6_port)
        default:
            info.family = 0
        }
        return info
    }
}

extension TimeAmount {
    init(_ d: Duration) {
        let (s, atto) = d.components
        let ns = s.multipliedReportingOverflow(by: 1_000_000_000)
        self = .nanoseconds(ns.overflow ? Int64.max : ns.partialValue &+ atto / 1_000_000_000)
    }
}

/// Closes a connection that is over a cap as soon as it is active.
final class RejectHandler: ChannelInboundHandler {
    typealias InboundIn = NIOAny

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { context.close(promise: nil) }
    }

    func channelActive(context: ChannelHandlerContext) {
        context.close(promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}
}

enum DNSFrameError: Error {
    case zeroLength
}

/// Splits the TCP byte stream into DNS messages (2-byte big-endian length prefix, RFC 1035 4.2.2).
/// A zero length is an error (the connection is closed). Once a message has started to arrive it must be
/// complete within `queryTimeout`, or the connection is closed.
struct DNSFrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = ByteBuffer

    let queryTimeout: TimeAmount
    private var timer: Scheduled<Void>?

    init(queryTimeout: TimeAmount) { self.queryTimeout = queryTimeout }

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt16.self) else {
            armTimer(context: context, partial: buffer.readableBytes > 0)
            return .needMoreData
        }
        guard length > 0 else {
            cancelTimer()
            throw DNSFrameError.zeroLength
        }
        guard buffer.readableBytes >= 2 + Int(length) else {
            armTimer(context: context, partial: true)
            return .needMoreData
        }
        cancelTimer()
        buffer.moveReaderIndex(forwardBy: 2)
        let message = buffer.readSlice(length: Int(length))!
        context.fireChannelRead(Self.wrapInboundOut(message))
        return .continue
    }

    mutating func decodeLast(
        context: ChannelHandlerContext,
        buffer: inout ByteBuffer,
        seenEOF: Bool
    ) throws -> DecodingState {
        let state = try decode(context: context, buffer: &buffer)
        if state == .needMoreData {
            // The stream ended (or the handler is going away) inside a message: discard the partial message.
            cancelTimer()
            buffer.moveReaderIndex(to: buffer.writerIndex)
        }
        return state
    }

    mutating func decoderRemoved(context: ChannelHandlerContext) {
        cancelTimer()
    }

    private mutating func armTimer(context: ChannelHandlerContext, partial: Bool) {
        guard partial else {
            cancelTimer()
            return
        }
        guard timer == nil else { return }
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: queryTimeout) {
            context.close(promise: nil)
        }
    }

    private mutating func cancelTimer() {
        timer?.cancel()
        timer = nil
    }
}

/// Answers each framed query on the event loop, in order, and writes `length + reply`; flushes once per
/// read burst. A reply length of 0 from the responder (drop), a framing error or the idle timeout closes
/// the connection (after writing the replies already produced).
final class DNSQueryHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let store: AnswerStore
    private let loop: TCPLoopState
    private let client: ClientInfo
    private var closing = false
    private var needsFlush = false
    private var answered = false

    init(store: AnswerStore, loop: TCPLoopState, client: ClientInfo) {
        self.store = store
        self.loop = loop
        self.client = client
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if closing { return }
        let query = Self.unwrapInboundIn(data)
        let table = store.current()
        let out = loop.out
        let length = query.withUnsafeReadableBytes { bytes in
            table.respond(bytes, into: out, client: client, scratch: loop.scratch)
        }
        answered = true
        guard length > 0, length <= out.count, length <= Int(UInt16.max) else {
            closeGracefully(context: context)
            return
        }
        var reply = context.channel.allocator.buffer(capacity: length + 2)
        reply.writeInteger(UInt16(length))
        reply.writeBytes(UnsafeRawBufferPointer(rebasing: out[0..<length]))
        context.write(Self.wrapOutboundOut(reply), promise: nil)
        needsFlush = true
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if needsFlush {
            needsFlush = false
            context.flush()
        }
        if answered {
            answered = false
            loop.slot.publish(loop.scratch.counters)
        }
        context.fireChannelReadComplete()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        closeGracefully(context: context)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if answered {
            answered = false
            loop.slot.publish(loop.scratch.counters)
        }
        context.fireChannelInactive()
    }

    /// Stops answering, lets the replies already written go out, then closes.
    private func closeGracefully(context: ChannelHandlerContext) {
        if closing { return }
        closing = true
        needsFlush = false
        context.flush()
        let channel = context.channel
        context.close(mode: .output).whenComplete { _ in channel.close(promise: nil) }
    }
}
