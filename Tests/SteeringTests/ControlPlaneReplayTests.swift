import Foundation
import Steering
import TestSupport
import Testing

/// Every committed input of the control-plane fuzz targets (state file, control-API bodies, CLI --for/--until;
/// seeds in Fuzz/corpus, crash inputs in Fuzz/regressions, issue 19's among them) through the same checks as
/// the libFuzzer harness (ControlPlaneChecks.swift is shared with Fuzz/), without libFuzzer.
@Suite struct ControlPlaneReplay {
    static let checks = ControlPlaneChecks(zonesDirectory: Repo.root.appendingPathComponent("zones").path)

    @Test(arguments: ControlPlaneTarget.allCases)
    func committedInputsKeepTheirProperties(_ target: ControlPlaneTarget) throws {
        let files = ["corpus", "regressions"].flatMap { dir -> [String] in
            let d = Repo.root.appendingPathComponent("Fuzz/\(dir)/\(target.rawValue)")
            let names = (try? FileManager.default.contentsOfDirectory(atPath: d.path)) ?? []
            return names.filter { !$0.hasPrefix(".") }.sorted().map { d.appendingPathComponent($0).path }
        }
        #expect(files.count >= 3, "seeds for \(target)")
        for f in files {
            let failure = Self.checks.check(target, try [UInt8](Data(contentsOf: URL(fileURLWithPath: f))))
            #expect(failure == nil, "\(f): \(failure ?? "")")
        }
    }

    /// The issue 19 inputs are refused (the writer holds no override), and a valid one is applied.
    @Test func hugeDurationsAreRefusedAndValidOnesApplied() {
        #expect(
            Self.checks.check(
                .control,
                Array(#"{"scope":"pool","target":"primary","action":"down","for":"1e300s"}"#.utf8)
            ) == nil
        )
        #expect(Self.checks.check(.cli, Array("99999999999999999999999d\n".utf8)) == nil)
        #expect(Self.checks.check(.cli, Array("\n9999-12-31T23:59:59Z".utf8)) == nil)
        #expect(
            Self.checks.check(.control, Array(#"{"scope":"pool","target":"primary","action":"down","for":"10m"}"#.utf8))
                == nil
        )
    }

    /// Issue 13: a misspelt field (`fro` for `for`) was ignored and the drain had no end; it is refused by name.
    @Test func aMisspeltFieldIsRefused() throws {
        let file = Repo.root.appendingPathComponent("Fuzz/regressions/control/issue13-misspelt-field")
        let body = try [UInt8](Data(contentsOf: file))
        #expect(throws: OverrideError.self) { try OverrideRequest.decode(json: body) }
        do { _ = try OverrideRequest.decode(json: body) } catch {
            #expect(error.description.hasPrefix("unknown field 'fro' (allowed: scope, target, action, pool"))
        }
        #expect(Self.checks.check(.control, body) == nil)
    }
}
