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
}
