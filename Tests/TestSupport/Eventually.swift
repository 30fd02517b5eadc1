import Foundation

/// Polls `condition` every 5 ms until it holds; throws `TestError.timeout(what)` after `timeout` seconds.
/// Bounded in time and in count. The async twin of `waitFor`.
@discardableResult
public func eventually(_ what: String, timeout: Double, _ condition: () async throws -> Bool) async throws -> Double {
    let start = ContinuousClock.now
    let end = start + .milliseconds(Int64(timeout * 1000))
    var attempts = 0
    while attempts < 1_000_000 {
        if try await condition() {
            let d = ContinuousClock.now - start
            return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
        }
        if ContinuousClock.now >= end { throw TestError.timeout(what) }
        try await Task.sleep(for: .milliseconds(5))
        attempts += 1
    }
    throw TestError.timeout(what)
}

/// Polls `condition` every 10 ms until it holds (true) or `timeout` passes (false). Bounded in count too.
public func eventually(_ timeout: Duration, _ condition: () async -> Bool) async -> Bool {
    let clock = ContinuousClock()
    let end = clock.now + timeout
    var n = 0
    while n < 100_000 {
        if await condition() { return true }
        if clock.now >= end { return false }
        try? await Task.sleep(for: .milliseconds(10))
        n += 1
    }
    return false
}

/// Polls `condition` every 5 ms until it holds (true) or `timeoutMs` passes (then its last value).
public func eventually(timeoutMs: Int64 = 3000, _ condition: () -> Bool) -> Bool {
    let end = ContinuousClock.now + .milliseconds(timeoutMs)
    var n = 0
    while ContinuousClock.now < end && n < 1_000_000 {
        if condition() { return true }
        usleep(5_000)
        n += 1
    }
    return condition()
}
