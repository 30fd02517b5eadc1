import Dispatch
import FoundationEssentials
import Glibc
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle
import Synchronization

/// Bounds on the control listener.
public struct ControlOptions: Sendable {
    /// Largest request body (a bigger `Content-Length` or body: 413, connection closed).
    public var maxBodyBytes = 64 << 10
    /// Most header fields in a request (431 beyond). The HTTP parser caps the header block at 80 KiB.
    public var maxHeaderCount = 64
    /// Longest request target (414 beyond).
    public var maxURIBytes = 4096
    /// Connections open at once; more are closed at once.
    public var maxConnections = 32
    /// A connection must deliver its whole request within this (then it is closed).
    public var requestTimeout: Duration = .seconds(10)
    /// Streamed responses (event streams) open at once; more get 503. They count as connections too.
    public var maxStreams = 8
    /// How often an open stream gets its heartbeat.
    public var streamHeartbeat: Duration = .seconds(15)
    public init() {}
}

public struct ControlError: Error, CustomStringConvertible {
    public var description: String
}

/// The HTTP/1.1 control listener (SwiftNIO): reads one request per connection within the bounds of
/// `ControlOptions`, hands it to the `ControlHandler` off the event loop (`HandlerRunner`), writes the response
/// and closes.
/// A swift-service-lifecycle `Service`: `start()` binds (so start-up can fail with a clear error before
/// anything is served), `run()` waits for graceful shutdown and then closes the listener.
public final class ControlServer: Service, Sendable {
    let host: String
    let port: Int
    let handler: any ControlHandler
    let options: ControlOptions
    let logger: Logger
    /// The listener's event-loop thread: made by `start()`, so a server that has not bound yet has none.
    private let group = Mutex<MultiThreadedEventLoopGroup?>(nil)
    let runner = HandlerRunner()
    let open = Atomic<Int>(0)
    let streams = StreamCount()
    private let channel = Mutex<(any Channel)?>(nil)

    public init(
        host: String,
        port: Int,
        handler: any ControlHandler,
        options: ControlOptions = ControlOptions(),
        logger: Logger
    ) {
        self.host = host
        self.port = port
        self.handler = handler
        self.options = options
        self.logger = logger
    }

    /// Binds the listener; returns the bound address and port (port 0 picks one).
    public func start() throws(ControlError) -> (host: String, port: Int) {
        let where_ = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        let group = self.group.withLock { g in
            if let g { return g }
            g = MultiThreadedEventLoopGroup(numberOfThreads: 1)
            return g!
        }
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 64)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture { try self.initialize(channel) }
            }
        do {
            let ch = try bootstrap.bind(host: host, port: port).wait()
            channel.withLock { $0 = ch }
            let bound = ch.localAddress?.port ?? port
            logger.notice("control listener", metadata: ["control.addr": "\(host)", "control.port": "\(bound)"])
            return (host, bound)
        } catch {
            shutdownResources()
            throw ControlError(description: "control listener \(where_): cannot bind: \(error)")
        }
    }

    public func run() async throws {
        try? await gracefulShutdown()
        stop()
    }

    /// Closes the listener and open connections. Idempotent.
    public func stop() {
        let ch = channel.withLock { c -> (any Channel)? in
            defer { c = nil }
            return c
        }
        guard let ch else { return }
        try? ch.close().wait()
        shutdownResources()
    }

    private func shutdownResources() {
        runner.stop()
        try? group.withLock { $0 }?.syncShutdownGracefully()
    }

    private func initialize(_ channel: any Channel) throws {
        let (_, was) = open.add(1, ordering: .relaxed)
        channel.closeFuture.whenComplete { _ in self.open.subtract(1, ordering: .relaxed) }
        if was >= options.maxConnections {
            logger.warning(
                "control: too many connections, closing one",
                metadata: ["limit": "\(options.maxConnections)"]
            )
            channel.close(promise: nil)
            return
        }
        let timeout = TimeAmount(options.requestTimeout)
        let deadline = channel.eventLoop.scheduleTask(in: timeout) { channel.close(promise: nil) }
        channel.closeFuture.whenComplete { _ in deadline.cancel() }
        try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
        try channel.pipeline.syncOperations.addHandler(
            RequestHandler(
                handler: handler,
                runner: runner,
                options: options,
                logger: logger,
                deadline: deadline,
                streams: streams
            )
        )
    }
}

/// The number of streamed responses open now.
final class StreamCount: Sendable {
    let value = Atomic<Int>(0)
}

/// Runs the handler off the event loop, each request on a serial queue of its own: one thread per request in
/// flight (so a request that waits, a reload until the new config serves or an override until it is in force,
/// does not hold up `/metrics` and `/status`), and none while the listener is idle (the threads end when unused).
/// Connections are bounded (`maxConnections`), and so are the handlers running at once.
/// Not one concurrent queue: that runs on libdispatch's width-limited pool (as many threads as CPUs), the pool
/// Swift concurrency's tasks run on too. A handler waiting there held a thread that the steering loop's task
/// needed to put the override in force; with one CPU the override then waited until libdispatch noticed the
/// blocked thread and added one (0.1–0.9 s). A serial queue runs on the overcommit pool, which adds a thread
/// whenever a queue has work.
final class HandlerRunner: Sendable {
    private let active = Atomic<Bool>(true)

