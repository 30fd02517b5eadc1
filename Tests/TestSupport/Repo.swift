import Foundation

/// Paths shared by the test targets.
public enum Repo {
    /// The package root (the folder holding Package.swift), found from this source file's location.
    public static let root: URL = {
        var u = URL(fileURLWithPath: #filePath)
        while u.path != "/" {
            u.deleteLastPathComponent()
            if FileManager.default.fileExists(atPath: u.appendingPathComponent("Package.swift").path) { return u }
        }
        fatalError("Package.swift not found above \(#filePath)")
    }()

    /// Creates the lab's control token (`.lab-state/control.token`, named by config/lab.yaml) as
    /// scripts/run-lab.sh does, when it is missing: tests that serve or check the lab config need it.
    public static func prepareLab() throws {
        let dir = root.appendingPathComponent(".lab-state")
        let token = dir.appendingPathComponent("control.token").path
        if let size = (try? FileManager.default.attributesOfItem(atPath: token))?[.size] as? Int, size > 0 { return }
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let tmp = token + ".\(getpid()).\(UUID().uuidString)"
        var bytes = [UInt8](repeating: 0, count: 24)
        for i in bytes.indices { bytes[i] = UInt8.random(in: 0...255) }
        let text = Data(bytes).base64EncodedString().filter { $0.isLetter || $0.isNumber }
        guard
            FileManager.default.createFile(
                atPath: tmp,
                contents: Data(text.utf8),
                attributes: [.posixPermissions: 0o600]
            )
        else {
            throw TestError.failed("cannot write \(tmp)")
        }
        // Tests run in parallel: the first link wins; the others keep its token.
        _ = link(tmp, token)
        unlink(tmp)
    }
}
