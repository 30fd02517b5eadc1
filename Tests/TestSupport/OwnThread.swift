import Foundation

/// Runs `body` on a thread of its own and returns its result. For calls that block (a semaphore or group wait):
/// they must not hold one of the cooperative pool's threads, of which a 2-core machine has two, while the code
/// they wait for needs one to go on.
public func onOwnThread<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { c in Thread.detachNewThread { c.resume(returning: body()) } }
}
