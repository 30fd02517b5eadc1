import Synchronization

/// Holds the answer table that queries are served from. Tables are immutable; a new one is built off to
/// the side and installed whole (zone reload, health change), never mutated in place.
/// Invariant: `current()` always returns a complete table.
public final class AnswerStore: Sendable {
    private let table: Mutex<AnswerTable>

    public init(_ initial: AnswerTable) { table = Mutex(initial) }

    /// The table to serve from; readers take it once per batch of packets.
    public func current() -> AnswerTable { table.withLock { $0 } }

    /// Installs `next` for all following batches and returns the table it replaced.
    @discardableResult
    public func install(_ next: AnswerTable) -> AnswerTable {
        table.withLock { t in
            let old = t
            t = next
            return old
        }
    }
}
