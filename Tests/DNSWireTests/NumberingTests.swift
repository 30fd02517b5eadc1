import DNSWire
import Testing

/// `Numbering` (the zone checks' table of owners and RRsets) gives each key one number, in order of first sight,
/// whatever the hashes: keys with equal hashes are told apart by `same`, and a table that grows keeps the numbers.
@Suite struct NumberingTests {
    /// The numbers `keys` get; with `reserveAt`, room for all keys is reserved after that many.
    func numbers(_ keys: [Int], hash: (Int) -> UInt64, capacity: Int, reserveAt: Int? = nil) -> [Int32] {
        var table = Numbering(capacity: capacity)
        var keyOf: [Int] = []
        var out: [Int32] = []
        for (i, k) in keys.enumerated() {
            if i == reserveAt { table.reserveCapacity(keys.count) }
            let r = table.number(hash(k)) { keyOf[Int($0)] == k }
            if r.new {
                #expect(Int(r.number) == keyOf.count)
                keyOf.append(k)
            }
            out.append(r.number)
        }
        #expect(table.count == keyOf.count)
        return out
    }

    /// What a dictionary of first sights gives.
    func expected(_ keys: [Int]) -> [Int32] {
        var first: [Int: Int32] = [:]
        return keys.map { k in
            if let n = first[k] { return n }
            first[k] = Int32(first.count)
            return first[k]!
        }
    }

    @Test func collidingHashesAndGrowthKeepFirstSightOrder() {
        // Every key twice, in a shuffled order the same on every run.
        var keys = Array(0..<3000) + Array(0..<3000)
        var state: UInt64 = 17
        for i in stride(from: keys.count - 1, to: 0, by: -1) {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            keys.swapAt(i, Int(state >> 33) % (i + 1))
        }
        let want = expected(keys)
        #expect(numbers(keys, hash: { UInt64($0) }, capacity: 1) == want)
        #expect(numbers(keys, hash: { UInt64($0 % 7) }, capacity: 1) == want)
        #expect(numbers(keys, hash: { _ in 42 }, capacity: 8000) == want)
        #expect(numbers(keys, hash: { UInt64($0) }, capacity: 1, reserveAt: 1500) == want)
        #expect(numbers(keys, hash: { UInt64($0 % 7) }, capacity: 1, reserveAt: 1500) == want)
    }
}
