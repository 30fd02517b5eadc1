import Config
import Foundation
import Testing

/// The `fleet:` section: defaults, every key, and each bad input reported with its line and key path.
struct FleetConfigTests {
    func parse(_ fleet: String) -> Result<GtmdConfig, ConfigProblems> {
        ConfigLoader.parse("fleet:\n" + fleet, file: "t.yaml", baseDirectory: "/etc/gtmd")
    }

    @Test func absentMeansNoFleet() throws {
        let c = try ConfigLoader.parse("server:\n  listen: 127.0.0.1:5300\n", file: "t.yaml", baseDirectory: "/").get()
        #expect(c.fleet == nil)
    }

    @Test func defaults() throws {
        let c = try parse("  name: prod\n  etcd:\n    endpoints: [http://127.0.0.1:2379, 'http://127.0.0.2:2379/']\n")
            .get()
        let f = try #require(c.fleet)
        #expect(f.name == "prod")
        #expect(f.endpoints == ["http://127.0.0.1:2379", "http://127.0.0.2:2379"])
        #expect(f.node == FleetSettings.hostName())
        #expect(f.vantage == f.node)
        #expect(f.quorum == .majority)
        #expect(f.onStoreLoss == .local)
        #expect(f.leaseTTL == 10)
        #expect(f.usernameFile == nil && f.certFile == nil)
    }

    @Test func everyKey() throws {
        let c = try parse(
            """
              name: prod
              node: ns1
              vantage: eu-west
              quorum: 2
              on_store_loss: freeze
              lease_ttl: 5s
              etcd:
                endpoints: https://10.0.0.1:2379
                request_timeout: 500ms
                auth: { username_file: '${CREDENTIALS_DIRECTORY}/etcd-user', password_file: creds/pass }
            """ + "\n"
        ).get()
        let f = try #require(c.fleet)
        #expect(f.node == "ns1" && f.vantage == "eu-west")
        #expect(f.quorum == .count(2))
        #expect(f.onStoreLoss == .freeze)
        #expect(f.leaseTTL == 5)
        #expect(f.requestTimeout == .milliseconds(500))
        #expect(f.endpoints == ["https://10.0.0.1:2379"])
        #expect(f.usernameFile == "${CREDENTIALS_DIRECTORY}/etcd-user")
        #expect(f.passwordFile == "/etc/gtmd/creds/pass")
    }

    struct Bad: Sendable, CustomStringConvertible {
        var yaml: String
        var path: String
        var message: String
        var description: String { path }
    }

    static let bad: [Bad] = [
        .init(yaml: "  etcd: { endpoints: [http://127.0.0.1:2379] }\n", path: "fleet.name", message: "missing"),
        .init(
            yaml: "  name: a/b\n  etcd: { endpoints: [http://127.0.0.1:2379] }\n",
            path: "fleet.name",
            message: "letters, digits"
        ),
        .init(yaml: "  name: a\n", path: "fleet.etcd", message: "missing"),
        .init(yaml: "  name: a\n  etcd: { endpoints: [] }\n", path: "fleet.etcd.endpoints", message: "at least one"),
        .init(
            yaml: "  name: a\n  etcd: { endpoints: [127.0.0.1:2379] }\n",
            path: "fleet.etcd.endpoints[0]",
            message: "not an http"
        ),
        .init(
            yaml: "  name: a\n  etcd: { endpoints: [http://127.0.0.1:2379/v3] }\n",
            path: "fleet.etcd.endpoints[0]",
            message: "without a path"
        ),
        .init(
            yaml: "  name: a\n  quorum: most\n  etcd: { endpoints: [http://127.0.0.1:2379] }\n",
            path: "fleet.quorum",
            message: "majority, any, all"
        ),
        .init(
            yaml: "  name: a\n  quorum: 0\n  etcd: { endpoints: [http://127.0.0.1:2379] }\n",
            path: "fleet.quorum",
            message: "1 or more"
        ),
        .init(
            yaml: "  name: a\n  on_store_loss: panic\n  etcd: { endpoints: [http://127.0.0.1:2379] }\n",
            path: "fleet.on_store_loss",
            message: "local or freeze"
        ),
        .init(
            yaml: "  name: a\n  node: 'x y'\n  etcd: { endpoints: [http://127.0.0.1:2379] }\n",
            path: "fleet.node",
            message: "letters"
        ),
        .init(
            yaml: "  name: a\n  lease_ttl: 1s\n  etcd: { endpoints: [http://127.0.0.1:2379] }\n",
            path: "fleet.lease_ttl",
            message: "out of range"
        ),
        .init(
            yaml: "  name: a\n  colour: red\n  etcd: { endpoints: [http://127.0.0.1:2379] }\n",
            path: "fleet.colour",
            message: "unknown key"
        ),
        .init(
            yaml: "  name: a\n  etcd: { endpoints: [http://127.0.0.1:2379], auth: { username_file: u } }\n",
            path: "fleet.etcd.auth",
            message: "both"
        ),
        .init(
            yaml: "  name: a\n  etcd: { endpoints: [http://127.0.0.1:2379], tls: { cert_file: /nonexistent/c.pem } }\n",
            path: "fleet.etcd.tls",
            message: "go together"
        ),
        .init(
            yaml: "  name: a\n  etcd: { endpoints: [http://127.0.0.1:2379], tls: { ca_file: /nonexistent/ca.pem } }\n",
            path: "fleet.etcd.tls.ca_file",
            message: "does not exist"
        ),
    ]

    @Test(arguments: bad)
    func rejects(_ b: Bad) throws {
        guard case .failure(let p) = parse(b.yaml) else {
            Issue.record("accepted: \(b.yaml)")
            return
        }
        let hit = p.problems.first { $0.path == b.path }
        #expect(hit != nil, "problems: \(p)")
        #expect(hit?.message.contains(b.message) == true, "problems: \(p)")
        #expect(hit?.line != nil, "a line number for \(b.path)")
    }
}
