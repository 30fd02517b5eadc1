// Shows that ThreadSanitizer reports correct Synchronization.Mutex use on Linux as a "Swift access race"
// once the lock is contended (Swift 6.3.1): four threads add 1 under the lock 200,000 times each, the
// total is exactly 800,000, and TSan still reports. The lock's uncontended path is inlined into the
// instrumented caller (TSan sees its atomics); the contended path runs in the uninstrumented stdlib.
//   swiftc -sanitize=thread -Onone scripts/sanitize/tsan-mutex-repro.swift -o /tmp/repro && /tmp/repro
import Synchronization
import Foundation
final class Box: Sendable {
    struct S { var a = 0; var b = [Int]() }
    let m = Mutex(S())
}
let box = Box()
let threads = (0..<4).map { _ in Thread {
    for i in 0..<200_000 { box.m.withLock { s in s.a += 1; if i % 1000 == 0 { s.b.append(i) } } }
} }
threads.forEach { $0.start() }
while box.m.withLock({ $0.a }) < 800_000 { usleep(1000) }
print("total", box.m.withLock { $0.a })
