import Foundation
import TestSupport
import Testing

/// Every committed fuzz input (the seed corpora in Fuzz/corpus and every crash ever found, kept in
/// Fuzz/regressions) run through the same property checks as the libFuzzer harness (FuzzChecks.swift is
/// shared with Fuzz/), in the normal test suite and without libFuzzer.
@Suite struct FuzzReplay {
    static let checks = FuzzChecks(zonesDirectory: Repo.root.appendingPathComponent("zones").path)

    static func inputs(_ target: FuzzTarget) -> [String] {
        ["corpus", "regressions"].flatMap { dir -> [String] in
            let d = Repo.root.appendingPathComponent("Fuzz/\(dir)/\(target.rawValue)")
            let files = (try? FileManager.default.contentsOfDirectory(atPath: d.path)) ?? []
            return files.filter { !$0.hasPrefix(".") }.sorted().map { d.appendingPathComponent($0).path }
        }
    }

    @Test(arguments: FuzzTarget.allCases)
    func committedInputsKeepTheirProperties(_ target: FuzzTarget) throws {
        let files = Self.inputs(target)
        #expect(!files.isEmpty, "no seeds for \(target)")
        for f in files {
            let data = try [UInt8](Data(contentsOf: URL(fileURLWithPath: f)))
            let failure = Self.checks.check(target, data)
            #expect(failure == nil, "\(f): \(failure ?? "")")
        }
    }
}
