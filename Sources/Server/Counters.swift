import Answers
import Synchronization

/// Where one worker (a UDP thread or a TCP event loop) publishes a copy of its counters, once per batch
/// of packets. Readers (`DNSServer.counters()`) take the lock briefly from any thread.
final class CounterSlot: Sendable {
    private let value = Mutex(ResponderCounters())

    func publish(_ counters: ResponderCounters) {
        value.withLock { $0 = counters }
    }

    func read() -> ResponderCounters {
        value.withLock { $0 }
    }
}

extension ResponderCounters {
    /// Adds every field of `other` into `self`.
    mutating func add(_ other: ResponderCounters) {
        queries &+= other.queries
        dropped &+= other.dropped
        truncated &+= other.truncated
        byType.add(other.byType)
        rrlDropped &+= other.rrlDropped
        rrlSlipped &+= other.rrlSlipped
        var theirs = other.byRcode
        withUnsafeMutableBytes(of: &byRcode) { mine in
            withUnsafeBytes(of: &theirs) { t in
                let n = mine.count / MemoryLayout<Int>.stride
                for i in 0..<n {
                    let off = i * MemoryLayout<Int>.stride
                    let sum = mine.load(fromByteOffset: off, as: Int.self) &+ t.load(fromByteOffset: off, as: Int.self)
                    mine.storeBytes(of: sum, toByteOffset: off, as: Int.self)
                }
            }
        }
    }
}
