import AsyncHTTPClient
import Config
import ConfigText
import FoundationEssentials
import NIOCore
import NIOHTTP1

public struct ControlClientError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable {
        /// No connection: nothing listens there, or the address is unreachable.
        case unreachable
        /// Connected, but no complete reply in time.
        case timeout
        /// The reply broke off or was too large.
        case reply
    }
    public var kind: Kind = .reply
    public var description: String
}

/// The HTTP client of `gtmd status`, `explain` and `override` (AsyncHTTPClient): keep-alive connections from
/// its pool, chunked or sized replies, one deadline for the whole exchange, and errors that say what to check.
/// IP literals only (the control listener is on loopback or another address the operator chose).
public struct ControlClient: Sendable {
    public var address: ListenAddress
    public var token: String?
    /// Seconds for the whole request: connect, send, the complete reply.
    public var timeout: Double
    /// Most reply bytes read.
    public var maxReplyBytes = 64 << 20

    public init(address: ListenAddress, token: String? = nil, timeout: Double = 5) {
        self.address = address
        self.token = token
        self.timeout = timeout
    }

    /// Parses `127.0.0.1:8053`, `[::1]:8053` or `http://127.0.0.1:8053[/]`.
    public static func parseTarget(_ text: String) -> ListenAddress? {
        var t = text
        if t.hasPrefix("http://") { t = String(t.dropFirst(7)) }
        while t.hasSuffix("/") { t = String(t.dropLast()) }
        return ListenAddress.parse(t)
    }

    public struct Response: Sendable {
        public var status: Int
        public var body: String
    }

    /// The commands' process-wide client (its pool keeps connections alive between requests of one command).
    /// Unlike `HTTPClient.shared` it does not retry a refused connection until the deadline: the operator (or
    /// `systemctl reload`) hears at once that nothing listens there. It lives as long as the process.
    public static let sharedClient: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.retryConnectionEstablishment = false
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }()

    /// One request on `client` (default: `sharedClient`).
    public func request(
        _ method: String,
        _ target: String,
        body: [UInt8]? = nil,
        client: HTTPClient = ControlClient.sharedClient
    ) async throws(ControlClientError) -> Response {
        var req = HTTPClientRequest(url: "http://\(address)\(target)")
        req.method = HTTPMethod(rawValue: method)
        req.headers.add(name: "Accept", value: "application/json")
        if let token { req.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let body {
            req.headers.add(name: "Content-Type", value: "application/json")
            req.body = .bytes(ByteBuffer(bytes: body))
        }
        let deadline = NIODeadline.now() + .milliseconds(Int64(timeout * 1000))
        let response: HTTPClientResponse
        do {
            response = try await client.execute(req, deadline: deadline)
        } catch {
            throw describe(error, phase: "cannot reach the gtmd control API at \(address)", other: .unreachable)
        }
        do {
            let bytes = try await response.body.collect(upTo: maxReplyBytes)
            return Response(status: Int(response.status.code), body: String(buffer: bytes))
        } catch {
            throw describe(error, phase: "\(address): the reply broke off")
        }
    }

    /// Follows a server-sent event stream: calls `onData` with the `data:` text of each event until the server
    /// ends it. The connect (and an error reply) must come within `timeout`; the stream itself has no deadline.
    public func stream(
        _ target: String,
        client: HTTPClient = .shared,
        onData: (String) -> Void
    ) async throws(ControlClientError) {
        var req = HTTPClientRequest(url: "http://\(address)\(target)")
        req.headers.add(name: "Accept", value: "text/event-stream")
        if let token { req.headers.add(name: "Authorization", value: "Bearer \(token)") }
        let response: HTTPClientResponse
        do {
            response = try await client.execute(req, timeout: .milliseconds(Int64(timeout * 1000)))
        } catch {
            throw describe(error, phase: "cannot reach the gtmd control API at \(address)")
        }
        guard response.status == .ok else {
            let body = (try? await response.body.collect(upTo: 1 << 20)).map { String(buffer: $0) } ?? ""
            let message =
                JSONText.object(body.utf8)?["error"] as? String
            throw ControlClientError(description: "\(response.status.code): \(message ?? body)")
        }
        var pending = ""
        do {
            for try await chunk in response.body {
                pending += String(buffer: chunk)
                while let end = pending.firstRange(of: "\n\n") {
                    let block = pending[..<end.lowerBound]
                    pending = String(pending[end.upperBound...])
                    let data = block.split(separator: "\n").filter { $0.hasPrefix("data:") }
                        .map { String($0.dropFirst(5)).trimmedSpace(newlines: false) }
                    if !data.isEmpty { onData(data.joined(separator: "\n")) }
                }
                if pending.utf8.count > maxReplyBytes {
                    throw ControlClientError(description: "\(address): an event larger than \(maxReplyBytes) bytes")
                }
            }
        } catch let e as ControlClientError {
            throw e
        } catch {
            throw describe(error, phase: "\(address): the event stream broke off")
        }
    }

    /// A message that says what happened and what to check.
    /// `other`: the kind of an error that is neither a timeout nor a broken reply.
    func describe(_ error: any Error, phase: String, other: ControlClientError.Kind = .reply) -> ControlClientError {
        let hint = "(is gtmd running with its control listener there? see control.listen or --control)"
        let seconds = DurationText.general(timeout)
        switch error {
        case let e as HTTPClientError where e == .connectTimeout:
            return ControlClientError(kind: .unreachable, description: "\(phase): connect timed out \(hint)")
        case let e as HTTPClientError where e == .deadlineExceeded || e == .readTimeout:
            return ControlClientError(
                kind: .timeout,
                description: "\(address): no complete reply within \(seconds)s \(hint)"
            )
        case let e as HTTPClientError where e == .remoteConnectionClosed:
            return ControlClientError(
                description: "\(phase): the connection was closed before a complete reply \(hint)"
            )
        case let e as NIOTooManyBytesError:
            return ControlClientError(
                description: "\(address): the reply is larger than \(e.maxBytes.map(String.init) ?? "the limit") bytes"
            )
        default:
            return ControlClientError(kind: other, description: "\(phase): \(error) \(hint)")
        }
    }
}
