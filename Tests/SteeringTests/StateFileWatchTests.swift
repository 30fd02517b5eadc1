import Glibc
import Testing

@testable import Steering

/// The reading of inotify's event records (`StateFileWatch.parse`): the kernel's layout, built here byte by byte.
@Suite struct StateFileWatchTests {
    let name = Array("state.json".utf8)

    /// One `struct inotify_event` with `name` padded with NULs to `padded` bytes (default: as the kernel does,
    /// to a multiple of 16 with at least one NUL).
    func event(_ mask: Int32, _ name: String = "", padded: Int? = nil) -> [UInt8] {
        let padded = padded ?? (name.utf8.count / 16 + 1) * 16
        var b: [UInt8] = []
        for v in [UInt32(1), UInt32(bitPattern: mask), 0, UInt32(name.isEmpty ? 0 : padded)] {
            withUnsafeBytes(of: v.littleEndian) { b += $0 }
        }
        if !name.isEmpty { b += Array(name.utf8) + [UInt8](repeating: 0, count: padded - name.utf8.count) }
        return b
    }

    func parse(_ bytes: [UInt8]) -> StateFileWatch.Event? {
        bytes.withUnsafeBytes { StateFileWatch.parse($0, name: name) }
    }

    @Test func theStateFileIsReportedAndOtherNamesAreNot() {
        #expect(parse(event(IN_MOVED_TO, "state.json")) == .changed)
        #expect(parse(event(IN_DELETE, "state.json", padded: 32)) == .changed)
        #expect(parse(event(IN_CLOSE_WRITE, "state.json.lock")) == nil)
        #expect(parse(event(IN_MODIFY, ".state.json.tmp-1")) == nil)
        #expect(parse(event(IN_CREATE, "state.jso")) == nil)
        // A name that fills its field exactly (no NUL) is compared whole.
        #expect(parse(event(IN_MOVED_TO, "state.json", padded: 10)) == .changed)
        #expect(parse(event(IN_CLOSE_WRITE, "other") + event(IN_MOVED_TO, "state.json")) == .changed)
        #expect(parse(event(IN_CLOSE_WRITE, "other") + event(IN_MOVED_TO, "more")) == nil)
    }

    @Test func anOverflowCountsAsAChangeAndAnEndedWatchIsLost() {
        #expect(parse(event(IN_Q_OVERFLOW)) == .changed)
        for mask in [IN_IGNORED, IN_DELETE_SELF, IN_MOVE_SELF] {
            #expect(
                parse(event(IN_MOVED_TO, "state.json") + event(mask))
                    == .lost("the state file's folder was removed or moved")
            )
        }
    }

    /// A record cut short (the buffer ends inside its name) is read up to the buffer's end, never past it.
    @Test func aShortBufferIsReadOnlyToItsEnd() {
        let whole = event(IN_MOVED_TO, "state.json")
        for cut in 0..<whole.count {
            let got = parse(Array(whole[0..<cut]))
            #expect(got == nil || got == .changed, "cut at \(cut)")
        }
        #expect(parse(Array(whole[0..<(16 + 10)])) == .changed)
    }
}
