import Foundation
import TestSupport
import Testing
import Yams

@testable import Config

/// Docs that cannot drift: every YAML block in README.md and Sources/*/README.md loads, and config/example.yaml
/// documents every key the parser knows (CoreDNS does the first with test/readme_test.go).
@Suite struct DocsTests {
    struct Block: Sendable, CustomTestStringConvertible {
        var file: String
        var line: Int
        var text: String
        var testDescription: String { "\(file):\(line)" }
    }

    /// The ```yaml blocks of the README files, with the line each starts on.
    static let blocks: [Block] = {
        var files = ["README.md"]
        let sources = Repo.root.appendingPathComponent("Sources")
        for dir in (try? FileManager.default.contentsOfDirectory(atPath: sources.path).sorted()) ?? [] {
            let readme = "Sources/\(dir)/README.md"
            if FileManager.default.fileExists(atPath: Repo.root.appendingPathComponent(readme).path) {
                files.append(readme)
            }
        }
        var out: [Block] = []
        for file in files {
            guard let text = try? String(contentsOf: Repo.root.appendingPathComponent(file), encoding: .utf8) else {
                continue
            }
            var current: (line: Int, lines: [String])? = nil
            for (i, line) in text.components(separatedBy: "\n").enumerated() {
                if let c = current {
                    if line.hasPrefix("```") {
                        out.append(Block(file: file, line: c.line, text: c.lines.joined(separator: "\n")))
                        current = nil
                    } else {
                        current?.lines.append(line)
                    }
                } else if line.trimmingCharacters(in: .whitespaces) == "```yaml" {
                    current = (i + 2, [])
                }
            }
        }
        return out
    }()

    /// What a README fragment may lean on without repeating it: a zone, the check `healthz`, the pools
    /// `primary` and `standby`, the regions `region-a` and `region-b`. The fragment's entries win.
    static let base = """
        zones:
          - { origin: lab.example, file: ../zones/lab.example.zone }
        checks:
          healthz: { type: http, port: 8081, path: /healthz }
        pools:
          primary: { region: region-a, checks: [healthz], members: [127.0.0.11] }
          standby: { region: region-b, checks: [healthz], members: [127.0.0.12] }
        regions:
          region-a: { latitude: 50.11, longitude: 8.68 }
          region-b: { latitude: 53.35, longitude: -6.26 }
        """

    /// The base with the fragment's top-level sections merged in (mappings entry by entry, anything else replaced).
    static func merged(_ fragment: String) throws -> String {
        guard case .mapping(var root)? = try Yams.compose(yaml: base),
            case .mapping(let frag)? = try Yams.compose(yaml: fragment)
        else {
            throw TestError.failed("a README YAML block must be a mapping of config sections")
        }
        for (key, value) in frag {
            if case .mapping(var existing)? = root[key], case .mapping(let add) = value {
                for (k, v) in add { existing[k] = v }
                root[key] = .mapping(existing)
            } else {
                root[key] = value
            }
        }
        return try Yams.serialize(node: .mapping(root))
    }

    @Test func thereAreBlocksToCheck() {
        #expect(Self.blocks.count >= 4)
    }

    @Test(arguments: blocks)
    func readmeBlockLoads(_ block: Block) throws {
        let text = try Self.merged(block.text)
        switch ConfigLoader.parse(
            text,
            file: "\(block.file):\(block.line)",
            baseDirectory: Repo.root.appendingPathComponent("config").path
        ) {
        case .success: break
        case .failure(let p):
            // Blocks may name files of an installed machine (a MaxMind database under /var/lib/GeoIP); everything
            // else about them must load.
            let real = p.problems.filter { !($0.path == "geo.database" && $0.message.contains("/var/lib/GeoIP/")) }
            #expect(real.isEmpty, "\(block.file):\(block.line): \(real.map(\.description))")
        }
    }

    /// Every key the parser accepts appears in config/example.yaml (as a key, or commented out).
    @Test func exampleDocumentsEveryKey() throws {
        let text = try String(contentsOf: Repo.root.appendingPathComponent("config/example.yaml"), encoding: .utf8)
        var missing: [String] = []
        for (section, keys) in ConfigLoader.knownKeys {
            for key in keys.sorted() where !text.contains("\(key):") {
                missing.append("\(section).\(key)")
            }
        }
        #expect(missing.isEmpty, "config/example.yaml does not document: \(missing.sorted())")
    }
}
