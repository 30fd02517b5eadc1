import App
import Foundation
import TestSupport
import Testing

/// `gtmd serve`'s plain reading of its arguments (`ServeArguments(plain:)`) and its hand-over to ArgumentParser
/// for everything else, against the real binary.
@Suite struct ServeArgumentsTests {
    @Test func plainPairsAreRead() throws {
        let a = try #require(
            ServeArguments(plain: [
                "--config", "gtmd.yaml", "--zone", "a.example=a.zone", "--zone", "b.example=b.zone", "--listen",
                "127.0.0.1:53", "--listen", "[::1]:53", "--udp-workers", "0", "--ready-file", "r.json", "--state-file",
                "s.json", "--control", "off", "--node", "n1", "--etcd", "http://127.0.0.1:2379,http://127.0.0.2:2379",
                "--etcd", "http://127.0.0.3:2379", "--log-level", "debug",
            ])
        )
        #expect(a.config == "gtmd.yaml" && a.zone == ["a.example=a.zone", "b.example=b.zone"])
        #expect(a.listen == ["127.0.0.1:53", "[::1]:53"] && a.udpWorkers == 0)
        #expect(a.readyFile == "r.json" && a.stateFile == "s.json" && a.control == "off" && a.node == "n1")
        #expect(a.etcd == ["http://127.0.0.1:2379,http://127.0.0.2:2379", "http://127.0.0.3:2379"])
        #expect(a.logLevel == "debug")
        // Nothing given: the defaults `Serve` declares.
        #expect(ServeArguments(plain: []) == ServeArguments())
        #expect(ServeArguments().logLevel == "info" && ServeArguments().udpWorkers == nil)
    }

    @Test(arguments: [
        ["--help"], ["-h"], ["--config=gtmd.yaml"], ["--config"], ["--config", "a", "--config", "b"],
        ["--udp-workers", "65"], ["--udp-workers", "-1"], ["--udp-workers", "two"], ["--listen", "--config"],
        ["--colour", "blue"], ["gtmd.yaml"], ["--config", "a", "extra"],
        ["--log-level", "info", "--log-level", "debug"],
        ["--generate-completion-script", "bash"], ["--version"],
    ])
    func anythingElseGoesToArgumentParser(_ args: [String]) {
        #expect(ServeArguments(plain: args) == nil, "\(args)")
    }

    /// Every option `serve --help` lists is one the plain reading knows: an option added to `Serve` alone fails here.
    @Test func thePlainReadingKnowsEveryOptionOfTheCommand() throws {
        let r = try run(GtmdServer.binary, ["serve", "--help"])
        #expect(r.status == 0, "\(r.stderr)")
        let re = try NSRegularExpression(pattern: "--([a-z][a-z-]*)")
        let text = r.stdout as NSString
        let listed = Set(
            re.matches(in: r.stdout, range: NSRange(location: 0, length: text.length)).map {
                text.substring(with: $0.range(at: 1))
            }
        )
        #expect(listed.subtracting(["help", "version"]) == ServeArguments.optionNames, "\(r.stdout)")
    }

    /// The other forms still work, through ArgumentParser: `--name=value` serves, a bad value gets its message.
    @Test func otherFormsGoThroughArgumentParser() throws {
        let zone = Repo.root.appendingPathComponent("zones/lab.example.zone").path
        let server = try GtmdServer(["--zone=lab.example=\(zone)", "--log-level=debug"])
        defer { server.stop() }
        #expect(try dig("mail.lab.example", port: server.port).answerData == ["192.0.2.25"])
        #expect(server.log.contains("debug"), "\(server.log)")
        let config = FileManager.default.temporaryDirectory.appendingPathComponent(
            "gtmd-args-\(UUID().uuidString).yaml"
        )
        try "zones:\n  - { origin: lab.example, file: \(zone) }\n".write(to: config, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: config) }
        let bad = try run(GtmdServer.binary, ["serve", "--config", config.path, "--udp-workers", "99"])
        #expect(bad.status != 0 && bad.stderr.contains("--udp-workers 99 is out of range 0...64"), "\(bad.stderr)")
        let unknown = try run(GtmdServer.binary, ["serve", "--config", config.path, "--colour", "blue"])
        #expect(unknown.status != 0 && unknown.stderr.contains("--colour"), "\(unknown.stderr)")
    }
}
