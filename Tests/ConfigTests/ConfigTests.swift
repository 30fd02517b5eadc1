import Config
import DNSWire
import Foundation
import TestSupport
import Testing

@Suite struct ConfigLoading {
    @Test(
        arguments: try! FileManager.default.contentsOfDirectory(atPath: Repo.root.appendingPathComponent("config").path)
            .filter { $0.hasSuffix(".yaml") }.sorted()
    )
    func shippedConfigsLoad(_ file: String) throws {
        let path = Repo.root.appendingPathComponent("config/\(file)").path
        switch ConfigLoader.load(path: path) {
        case .success(let c): #expect(!c.zones.isEmpty)
        case .failure(let p): Issue.record("\(p)")
        }
    }

    func problems(_ yaml: String) -> [String] {
        switch ConfigLoader.parse(yaml, file: "t.yaml", baseDirectory: Repo.root.appendingPathComponent("config").path)
        {
        case .success: return []
        case .failure(let p): return p.problems.map(\.description)
        }
    }

    struct Bad: Sendable, CustomTestStringConvertible {
        var yaml: String
        var expected: String
        var testDescription: String { expected }
    }

    static let bad: [Bad] = [
        Bad(yaml: "colour: blue\n", expected: "t.yaml:1: colour: unknown key"),
        Bad(
            yaml: "server:\n  listen: [ 'nowhere' ]\n",
            expected: "t.yaml:2: server.listen[0]: 'nowhere' is not an address:port"
        ),
        Bad(
            yaml: "server:\n  edns_buffer_size: 100000\n",
            expected: "server.edns_buffer_size: 100000 is out of range 512...4096"
        ),
        Bad(
            yaml: "server:\n  edns_buffer_size: lots\n",
            expected: "server.edns_buffer_size: 'lots' is not a whole number"
        ),
        Bad(
            yaml: "server:\n  tcp:\n    idle_timeout: soon\n",
            expected: "t.yaml:3: server.tcp.idle_timeout: 'soon' is not a duration"
        ),
        Bad(yaml: "server:\n  tcp:\n    backlog: 5\n", expected: "server.tcp.backlog: unknown key"),
        Bad(yaml: "zones:\n  - origin: a.test\n    file: nope.zone\n", expected: "zones[0].file: "),
        Bad(yaml: "zones:\n  - file: ../zones/lab.example.zone\n", expected: "zones[0].origin: missing"),
        Bad(
            yaml:
                "zones:\n  - origin: lab.example\n    file: ../zones/lab.example.zone\n  - origin: LAB.example.\n    file: ../zones/lab.example.zone\n",
            expected: "zones[1].origin: zone LAB.example. is already defined at zones[0]"
        ),
        Bad(yaml: "server: [\n", expected: "t.yaml:"),
        Bad(yaml: "server:\n  nsid: 'hex:zz'\n", expected: "server.nsid"),
    ]

    @Test(arguments: bad)
    func badConfigSaysWhereAndWhat(_ b: Bad) {
        let p = problems(b.yaml)
        #expect(p.contains { $0.contains(b.expected) }, "\(p)")
    }

    @Test func allProblemsAreReported() {
        let p = problems("server:\n  edns_buffer_size: 1\n  udp_workers: -1\n  what: 1\nzones:\n  - origin: x.test\n")
        #expect(p.count >= 4, "\(p)")
    }

    @Test func goodConfigValues() throws {
        let yaml = """
            server:
              listen: ["127.0.0.1:5300", "[::1]:5300", "::1"]
              edns_buffer_size: 1400
              nsid: hex:6e7331
              version: false
              tcp: { idle_timeout: 1500ms, query_timeout: 2s, max_connections: 10 }
            zones:
              - { origin: lab.example., file: ../zones/lab.example.zone }
            """
        let c = try ConfigLoader.parse(
            yaml,
            file: "t.yaml",
            baseDirectory: Repo.root.appendingPathComponent("config").path
        ).get()
        #expect(
            c.server.listen == [
                ListenAddress(host: "127.0.0.1", port: 5300), ListenAddress(host: "::1", port: 5300),
                ListenAddress(host: "::1", port: 53),
            ]
        )
        #expect(c.server.ednsBufferSize == 1400)
        #expect(c.server.nsid == Array("ns1".utf8))
        #expect(c.server.version == nil)
        #expect(c.server.tcpIdleTimeout == .milliseconds(1500))
        #expect(c.server.tcpMaxConnections == 10)
        #expect(c.zones.first?.origin == (try DNSName("lab.example.")))
    }

    @Test func controlSection() throws {
        let base = "zones:\n  - { origin: lab.example., file: ../zones/lab.example.zone }\n"
        let dir = Repo.root.appendingPathComponent("config").path
        var c = try ConfigLoader.parse(base, file: "t.yaml", baseDirectory: dir).get()
        #expect(c.control.listen == ListenAddress(host: "127.0.0.1", port: 8053) && c.control.tokenFile == nil)
        c = try ConfigLoader.parse(
            base + "control: { listen: \"[::1]:9053\", token_file: secret/token }",
            file: "t.yaml",
            baseDirectory: dir
        ).get()
        #expect(c.control.listen == ListenAddress(host: "::1", port: 9053))
        #expect(c.control.tokenFile == dir + "/secret/token")
        c = try ConfigLoader.parse(base + "control: { listen: off }", file: "t.yaml", baseDirectory: dir).get()
        #expect(c.control.listen == nil)
        let bad = ConfigLoader.parse(
            base + "control:\n  listen: localhost\n  tokenfile: x\n",
            file: "t.yaml",
            baseDirectory: dir
        )
        guard case .failure(let p) = bad else {
            Issue.record("accepted a bad control section")
            return
        }
        let text = p.description
        #expect(text.contains("t.yaml:4: control.listen: 'localhost' is not an address:port"), "\(text)")
        #expect(text.contains("control.tokenfile"), "\(text)")
    }
}
