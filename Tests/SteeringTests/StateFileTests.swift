import DNSWire
import Foundation
import Policy
import Steering
import Testing

@Suite struct StateFileTests {
    func temp() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("state-\(UUID().uuidString)/state.json").path
    }

    @Test func roundTripAndSeparateSections() throws {
        let path = temp()
        #expect(try StateFile.read(path) == StateFileContent())
        let o = Override(
            scope: .pool,
            target: "primary",
            action: .down,
            until: Date(timeIntervalSince1970: 2_000_000_000),
            setAt: Date(timeIntervalSince1970: 1_900_000_000),
            note: "drill"
        )
        try StateFile.update(path) { $0.overrides = [o] }
        try StateFile.update(path) { $0.services = ["www.lab.example.": ServiceState(pool: "standby")] }
        let c = try StateFile.read(path)
        #expect(c.overrides == [o])  // the server's write kept the operator's override
        #expect(c.services["www.lab.example."]?.pool == "standby")
    }

    /// The server's hold writes its pid over what a previous server left (a longer pid and more) and cuts the
    /// file to it; a second hold on the same file is refused and names that pid.
    @Test func serverHoldWritesItsPidOverTheOld() throws {
        let path = temp()
        let lock = StateFile.serverLockPath(path)
        try FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent,
            withIntermediateDirectories: true
        )
        try "4294967295\nleft over by an older server\n".write(toFile: lock, atomically: false, encoding: .utf8)
        let hold = try StateFile.holdForServer(path).get()
        #expect(try String(contentsOfFile: lock, encoding: .utf8) == "\(getpid())\n")
        #expect(StateFile.heldByServer(path) == getpid())
        // flock is per open file: a second open in this process is refused like another process would be.
        guard case .failure(let e) = StateFile.holdForServer(path) else {
            Issue.record("a second hold was granted")
            return
        }
        #expect("\(e)".contains("pid \(getpid())"))
        withExtendedLifetime(hold) {}
    }

    @Test func corruptFileIsAnErrorNotEmpty() throws {
        let path = temp()
        try FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent,
            withIntermediateDirectories: true
        )
        try "{ not json".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(throws: StateFileError.self) { try StateFile.read(path) }
        #expect(throws: (any Error).self) { try StateFile.update(path) { $0.overrides = [] } }
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "{ not json")  // nothing overwritten
    }

    @Test func defaultPath() {
        #expect(
            StateFile.defaultPath(configFile: "/etc/gtmd/gtmd.yaml", environment: ["STATE_DIRECTORY": "/var/lib/gtmd"])
                == "/var/lib/gtmd/state.json"
        )
        #expect(
            StateFile.defaultPath(configFile: "/etc/gtmd/gtmd.yaml", environment: [:]) == "/etc/gtmd/gtmd-state.json"
        )
    }
}
