import DNSWire
import Foundation
import Testing

/// FilePaths gives what Foundation's NSString path methods give, for the paths a config names.
@Suite struct FilePathsTests {
    static let paths = [
        "/etc/gtmd/gtmd.yaml", "/gtmd.yaml", "gtmd.yaml", "/etc/gtmd/", "/etc//gtmd", "/", "config/lab.yaml",
        "./lab.yaml", "a/b/c",
    ]

    @Test(arguments: paths)
    func directoryAndLastComponent(_ p: String) {
        #expect(FilePaths.directory(of: p) == (p as NSString).deletingLastPathComponent, "\(p)")
        #expect(FilePaths.lastComponent(p) == (p as NSString).lastPathComponent, "\(p)")
    }

    @Test(arguments: ["/etc/gtmd", "/etc/gtmd/", "/", "config", ""], ["lab.zone", "zones/lab.zone", "a/b"])
    func join(_ folder: String, _ name: String) {
        #expect(
            FilePaths.join(folder, name) == (folder as NSString).appendingPathComponent(name),
            "\(folder) + \(name)"
        )
    }

    /// Foundation's own traps on these (Swift 6.3's corelibs: `String._startOfLastPathComponent`).
    @Test func pathsFoundationTrapsOn() {
        #expect(FilePaths.directory(of: "") == "")
        #expect(FilePaths.lastComponent("") == "")
        #expect(FilePaths.directory(of: "a/") == "")
        #expect(FilePaths.lastComponent("a/") == "a")
    }

    @Test func resolveKeepsAbsolutePaths() {
        #expect(FilePaths.resolve("/var/lib/x", in: "/etc") == "/var/lib/x")
        #expect(FilePaths.resolve("x.zone", in: "/etc/gtmd") == "/etc/gtmd/x.zone")
    }
}
