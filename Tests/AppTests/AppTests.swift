import App
import Foundation
import Logging
import Synchronization
import Testing

final class Lines: Sendable {
    let value = Mutex<[String]>([])
    func append(_ s: String) { value.withLock { $0.append(s) } }
    var all: [String] { value.withLock { $0 } }
}

@Suite struct LogFormat {
    @Test(arguments: [
        (true, "<5>notice failover switch from=primary reason=\"primary unavailable\" to=standby\n"),
        (false, "notice failover switch from=primary reason=\"primary unavailable\" to=standby\n"),
    ])
    func journalAndTerminal(_ journal: Bool, _ expected: String) {
        let lines = Lines()
        let logger = Logger(label: "t") { _ in
            GtmdLogHandler(level: .info, journal: journal, sink: { lines.append($0) })
        }
        logger.notice(
            "failover switch",
            metadata: ["to": "standby", "from": "primary", "reason": "primary unavailable"]
        )
        logger.debug("not shown at info")
        #expect(lines.all.count == 1)
        if journal {
            #expect(lines.all.first == expected)
        } else {
            #expect(lines.all.first?.hasSuffix(expected) == true)
        }
    }
}

@Suite struct Notify {
    @Test func watchdogOnlyForThisProcess() {
        #expect(SystemdNotifier(environment: [:]).isActive == false)
        #expect(SystemdNotifier(environment: ["NOTIFY_SOCKET": "/run/x"]).watchdogInterval == nil)
        let mine = SystemdNotifier(environment: [
            "NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "2000000",
            "WATCHDOG_PID": String(getpid()),
        ])
        #expect(mine.watchdogInterval == .seconds(1))
        let other = SystemdNotifier(environment: [
            "NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "1",
        ])
        #expect(other.watchdogInterval == nil)
    }
}
