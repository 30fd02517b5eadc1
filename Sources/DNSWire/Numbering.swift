/// Numbers keys in the order they are first seen: an open-addressing table of (hash, number) slots that holds
/// no keys. The caller keeps what a number stands for and says, through `same`, whether a number's key is the
/// one looked up; it is asked only when the 32-bit hashes agree. A zone's checks number every owner name and
/// every RRset this way, and the compile its nodes: unlike a `Dictionary` of names, a look-up compares no names of
/// other slots and retains nothing (both touch the names' storage, spread over the whole heap in a big zone).
public struct Numbering: Sendable {
    /// `hash << 32 | number + 1`; 0 is an empty slot.
    @usableFromInline var slots: [UInt64]
    @usableFromInline var mask: Int
    @usableFromInline var taken = 0
    /// How many keys have a number.
    public var count: Int { taken }

    public init(capacity: Int) {
        var n = 16
        while n < capacity * 2 { n <<= 1 }
        slots = [UInt64](repeating: 0, count: n)
        mask = n - 1
    }

    /// Room for `capacity` keys in all without growing (the table grows from the tags it holds: no key is asked).
    public mutating func reserveCapacity(_ capacity: Int) {
        while slots.count < capacity * 2 { grow() }
    }

    /// The number of the key whose hash is `hash` and which `same` recognises; a new key gets `count` (and
    /// `new` is true).
    @inlinable
    public mutating func number(_ hash: UInt64, same: (Int32) -> Bool) -> (number: Int32, new: Bool) {
        let (found, tag, i) = look(hash, same: same)
        if let found { return (found, false) }
        let n = Int32(taken)
        slots[i] = tag << 32 | UInt64(taken + 1)
        taken += 1
        if taken * 4 > slots.count * 3 { grow() }
        return (n, true)
    }

    /// The number of the key whose hash is `hash` and which `same` recognises; nil when it has none.
    @inlinable
    public func find(_ hash: UInt64, same: (Int32) -> Bool) -> Int32? {
        look(hash, same: same).found
    }

    /// The key's number, or its tag and the empty slot where it goes.
    @inlinable
    func look(_ hash: UInt64, same: (Int32) -> Bool) -> (found: Int32?, tag: UInt64, slot: Int) {
        let mixed = UInt64(bitPattern: Int64(mixedHash(hash, seed: 0)))
        // The slot and the tag both come from the high half: a table that grows places every slot again from
        // its tag alone.
        let tag = mixed >> 32
        var i = Int(tag) & mask
        while true {
            let s = slots[i]
            if s == 0 { return (nil, tag, i) }
            if s >> 32 == tag {
                let n = Int32(truncatingIfNeeded: s & 0xFFFF_FFFF) - 1
                if same(n) { return (n, tag, i) }
            }
            i = (i + 1) & mask
        }
    }

    @usableFromInline
    mutating func grow() {
        let old = slots
        slots = [UInt64](repeating: 0, count: old.count * 2)
        mask = slots.count - 1
        for s in old where s != 0 {
            var i = Int(s >> 32) & mask
            while slots[i] != 0 { i = (i + 1) & mask }
            slots[i] = s
        }
    }
}
