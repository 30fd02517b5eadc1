import FoundationEssentials
import Glibc
import HealthModel
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Synchronization

/// The one event-loop thread all probes share unless the caller passes a group. Created by the first probe
/// (a config without checks starts no probe thread); never shut down, like NIO's own singletons.
enum HealthEventLoop {
    static let shared: any EventLoopGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)
}

/// Runs single probes with NIO (ClientBootstrap + NIOHTTP1 + NIOSSL). Thread-safe.
final class Prober: Sendable {
    /// The caller's group; nil: the shared one (`HealthEventLoop.shared`, created when first used).
    private let callerGroup: (any EventLoopGroup)?
    var group: any EventLoopGroup { callerGroup ?? HealthEventLoop.shared }
    private let tlsContexts = Mutex<[TLSKey: NIOSSLContext]>([:])

    private struct TLSKey: Hashable {
        var verify: Bool
        var caFile: String?
    }

    init(group: (any EventLoopGroup)?) {
        self.callerGroup = group
    }

    /// Probes once. Never throws: every problem is a failed result with a reason.
    /// Cancelling the calling task ends the probe at once (a failure, reason `cancelled`).
    func probe(_ check: ResolvedCheck) async -> ProbeResult {
        let (loop, box, result) = launch(check)
        return await withTaskCancellationHandler {
            (try? await result.get()) ?? ProbeResult(ok: false, reason: "cancelled", latency: .zero)
        } onCancel: {
            // Runs after the launch's `execute` (same loop, FIFO), so the attempt exists.
            loop.execute { box.value?.finish(ok: false, reason: "cancelled") }
        }
    }

    /// Probes once and calls `completion` with the result, on the probe's event loop.
    func start(_ check: ResolvedCheck, completion: @escaping @Sendable (ProbeResult) -> Void) {
        launch(check).result.whenComplete { r in
            completion((try? r.get()) ?? ProbeResult(ok: false, reason: "cancelled", latency: .zero))
        }
    }

    private func launch(
        _ check: ResolvedCheck
    ) -> (loop: any EventLoop, box: NIOLoopBoundBox<ProbeAttempt?>, result: EventLoopFuture<ProbeResult>) {
        let loop = group.next()
        let box = NIOLoopBoundBox.makeEmptyBox(valueType: ProbeAttempt.self, eventLoop: loop)
        let sslContext: NIOSSLContext?
        if check.spec.kind == .https {
            do {
                sslContext = try tlsContext(verify: check.spec.tlsVerify, caFile: check.spec.caFile)
            } catch {
                let what = check.spec.caFile.map { "ca_file '\($0)'" } ?? "the system trust roots"
                let failed = ProbeResult(ok: false, reason: "tls: cannot load \(what) (\(error))", latency: .zero)
                return (loop, box, loop.makeSucceededFuture(failed))
            }
        } else {
            sslContext = nil
        }
        let promise = loop.makePromise(of: ProbeResult.self)
        loop.execute {
            let attempt = ProbeAttempt(check: check, loop: loop, promise: promise)
            box.value = attempt
            attempt.start(sslContext: sslContext)
        }
        return (loop, box, promise.futureResult)
    }

    private func tlsContext(verify: Bool, caFile: String?) throws -> NIOSSLContext {
        let key = TLSKey(verify: verify, caFile: caFile)
        if let c = tlsContexts.withLock({ $0[key] }) { return c }
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.certificateVerification = verify ? .fullVerification : .none
        tls.shutdownTimeout = .seconds(1)
        if let caFile { tls.trustRoots = .file(caFile) }
        let ctx = try NIOSSLContext(configuration: tls)
        tlsContexts.withLock { $0[key] = ctx }
        return ctx
    }
}

/// One probe in progress. Lives on its event loop only (all members are touched from there).
final class ProbeAttempt {
    enum Phase: Int, Comparable {
        case connecting, tlsHandshake, waitingForResponse, readingBody
        static func < (a: Phase, b: Phase) -> Bool { a.rawValue < b.rawValue }
        var text: String {
            switch self {
            case .connecting: "connect"
            case .tlsHandshake: "tls handshake"
            case .waitingForResponse: "waiting for response"
            case .readingBody: "reading body"
            }
        }
    }

    let check: ResolvedCheck
    let loop: any EventLoop
    let promise: EventLoopPromise<ProbeResult>
    let started = ContinuousClock.now
    var phase: Phase = .connecting
    var channel: (any Channel)?
    var deadline: Scheduled<Void>?
    var done = false
    /// Set by the TLS verification callback: why the chain was rejected.
    var tlsFailure: String?
    var certNotAfter: Date?
    var certWarning: String?
    var statusCode: Int?

