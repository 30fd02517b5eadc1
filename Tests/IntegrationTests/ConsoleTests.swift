import Foundation
import Synchronization
import TestSupport
import Testing

/// The console at `/` (issue 18) on the real binary: embedded assets only, and in a real headless Chromium
/// (Tests/tools/console_browser.py: selenium + Debian's chromium-driver) a killed primary shows up as a switch
/// in the timeline and the standby in the service row. The screenshot is kept in .build/artifacts/.
@Suite struct ConsoleTests {
    @Test func everyAssetIsEmbeddedAndNothingComesFromElsewhere() throws {
        let lab = try FailoverLab()
        let page = try lab.server.control("GET", "/")
        #expect(page.status == 200 && page.headers["content-type"] == "text/html; charset=utf-8")
        #expect(page.headers["content-security-policy"]?.contains("default-src 'none'") == true, "\(page.headers)")
        #expect(page.body.contains("<script src=\"/console.js\"") && page.body.contains("href=\"/console.css\""))
        var total = page.body.utf8.count
        for (path, type) in [("/console.js", "text/javascript"), ("/console.css", "text/css")] {
            let r = try lab.server.control("GET", path)
            #expect(r.status == 200 && r.headers["content-type"]?.hasPrefix(type) == true, "\(path)")
            total += r.body.utf8.count
            // No URL outside the listener: no CDN, no font, no import (the SVG namespace is a name, not a fetch).
            let text = r.body.replacingOccurrences(of: "http://www.w3.org/2000/svg", with: "")
            #expect(!text.contains("http://") && !text.contains("https://") && !text.contains("@import"), "\(path)")
        }
        #expect(!page.body.contains("http://") && !page.body.contains("https://"))
        #expect(total < 32_000, "console weight \(total) bytes")
        print("console: 3 files, \(total) bytes")
        #expect(try lab.server.control("GET", "/console.map").status == 404)
    }

    @Test func aRealBrowserSeesTheSwitch() throws {
        let lab = try FailoverLab()
        let token = try String(contentsOfFile: lab.dir.appendingPathComponent("lab.token").path, encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let artifacts = Repo.root.appendingPathComponent(".build/artifacts")
        try FileManager.default.createDirectory(at: artifacts, withIntermediateDirectories: true)
        let shot = artifacts.appendingPathComponent("console-switch.png").path
        try? FileManager.default.removeItem(atPath: shot)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = [
            "python3", Repo.root.appendingPathComponent("Tests/tools/console_browser.py").path,
            "--url", "http://127.0.0.1:\(lab.server.controlPort!)/", "--dns-port", "\(lab.server.port)",
            "--standby", lab.standby.address, "--token", token, "--screenshot", shot,
        ]
        let input = Pipe()
        let out = Pipe()
        let err = Pipe()
        p.standardInput = input
        p.standardOutput = out
        p.standardError = err
        let text = Mutex("")
        let errors = Mutex("")
        out.fileHandleForReading.readabilityHandler = { h in
            let d = h.availableData
            text.withLock { $0 += String(decoding: d, as: UTF8.self) }
        }
        err.fileHandleForReading.readabilityHandler = { h in
            let d = h.availableData
            errors.withLock { $0 += String(decoding: d, as: UTF8.self) }
        }
        try p.run()
        defer {
            if p.isRunning { p.terminate() }
            p.waitUntilExit()
            out.fileHandleForReading.readabilityHandler = nil
            err.fileHandleForReading.readabilityHandler = nil
        }
        func said() -> String { "stdout:\n\(text.withLock { $0 })\nstderr:\n\(errors.withLock { $0 })" }
        try waitFor("the console loaded in Chromium", timeout: 60, interval: 0.05) {
            guard p.isRunning || text.withLock({ $0.contains("LOADED") }) else {
                throw TestError.failed("the browser driver exited: \(said())")
            }
            return text.withLock { $0.contains("LOADED") }
        }
        lab.primaries[0].kill()
        input.fileHandleForWriting.write(Data("killed\n".utf8))
        try waitFor("the browser saw the switch", timeout: 60, interval: 0.05) {
            guard p.isRunning || text.withLock({ $0.contains("RESULT") }) else {
                throw TestError.failed("the browser driver exited: \(said())")
            }
            return text.withLock { $0.contains("RESULT") }
        }
        p.waitUntilExit()
        #expect(p.terminationStatus == 0, "\(said())")
        #expect(FileManager.default.fileExists(atPath: shot), "screenshot \(shot)")
        let all = text.withLock { $0 }
        for line in all.split(separator: "\n") where line.hasPrefix("LOADED") || line.hasPrefix("RESULT") {
            print("console browser: \(line)")
        }
        #expect(all.contains("\"service_ttl\": \"5s\""), "the standby's degraded TTL: \(all)")
    }
}
