import Foundation

/// Builds a small MaxMind DB file with the test-only writer `Tests/tools/mmdb_write.py`.
/// `networks`: CIDR → record (e.g. `["country": ["iso_code": "DE"]]`). Returns the file's path.
public func makeMMDB(_ networks: [(String, [String: Any])], ipVersion: Int = 6, name: String = "test") throws -> String
{
    let spec: [String: Any] = [
        "ip_version": ipVersion,
        "networks": networks.map { ["network": $0.0, "data": $0.1] },
    ]
    let json = try JSONSerialization.data(withJSONObject: spec)
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gtmd-mmdb-\(getpid())")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    let path = dir.appendingPathComponent("\(name)-\(UUID().uuidString.prefix(8)).mmdb").path
    let r = try run(
        "/usr/bin/python3",
        [Repo.root.appendingPathComponent("Tests/tools/mmdb_write.py").path, path],
        stdin: json
    )
    guard r.status == 0 else { throw TestError.failed("mmdb_write.py: \(r.stderr)") }
    return path
}
