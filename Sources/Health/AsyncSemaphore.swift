import Synchronization

/// A counting semaphore for tasks: FIFO, cancellation-aware. Bounds the probes in flight.
final class AsyncSemaphore: Sendable {
    private struct State {
        var permits: Int
        var waiters: [(id: UInt64, continuation: CheckedContinuation<Void, any Error>)] = []
        /// Ids handed out whose waiter is not yet registered or resolved.
        var pending: Set<UInt64> = []
        /// Ids cancelled before their waiter registered.
        var cancelledEarly: Set<UInt64> = []
        var nextID: UInt64 = 0
        var inUse = 0
    }

    private let state: Mutex<State>

    init(permits: Int) {
        state = Mutex(State(permits: max(1, permits)))
    }

    /// Permits currently taken.
    var inUse: Int { state.withLock { $0.inUse } }

    /// Takes a permit, waiting in line if none is free. Throws `CancellationError` if cancelled while waiting.
    func acquire() async throws {
        try Task.checkCancellation()
        let id: UInt64? = state.withLock { s in
            if s.permits > 0 {
                s.permits -= 1
                s.inUse += 1
                return nil
            }
            s.nextID += 1
            s.pending.insert(s.nextID)
            return s.nextID
        }
        guard let id else { return }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
                let cancelled = state.withLock { s -> Bool in
                    if s.cancelledEarly.remove(id) != nil {
                        s.pending.remove(id)
                        return true
                    }
                    s.waiters.append((id, c))
                    return false
                }
                if cancelled { c.resume(throwing: CancellationError()) }
            }
        } onCancel: {
            let c = state.withLock { s -> CheckedContinuation<Void, any Error>? in
                if let i = s.waiters.firstIndex(where: { $0.id == id }) {
                    s.pending.remove(id)
                    return s.waiters.remove(at: i).continuation
                }
                if s.pending.contains(id) { s.cancelledEarly.insert(id) }
                return nil
            }
            c?.resume(throwing: CancellationError())
        }
    }

    /// Returns a permit, handing it to the longest waiter if any.
    func release() {
        let next = state.withLock { s -> CheckedContinuation<Void, any Error>? in
            guard !s.waiters.isEmpty else {
                s.permits += 1
                s.inUse -= 1
                return nil
            }
            let w = s.waiters.removeFirst()
            s.pending.remove(w.id)
            return w.continuation
        }
        next?.resume()
    }
}