    init(check: ResolvedCheck, loop: any EventLoop, promise: EventLoopPromise<ProbeResult>) {
        self.check = check
        self.loop = loop
        self.promise = promise
    }

    func start(sslContext: NIOSSLContext?) {
        let bound = NIOLoopBound(self, eventLoop: loop)
        deadline = loop.scheduleTask(in: check.spec.timeout.timeAmount) {
            let a = bound.value
            a.finish(ok: false, reason: "timeout (\(a.phase.text))")
        }
        let check = self.check
        let bootstrap = ClientBootstrap(group: loop)
            .connectTimeout(check.spec.timeout.timeAmount)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                guard check.spec.kind != .tcp else { return channel.eventLoop.makeSucceededVoidFuture() }
                do {
                    try bound.value.setUpPipeline(channel, sslContext: sslContext)
                    return channel.eventLoop.makeSucceededVoidFuture()
                } catch {
                    return channel.eventLoop.makeFailedFuture(error)
                }
            }
        let connected: EventLoopFuture<any Channel>
        if let address = check.socketAddress {
            connected = bootstrap.connect(to: address)
        } else {
            connected = bootstrap.connect(host: check.host, port: check.port)
        }
        connected.assumeIsolated().whenComplete { result in
            let a = bound.value
            switch result {
            case .success(let channel):
                if a.done {
                    channel.close(promise: nil)
                    return
                }
                a.channel = channel
                switch check.spec.kind {
                case .tcp:
                    a.finish(ok: true, reason: "connected")
                case .https:
                    if a.phase < .tlsHandshake { a.phase = .tlsHandshake }
                case .http:
                    if a.phase < .waitingForResponse { a.phase = .waitingForResponse }
                }
            case .failure(let error):
                a.finish(ok: false, reason: a.reason(for: error))
            }
        }
    }

    private func setUpPipeline(_ channel: any Channel, sslContext: NIOSSLContext?) throws {
        let ops = channel.pipeline.syncOperations
        if let sslContext {
            let verify = check.spec.tlsVerify
            let handler = try makeClientTLSHandler(
                context: sslContext,
                serverHostname: check.serverName,
                observe: verify
                    ? { [self] result, certificate in
                        if case .failed = result, self.tlsFailure == nil {
                            self.tlsFailure = Self.classifyRejected(certificate)
                        }
                        return result
                    } : nil
            )
            try ops.addHandler(handler)
        }
        try ops.addHTTPClientHandlers()
        try ops.addHandler(HTTPProbeHandler(attempt: self))
    }

    /// Completes the probe once; later calls are ignored. Closes the connection.
    func finish(ok: Bool, reason: String) {
        guard !done else { return }
        done = true
        deadline?.cancel()
        let latency = ContinuousClock.now - started
        channel?.close(promise: nil)
        promise.succeed(
            ProbeResult(
                ok: ok,
                reason: reason,
                latency: latency,
                statusCode: statusCode,
                certNotAfter: certNotAfter,
                certWarning: certWarning
            )
        )
    }

    func noteCertificate(_ cert: NIOSSLCertificate) {
        let notAfter = Date(timeIntervalSince1970: TimeInterval(cert.notValidAfter))
        certNotAfter = notAfter
        let left = notAfter.timeIntervalSinceNow
        let window = check.spec.certExpiryWarning.seconds
        let at = notAfter.formatted(.iso8601)
        if left <= 0 {
            certWarning = "tls: certificate expired \(formatRemaining(-left)) ago (\(at))"
        } else if left < window {
            certWarning = "tls: certificate expires in \(formatRemaining(left)) (\(at))"
        }
    }

    /// Why a certificate that failed chain verification was rejected.
    static func classifyRejected(_ cert: NIOSSLCertificate) -> String {
        let now = time(nil)
        if cert.notValidAfter < now { return "tls: certificate expired" }
        if cert.notValidBefore > now { return "tls: certificate not yet valid" }
        return "tls: certificate not trusted"
    }

    /// Text for the reason when the connection ends early, by phase.
    var closedEarlyReason: String {
        switch phase {
        case .connecting: "connection closed"
        case .tlsHandshake: "tls: connection closed during handshake"
        case .waitingForResponse: "connection closed before response"
        case .readingBody: "connection closed while reading body"
        }
    }

    /// Exact, short reasons for the errors NIO, NIOSSL and NIOHTTP1 raise.
    func reason(for error: any Error) -> String {
        switch error {
        case let e as IOError:
            return errnoReason(e.errnoCode)
        case let e as ChannelError:
            switch e {
            case .connectTimeout: return "timeout (connect)"
            case .eof, .ioOnClosedChannel, .alreadyClosed, .outputClosed, .inputClosed: return closedEarlyReason
            default: return "\(e)"
            }
        case let e as NIOConnectionError:
            if let first = e.connectionErrors.first { return reason(for: first.error) }
            return "dns: cannot resolve '\(e.host)'"
        case let e as NIOSSLExtraError:
            if e == .failedToValidateHostname { return "tls: hostname mismatch" }
            return "tls: \(e)"
        case let e as NIOSSLError:
            switch e {
            case .handshakeFailed(let b):
                if let tlsFailure { return tlsFailure }
                return "tls: handshake failed (\(Self.shortText(b)))"
            case .uncleanShutdown:
                return closedEarlyReason
            default:
                return "tls: \(e)"
            }
        case let e as BoringSSLError:
            return tlsFailure ?? "tls: \(Self.shortText(e))"
        case let e as HTTPParserError:
            return "invalid http response (\(e))"
        default:
            return "\(error)"
        }
    }

    /// `CERTIFICATE_VERIFY_FAILED` -> `certificate verify failed`.
    static func shortText(_ e: BoringSSLError) -> String {
        switch e {
        case .sslError(let stack), .unknownError(let stack):
            guard let first = stack.first else { return "\(e)" }
            var text = first.description
            if let r = text.firstRange(of: "OPENSSL_internal:") {
                text = String(text[r.upperBound...])
                if let at = text.firstRange(of: " at ") { text = String(text[..<at.lowerBound]) }
                return text.lowercased().replacing("_", with: " ")
            }
            if text.hasPrefix("Error: ") {
                let rest = text.dropFirst(7).drop { $0 == " " || $0 == "\t" }
                text = String(rest.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
            }
            return text
        case .zeroReturn, .syscallError:
            return "connection closed"
        default:
            return "\(e)"
        }
    }
}

