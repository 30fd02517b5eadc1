import Config
import DNSWire
import Foundation
import TestSupport
import Testing

@Suite struct RateLimitConfig {
    func parse(_ yaml: String) -> Result<GtmdConfig, ConfigProblems> {
        ConfigLoader.parse(yaml, file: "t.yaml", baseDirectory: Repo.root.appendingPathComponent("config").path)
    }

    @Test func defaultsAreOnWithLoopbackExempt() throws {
        let c = try parse("zones: []\n").get()
        #expect(c.server.rateLimit == RateLimitSettings())
        #expect(
            c.server.rateLimit.responsesPerSecond == 20 && c.server.rateLimit.slip == 2
                && c.server.rateLimit.window == 5
        )
        #expect(c.server.rateLimit.exempt == nil)
    }

    @Test func everyKeyIsRead() throws {
        let c = try parse(
            """
            server:
              rrl:
                responses_per_second: 7
                window: 3s
                slip: 0
                ipv4_prefix: 16
                ipv6_prefix: 48
                table_size: 4096
                exempt: [192.0.2.0/24, "2001:db8::/32", 10.1.2.3]
            """
        ).get().server.rateLimit
        #expect(c.responsesPerSecond == 7 && c.window == 3 && c.slip == 0 && c.ipv4Prefix == 16 && c.ipv6Prefix == 48)
        #expect(c.tableSize == 4096)
        #expect(c.exempt?.map(\.description) == ["192.0.2.0/24", "2001:db8::/32", "10.1.2.3/32"])
    }

    @Test func offTurnsItOff() throws {
        #expect(try parse("server:\n  rrl: off\n").get().server.rateLimit.responsesPerSecond == 0)
        #expect(
            try parse("server:\n  rrl: { responses_per_second: 0 }\n").get().server.rateLimit.responsesPerSecond == 0
        )
    }

    @Test(arguments: [
        (
            "server:\n  rrl:\n    exempt: [10.0.0.1/8]\n",
            "t.yaml:3: server.rrl.exempt[0]: '10.0.0.1/8' has bits set beyond /8 (did you mean 10.0.0.0/8?)"
        ),
        (
            "server:\n  rrl:\n    exempt: [10.0.0.0/33]\n",
            "server.rrl.exempt[0]: '10.0.0.0/33': prefix length must be 0...32"
        ),
        ("server:\n  rrl:\n    slip: 11\n", "t.yaml:3: server.rrl.slip: 11 is out of range 0...10"),
        ("server:\n  rrl:\n    ipv4_prefix: 4\n", "server.rrl.ipv4_prefix: 4 is out of range 8...32"),
        ("server:\n  rrl:\n    window: 0s\n", "server.rrl.window: 0s is out of range"),
        ("server:\n  rrl:\n    rate: 5\n", "t.yaml:3: server.rrl.rate: unknown key"),
        ("server:\n  rrl: sometimes\n", "server.rrl: expected a mapping"),
    ])
    func badValuesSayWhere(_ yaml: String, _ expected: String) {
        guard case .failure(let p) = parse(yaml + "zones: []\n") else {
            Issue.record("accepted: \(yaml)")
            return
        }
        #expect(p.problems.contains { $0.description.hasPrefix(expected) || $0.description.contains(expected) }, "\(p)")
    }
}

@Suite struct ConfigFileLimits {
    @Test func oversizedConfigNamesTheLimitAndTheFile() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("gtmd-big-\(UUID().uuidString).yaml")
            .path
        try String(repeating: "# padding\n", count: ConfigLoader.maxBytes / 10 + 1).write(
            toFile: path,
            atomically: true,
            encoding: .utf8
        )
        defer { try? FileManager.default.removeItem(atPath: path) }
        guard case .failure(let p) = ConfigLoader.load(path: path) else {
            Issue.record("loaded")
            return
        }
        #expect(
            p.description
                == "\(path): file is \(ConfigLoader.maxBytes / 10 * 10 + 10) bytes; the limit is \(ConfigLoader.maxBytes)"
        )
    }

    @Test func devicesAndDirectoriesAreRefusedWithoutReading() {
        guard case .failure(let zero) = ConfigLoader.load(path: "/dev/zero") else {
            Issue.record("/dev/zero loaded")
            return
        }
        #expect(zero.description == "/dev/zero: is not a regular file (a FIFO, device or socket cannot be a config)")
        guard case .failure(let dir) = ConfigLoader.load(path: "/tmp") else {
            Issue.record("/tmp loaded")
            return
        }
        #expect(dir.description == "/tmp: is a directory")
    }
}

/// The control token file, as `gtmd check`, start-up and every mutating request read it.
@Suite struct TokenFileReading {
    @Test func eachKindOfFileGetsItsAnswer() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gtmd-token-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "  s3cret \n".write(toFile: dir + "/ok", atomically: true, encoding: .utf8)
        try " \n\n".write(toFile: dir + "/blank", atomically: true, encoding: .utf8)
        try String(repeating: "x", count: ControlSettings.tokenFileMaxBytes + 1)
            .write(toFile: dir + "/big", atomically: true, encoding: .utf8)
        #expect(mkfifo(dir + "/fifo", 0o600) == 0)
        #expect(ControlSettings.readTokenFile(dir + "/ok") == .token("s3cret"))
        #expect(ControlSettings.readTokenFile(dir + "/blank") == .empty("'\(dir)/blank' is empty"))
        #expect(
            ControlSettings.readTokenFile(dir + "/nope")
                == .unreadable("'\(dir)/nope' does not exist (create it with a random token, mode 0600)")
        )
        #expect(ControlSettings.readTokenFile(dir) == .unreadable("'\(dir)' is a directory"))
        // A FIFO would block a plain read until a writer comes: refused without opening it for a read.
        #expect(
            ControlSettings.readTokenFile(dir + "/fifo")
                == .unreadable("'\(dir)/fifo' is not a regular file (a FIFO, device or socket)")
        )
        let big = ControlSettings.readTokenFile(dir + "/big")
        #expect(
            big
                == .unreadable(
                    "'\(dir)/big' is \(ControlSettings.tokenFileMaxBytes + 1) bytes: a token file holds one line "
                        + "(limit \(ControlSettings.tokenFileMaxBytes) bytes)"
                ),
            "\(big)"
        )
        var settings = ControlSettings()
        settings.tokenFile = dir + "/ok"
        #expect(settings.tokenFileProblem(environment: [:]) == nil)
        // Under systemd the credentials folder wins when it holds a file of the same name.
        settings.tokenFile = "/nonexistent/blank"
        #expect(settings.tokenFileProblem(environment: ["CREDENTIALS_DIRECTORY": dir]) == "'\(dir)/blank' is empty")
    }
}