    /// The handler's response, completed on `loop`; a failed future once the listener is stopping.
    func run(
        _ handler: any ControlHandler,
        _ request: ControlRequest,
        on loop: any EventLoop
    ) -> EventLoopFuture<ControlResponse> {
        guard active.load(ordering: .acquiring) else {
            return loop.makeFailedFuture(ControlError(description: "the control listener is stopping"))
        }
        let promise = loop.makePromise(of: ControlResponse.self)
        DispatchQueue(label: "gtmd.control.request").async { promise.succeed(handler.handle(request)) }
        return promise.futureResult
    }

    /// Refuses further requests (those running finish).
    func stop() { active.store(false, ordering: .releasing) }
}

/// Collects one request within the bounds, runs the handler (`HandlerRunner`), writes the response, closes.
final class RequestHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let handler: any ControlHandler
    let runner: HandlerRunner
    let options: ControlOptions
    let logger: Logger
    var head: HTTPRequestHead?
    var body: [UInt8] = []
    var done = false
    let deadline: Scheduled<Void>
    let streams: StreamCount

    init(
        handler: any ControlHandler,
        runner: HandlerRunner,
        options: ControlOptions,
        logger: Logger,
        deadline: Scheduled<Void>,
        streams: StreamCount
    ) {
        self.handler = handler
        self.runner = runner
        self.options = options
        self.logger = logger
        self.deadline = deadline
        self.streams = streams
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !done else { return }
        switch unwrapInboundIn(data) {
        case .head(let h):
            head = h
            if h.uri.utf8.count > options.maxURIBytes {
                return reply(context, .error(414, "request target longer than \(options.maxURIBytes) bytes"))
            }
            if h.headers.count > options.maxHeaderCount {
                return reply(context, .error(431, "more than \(options.maxHeaderCount) header fields"))
            }
            if let l = h.headers.first(name: "content-length").flatMap(Int.init), l > options.maxBodyBytes {
                return reply(context, .error(413, "body larger than \(options.maxBodyBytes) bytes"))
            }
        case .body(var buf):
            if body.count + buf.readableBytes > options.maxBodyBytes {
                return reply(context, .error(413, "body larger than \(options.maxBodyBytes) bytes"))
            }
            body += buf.readBytes(length: buf.readableBytes) ?? []
        case .end:
            guard let h = head else { return }
            done = true
            let request = ControlRequest(
                method: h.method.rawValue,
                uri: h.uri,
                headers: h.headers.map { (name: $0.name, value: $0.value) },
                body: body
            )
            let handler = self.handler
            let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            runner.run(handler, request, on: context.eventLoop).whenComplete { result in
                let (me, ctx) = bound.value
                switch result {
                case .success(let r): me.write(ctx, r)
                case .failure(let e): me.write(ctx, .error(503, "shutting down: \(e)"))
                }
            }
        }
    }

    /// Malformed HTTP: NIO's error handler (before this one) has answered 400; close the connection.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        done = true
        context.close(promise: nil)
    }

    private func reply(_ context: ChannelHandlerContext, _ r: ControlResponse) {
        done = true
        write(context, r)
    }

    private func write(_ context: ChannelHandlerContext, _ r: ControlResponse) {
        if let stream = r.stream { return writeStream(context, r, stream) }
        context.write(wrapOutboundOut(.head(Self.head(r, length: r.body.count))), promise: nil)
        var buf = context.channel.allocator.buffer(capacity: r.body.count)
        buf.writeBytes(r.body)
        context.write(wrapOutboundOut(.body(.byteBuffer(buf))), promise: nil)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
    }
}

extension RequestHandler {
    /// The response head every reply shares: its type, no caching, the connection closed after it, the response's
    /// own headers; `length` for a whole body (nil: a stream, ended by closing).
    fileprivate static func head(_ r: ControlResponse, length: Int?) -> HTTPResponseHead {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: r.contentType)
        if let length { headers.add(name: "Content-Length", value: "\(length)") }
        headers.add(name: "Connection", value: "close")
        headers.add(name: "Cache-Control", value: "no-store")
        for h in r.headers { headers.add(name: h.name, value: h.value) }
        return HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: r.status), headers: headers)
    }

    /// A streamed response: the head and `r.body` at once, then whatever the stream sends, until the client
    /// closes or the listener stops. The request deadline no longer applies; a heartbeat keeps finding out
    /// whether the client is still there.
    fileprivate func writeStream(_ context: ChannelHandlerContext, _ r: ControlResponse, _ stream: ControlStream) {
        let (_, was) = streams.value.add(1, ordering: .relaxed)
        guard was < options.maxStreams else {
            streams.value.subtract(1, ordering: .relaxed)
            return write(context, .error(503, "too many open event streams (limit \(options.maxStreams)); try later"))
        }
        deadline.cancel()
        context.write(wrapOutboundOut(.head(Self.head(r, length: nil))), promise: nil)
        var first = context.channel.allocator.buffer(capacity: r.body.count)
        first.writeBytes(r.body)
        context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(first))), promise: nil)
        let channel = context.channel
        let send: @Sendable ([UInt8]) -> Void = { bytes in
            guard channel.isActive else { return }
            channel.writeAndFlush(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(bytes: bytes))), promise: nil)
        }
        let cancel = stream.open(send)
        let beat = stream.heartbeat
        let every = TimeAmount(options.streamHeartbeat)
        let heartbeat = context.eventLoop.scheduleRepeatedTask(initialDelay: every, delay: every) { _ in send(beat) }
        let counter = streams
        channel.closeFuture.whenComplete { _ in
            heartbeat.cancel()
            cancel()
            counter.value.subtract(1, ordering: .relaxed)
        }
    }
}