/// Sends the request and judges the response: status first, then (if asked) the body text.
final class HTTPProbeHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    private let attempt: ProbeAttempt
    private let needle: [UInt8]?
    private var body: [UInt8] = []
    private var searchedUpTo = 0
    private var status = 0

    init(attempt: ProbeAttempt) {
        self.attempt = attempt
        let spec = attempt.check.spec
        self.needle = spec.method == .head ? nil : spec.expectBody.map { Array($0.utf8) }
    }

    func handlerAdded(context: ChannelHandlerContext) {
        attempt.channel = context.channel
    }

    func channelActive(context: ChannelHandlerContext) {
        let spec = attempt.check.spec
        var headers = HTTPHeaders()
        for (name, value) in attempt.check.requestHeaders { headers.add(name: name, value: value) }
        let head = HTTPRequestHead(
            version: .http1_1,
            method: spec.method == .head ? .HEAD : .GET,
            uri: attempt.check.path,
            headers: headers
        )
        let sent = context.eventLoop.makePromise(of: Void.self)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: sent)
        // With TLS the write completes only after the handshake, so this also marks its end.
        let attempt = self.attempt
        let isTLS = spec.kind == .https
        sent.futureResult.assumeIsolated().whenSuccess {
            if attempt.phase < .waitingForResponse { attempt.phase = .waitingForResponse }
            if isTLS, !attempt.done, let cert = try? context.pipeline.syncOperations.nioSSL_peerCertificate() {
                attempt.noteCertificate(cert)
            }
        }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !attempt.done else { return }
        switch unwrapInboundIn(data) {
        case .head(let head):
            status = Int(head.status.code)
            attempt.statusCode = status
            guard attempt.check.spec.expectStatus.contains(status) else {
                attempt.finish(ok: false, reason: HTTPStatusExchange.reason(status))
                return
            }
            if needle == nil {
                attempt.finish(ok: true, reason: HTTPStatusExchange.reason(status))
                return
            }
            attempt.phase = .readingBody
        case .body(let buffer):
            guard let needle else { return }
            let limit = attempt.check.spec.bodyLimit
            let take = min(limit - body.count, buffer.readableBytes)
            if take > 0, let bytes = buffer.getBytes(at: buffer.readerIndex, length: take) {
                body.append(contentsOf: bytes)
            }
            if Self.find(needle, in: body, from: max(0, searchedUpTo - needle.count + 1)) {
                attempt.finish(ok: true, reason: HTTPStatusExchange.reason(status))
            } else if body.count >= limit {
                attempt.finish(ok: false, reason: "body mismatch (not in the first \(limit) bytes)")
            }
            searchedUpTo = body.count
        case .end:
            if needle != nil {
                attempt.finish(ok: false, reason: "body mismatch")
            } else {
                attempt.finish(ok: true, reason: HTTPStatusExchange.reason(status))
            }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        attempt.finish(ok: false, reason: attempt.reason(for: error))
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        attempt.finish(ok: false, reason: attempt.closedEarlyReason)
        context.fireChannelInactive()
    }

    static func find(_ needle: [UInt8], in hay: [UInt8], from start: Int) -> Bool {
        guard !needle.isEmpty else { return true }
        guard hay.count >= needle.count, start <= hay.count - needle.count else { return false }
        let first = needle[0]
        var i = start
        let last = hay.count - needle.count
        while i <= last {
            if hay[i] == first {
                var j = 1
                while j < needle.count && hay[i + j] == needle[j] { j += 1 }
                if j == needle.count { return true }
            }
            i += 1
        }
        return false
    }
}

