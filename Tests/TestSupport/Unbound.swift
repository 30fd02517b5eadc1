import Foundation

/// A real unbound on loopback, used as the caching resolver in front of gtmd: the zone is a stub zone
/// pointing at gtmd, with the subnet module sending EDNS Client Subnet (the client's full address, /32
/// and /128) to gtmd. Everything else is forwarded to a discard port on loopback, so nothing leaves the
/// machine. With `trustAnchor` (DS or DNSKEY records' text, one a line) it validates the zone as a secure island.
/// Stopped when the value goes away.
public final class UnboundResolver: @unchecked Sendable {  // process handle used from one test at a time
    public let process: Process
    public let address: String
    public let port: Int
    public let dir: URL

    public static var available: Bool { FileManager.default.isExecutableFile(atPath: "/usr/sbin/unbound") }

    public init(
        address: String = "127.0.0.1",
        zone: String,
        stub: String,
        stubPort: Int,
        ecs: Bool = true,
        trustAnchor: String? = nil,
        serverOptions: [String] = [],
        timeout: Double = 20
    ) throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("gtmd-unbound-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let port = try LoopbackNet.freePort(on: [address])
        self.address = address
        self.port = port
        let validator = trustAnchor == nil ? "" : "validator "
        let anchor =
            (trustAnchor.map { a in
                // One trust-anchor line per record: a DS set (e.g. both DS of a KSK roll) is several lines.
                a.split(separator: "\n").map { "    trust-anchor: \"\($0)\"\n" }.joined() + "    val-log-level: 2\n"
            } ?? "")
            + serverOptions.map { "    \($0)\n" }.joined()
        let subnet =
            ecs
            ? """
                module-config: "subnetcache \(validator)iterator"
                send-client-subnet: \(stub)
                max-client-subnet-ipv4: 32
                max-client-subnet-ipv6: 128
            """
            : """
                module-config: "\(validator)iterator"
            """
        let conf = dir.appendingPathComponent("unbound.conf").path
        try """
        server:
            interface: \(address)
            port: \(port)
            access-control: 127.0.0.0/8 allow
            do-ip6: no
            do-daemonize: no
            username: ""
            chroot: ""
            directory: "\(dir.path)"
            pidfile: ""
            use-syslog: no
            logfile: "\(dir.appendingPathComponent("unbound.log").path)"
            verbosity: 1
            num-threads: 1
            do-not-query-localhost: no
            qname-minimisation: no
            prefetch: no
        \(anchor)\(subnet)
        stub-zone:
            name: "\(zone)"
            stub-addr: \(stub)@\(stubPort)
        forward-zone:
            name: "."
            forward-addr: 127.0.0.1@9
        """.write(toFile: conf, atomically: true, encoding: .utf8)
        let check = try run("/usr/sbin/unbound-checkconf", [conf])
        guard check.status == 0 else { throw TestError.failed("unbound-checkconf: \(check.stdout)\(check.stderr)") }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/sbin/unbound")
        p.arguments = ["-d", "-c", conf]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        process = p
        let log = dir.appendingPathComponent("unbound.log").path
        try waitFor("unbound listening on \(address):\(port)", timeout: timeout, interval: 0.05) {
            guard p.isRunning else {
                throw TestError.failed("unbound exited: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
            }
            return
                (try? run(
                    "/usr/bin/dig",
                    ["@\(address)", "-p", "\(port)", "+tries=1", "+time=1", "version.server", "CH", "TXT"],
                    timeout: 5
                ))?.stdout.contains("status:") == true
        }
    }

    public var log: String {
        (try? String(contentsOf: dir.appendingPathComponent("unbound.log"), encoding: .utf8)) ?? ""
    }

    deinit {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: dir)
    }
}
