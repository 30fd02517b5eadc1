import DNSWire
import Foundation
import TestSupport
import Testing

@testable import Zones

/// A fresh temporary directory holding the given files (relative path -> content).
final class TempZoneDir {
    let url: URL
    init(_ files: [String: String]) throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("gtmd-zones-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        for (name, text) in files { try write(name, text) }
    }
    func write(_ name: String, _ text: String) throws {
        let f = url.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: f.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(text.utf8).write(to: f)
    }
    func path(_ name: String) -> String { url.appendingPathComponent(name).path }
    deinit { try? FileManager.default.removeItem(at: url) }
}

let testOrigin = try! DNSName("t.example.")

/// A minimal valid zone head for t.example.: $TTL, SOA, NS and a comment (lines 1-4); records follow on line 5.
let head = "$TTL 300\n@ SOA ns1 host 1 3600 600 86400 30\n@ NS ns1\n; records follow\n"

/// Loads `files["z.zone"]` (origin t.example.) from a temp dir.
func loadZone(
    _ files: [String: String],
    origin: DNSName = testOrigin,
    maxBytes: Int = 1 << 20,
    main: String = "z.zone"
) throws -> (Result<Zone, ZoneProblems>, TempZoneDir) {
    let dir = try TempZoneDir(files)
    return (ZoneLoader.load(origin: origin, path: dir.path(main), maxBytes: maxBytes), dir)
}

/// Problems with the temp dir stripped from file names: `z.zone:4: message`.
func problemLines(_ problems: [ZoneProblem], dir: TempZoneDir) -> [String] {
    problems.map { $0.description.replacingOccurrences(of: dir.url.path + "/", with: "") }
}

func loaded(
    _ text: String,
    origin: DNSName = testOrigin,
    sourceLocation: SourceLocation = #_sourceLocation
)
    throws -> Zone
{
    let (r, dir) = try loadZone(["z.zone": text], origin: origin)
    switch r {
    case .success(let z): return z
    case .failure(let p):
        Issue.record(
            "zone did not load:\n\(problemLines(p.problems, dir: dir).joined(separator: "\n"))",
            sourceLocation: sourceLocation
        )
        throw p
    }
}

func text(_ z: Zone) -> [String] { z.records.map { LdnsRR.presentation($0.record) } }
