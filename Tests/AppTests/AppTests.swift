import DNSWire
import Foundation
import Logging
import Synchronization
import Testing

@testable import App

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

@Suite struct LogQuoting {
    /// A value with a space, `"` or `=` is quoted, with `\\` and `"` escaped inside; others are left as they are.
    @Test func quotedWhereAParserNeedsIt() {
        #expect(GtmdLogHandler.quote("primary") == "primary")
        #expect(GtmdLogHandler.quote("") == "\"\"")
        #expect(GtmdLogHandler.quote("a b") == "\"a b\"")
        #expect(GtmdLogHandler.quote("k=v") == "\"k=v\"")
        #expect(GtmdLogHandler.quote(#"say "hi" \ bye"#) == #""say \"hi\" \\ bye""#)
        #expect(GtmdLogHandler.quote("a\\b") == "a\\b")
        #expect(GtmdLogHandler.quote("région é") == "\"région é\"")
    }
}

@Suite struct LogTimestamp {
    /// The terminal format's time is Foundation's ISO 8601 text, made without Foundation's formatter.
    @Test(arguments: [0, 1, 59, 951_782_400, 1_796_010_162, 2_147_483_647, 4_102_444_799, 253_402_300_799])
    func sameAsFoundation(_ seconds: Int) {
        let foundation = Date(timeIntervalSince1970: TimeInterval(seconds)).formatted(.iso8601)
        #expect(GtmdLogHandler.timestamp(time_t(seconds)) == foundation)
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