// MARK: - TLS handler construction

/// Builds the client TLS handler. With `observe`, BoringSSL's own chain verification still decides, but
/// the callback sees each certificate with its pre-verification result, which is how a rejection gets an
/// exact reason (expired / not yet valid / not trusted) instead of "certificate verify failed".
/// That per-certificate callback exists only on a deprecated initializer; `DeprecatedTLSHandlerFactory`
/// reaches it through a protocol witness so the deliberate use does not warn on every build.
private func makeClientTLSHandler(
    context: NIOSSLContext,
    serverHostname: String?,
    observe: NIOSSLVerificationCallback?
) throws -> NIOSSLClientHandler {
    guard let observe else {
        return try NIOSSLClientHandler(context: context, serverHostname: serverHostname)
    }
    let factory: any TLSHandlerFactory = DeprecatedTLSHandlerFactory()
    return try factory.make(context: context, serverHostname: serverHostname, verificationCallback: observe)
}

private protocol TLSHandlerFactory {
    func make(
        context: NIOSSLContext,
        serverHostname: String?,
        verificationCallback: @escaping NIOSSLVerificationCallback
    ) throws -> NIOSSLClientHandler
}

private struct DeprecatedTLSHandlerFactory: TLSHandlerFactory {
    @available(*, deprecated, message: "uses NIOSSLClientHandler's per-certificate verification callback on purpose")
    func make(
        context: NIOSSLContext,
        serverHostname: String?,
        verificationCallback: @escaping NIOSSLVerificationCallback
    ) throws -> NIOSSLClientHandler {
        try NIOSSLClientHandler(
            context: context,
            serverHostname: serverHostname,
            verificationCallback: verificationCallback
        )
    }
}

// MARK: - Helpers

func errnoReason(_ code: CInt) -> String {
    switch code {
    case ECONNREFUSED: "connection refused"
    case ECONNRESET: "connection reset"
    case ETIMEDOUT: "timeout (connect)"
    case EHOSTUNREACH: "no route to host"
    case ENETUNREACH: "network unreachable"
    case EPIPE: "connection closed"
    case EADDRNOTAVAIL: "address not available"
    default: String(cString: strerror(code)).lowercased()
    }
}

/// `3d 4h`, `5h 10m`, `12m`, `40s`.
func formatRemaining(_ seconds: Double) -> String {
    // Clamped before the conversion (a certificate may say any year): 100 years is plenty to print.
    let s = seconds.isFinite ? Int(min(max(seconds, 0), 3_153_600_000).rounded(.down)) : 0
    let d = s / 86_400
    let h = (s % 86_400) / 3600
    let m = (s % 3600) / 60
    if d > 0 { return h > 0 ? "\(d)d \(h)h" : "\(d)d" }
    if h > 0 { return m > 0 ? "\(h)h \(m)m" : "\(h)h" }
    if m > 0 { return "\(m)m" }
    return "\(s)s"
}

extension Duration {
    /// Whole nanoseconds, saturating at the ends of `Int64` (about 292 years): no Duration can trap here (config
    /// ranges keep timeouts far below the limit).
    var nanoseconds: Int64 {
        let (s, atto) = components
        let (ns, overflow) = s.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return s < 0 ? .min : .max }
        let (sum, o2) = ns.addingReportingOverflow(atto / 1_000_000_000)
        return o2 ? (s < 0 ? .min : .max) : sum
    }
    var timeAmount: TimeAmount { .nanoseconds(nanoseconds) }
    var seconds: Double {
        let (s, atto) = components
        return Double(s) + Double(atto) / 1e18
    }
}
