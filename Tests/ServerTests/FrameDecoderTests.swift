import NIOCore
import NIOEmbedded
import NIOTestUtils
import Testing

@testable import Server

/// The TCP frame decoder (2-byte length prefix) under NIOTestUtils' ByteToMessageDecoderVerifier: the same
/// messages come out whatever the chunking (all at once, byte by byte, in random pieces) and nothing is left over.
@Suite struct FrameDecoderTests {
    static func frames(_ messages: [[UInt8]]) -> ByteBuffer {
        var b = ByteBuffer()
        for m in messages {
            b.writeInteger(UInt16(m.count))
            b.writeBytes(m)
        }
        return b
    }

    @Test func anyChunkingGivesTheSameMessages() throws {
        let one: [[UInt8]] = [[0x12]]
        let several: [[UInt8]] = [[0x12, 0x34], Array(repeating: 7, count: 300), Array(0..<255), [0xFF]]
        let big: [[UInt8]] = [Array(repeating: 0xAB, count: 4096)]
        try ByteToMessageDecoderVerifier.verifyDecoder(
            inputOutputPairs: [one, several, big].map { ms in (Self.frames(ms), ms.map { ByteBuffer(bytes: $0) }) },
            decoderFactory: { DNSFrameDecoder(queryTimeout: .seconds(5)) }
        )
    }

    @Test func aZeroLengthIsAnError() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(DNSFrameDecoder(queryTimeout: .seconds(5))))
        var b = ByteBuffer()
        b.writeInteger(UInt16(0))
        #expect(throws: DNSFrameError.zeroLength) { try channel.writeInbound(b) }
        _ = try? channel.finish()
    }

    @Test func aPartialMessageIsClosedAfterTheQueryTimeout() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(DNSFrameDecoder(queryTimeout: .seconds(5))))
        try channel.connect(to: try SocketAddress(ipAddress: "127.0.0.1", port: 53)).wait()
        var b = ByteBuffer()
        b.writeInteger(UInt16(10))
        b.writeBytes([1, 2, 3])
        try channel.writeInbound(b)
        #expect(try channel.readInbound(as: ByteBuffer.self) == nil)
        channel.embeddedEventLoop.advanceTime(by: .seconds(4))
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .seconds(2))
        #expect(!channel.isActive)
    }
}
