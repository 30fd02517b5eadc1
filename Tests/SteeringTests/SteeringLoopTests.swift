import Answers
import Config
import Foundation
import Logging
import Policy
import Synchronization
import TestSupport
import Testing

@testable import Steering

/// The writer as a running loop: inputs from several tasks at once, answered after their table is installed.
@Suite struct SteeringLoopTests {
    /// Runs the loop for the duration of `body`.
    func running(_ loop: SteeringLoop, _ body: () async throws -> Void) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await loop.loop() }
            defer { group.cancelAll() }
            try await body()
        }
    }

    @Test func anOverrideIsInForceWhenApplyReturns() async throws {
        let lab = try SteeringLab()
        // A long coalescing window: it must not delay operator actions.
        let loop = try lab.loop(SteeringOptions(coalesceWindow: .seconds(10)))
        try await running(loop) {
            #expect(await loop.apply(.health(bothUp)).installed)  // the first snapshot publishes at once
            #expect(lab.answer == ["192.0.2.1/30"])
            let down = Override(scope: .pool, target: "primary", action: .down, setAt: Date())
            for _ in 0..<20 {
                let set = await loop.apply(.override(.set(down)))
                #expect(set.installed && set.problem == nil)
                #expect(lab.answer == ["192.0.2.2/5"])
                #expect(lab.generation == set.generation)
                let cleared = await loop.apply(.override(.clear(scope: .pool, target: "primary")))
                #expect(cleared.cleared == 1 && cleared.installed)
                #expect(lab.answer == ["192.0.2.1/30"])
            }
            #expect(loop.view.generation == 41)
        }
        #expect(try StateFile.read(lab.stateFile).overrides.isEmpty)
    }

    /// With `startWorkWaitsForServing` the first table's save and the saved history's decoding wait for
    /// `serving()`; readers of the history wait for it, then see the saved events before this start's.
    @Test func startWorkWaitsUntilTheServerServes() async throws {
        let lab = try SteeringLab()
        let before = try lab.core()
        before.step(.health(bothUp), at: Date())
        before.flushEvents()
        let savedCount = before.events.events.count
        let savedAt = try #require(StateFile.version(lab.stateFile))
        let loop = try lab.loop(SteeringOptions(coalesceWindow: .zero, startWorkWaitsForServing: true))
        try await running(loop) {
            #expect(await loop.apply(.health(bothUp)).installed)
            // Answered, not serving yet: the history is not in the view, the file not written.
            #expect(loop.view.events.events.map(\.action) == ["start"], "\(loop.view.events.events)")
            #expect(StateFile.version(lab.stateFile) == savedAt)
            // The compiled zones' compaction waits as well.
            #expect(loop.compactionPending)
            // A blocking reader, as the control API's are: on a thread of its own, not the cooperative pool's.
            let waiting = Task { await onOwnThread { loop.viewWithHistory(timeout: .seconds(30)).events.events.count } }
            loop.serving()
            #expect(await waiting.value == savedCount + 1)
            #expect(loop.view.events.events.map(\.seq) == Array(1...UInt64(savedCount + 1)))
            try await eventually("the first table's save", timeout: 10) {
                (try? StateFile.read(lab.stateFile).events.count) == savedCount + 1
            }
            #expect(!loop.compactionPending)
        }
    }

    @Test func healthChangesWithinTheWindowGiveOneSwap() async throws {
        let lab = try SteeringLab()
        let loop = try lab.loop(SteeringOptions(coalesceWindow: .seconds(1)))
        try await running(loop) {
            _ = await loop.apply(.health(bothUp))
            let g = lab.generation
            // A burst: down, up, down ... ending down. Submitted within microseconds, far inside the 1 s window.
            for i in 0..<9 { loop.submit(.health(i % 2 == 0 ? primaryDown : bothUp)) }
            // The table goes into force before its switch is logged (on the writer's thread): wait for both.
            try await eventually("the burst is published and logged", timeout: 60) {
                lab.answer == ["192.0.2.2/5"] && !lab.log.matching("notice failover switch").isEmpty
            }
            #expect(lab.generation == g + 1)
            #expect(lab.log.matching("notice failover switch").count == 1)
        }
    }

    @Test func withAZeroWindowEachChangePublishes() async throws {
        let lab = try SteeringLab()
        let loop = try lab.loop(SteeringOptions(coalesceWindow: .zero))
        try await running(loop) {
            _ = await loop.apply(.health(bothUp))
            for i in 0..<10 {
                let o = await loop.apply(.health(i % 2 == 0 ? primaryDown : bothUp))
                #expect(o.installed && o.generation == UInt64(i + 2))
                #expect(lab.answer == [i % 2 == 0 ? "192.0.2.2/5" : "192.0.2.1/30"])
            }
        }
    }

    @Test func aDueTimerWakesTheLoop() async throws {
        let lab = try SteeringLab()
        let loop = try lab.loop(SteeringOptions(coalesceWindow: .zero))
        try await running(loop) {
            _ = await loop.apply(.health(bothUp))
            let o = Override(scope: .pool, target: "primary", action: .down, until: Date() + 0.3, setAt: Date())
            _ = await loop.apply(.override(.set(o)))
            #expect(lab.answer == ["192.0.2.2/5"])
            // Nobody submits anything: the expiry itself brings the primary back.
            try await eventually("the override expires", timeout: 60) { lab.answer == ["192.0.2.1/30"] }
        }
    }

    /// A change another process makes to the state file is taken in when the file's watch reports it: the timer
    /// is an hour here, so only the watch can bring it.
    @Test func aChangeToTheStateFileIsTakenInFromItsWatch() async throws {
        let lab = try SteeringLab()
        let prepared = try lab.prepared()
        let loop = try lab.loop(
            SteeringOptions(coalesceWindow: .zero, stateFileCheck: .seconds(3600)),
            prepared: prepared
        )
        try await running(loop) {
            _ = await loop.apply(.health(bothUp))
            #expect(lab.answer == ["192.0.2.1/30"])
            for round in 0..<3 {
                // The loop's own saves (the step above, each switch's service state) are not taken for edits.
                try OverrideStore.set(
                    Override(scope: .pool, target: "primary", action: .down, setAt: Date()),
                    stateFile: lab.stateFile
                )
                try await eventually("round \(round): the edit is in force", timeout: 30) {
                    lab.answer == ["192.0.2.2/5"]
                }
                _ = try OverrideStore.clear(
                    scope: "pool",
                    target: "primary",
                    config: prepared.config,
                    stateFile: lab.stateFile
                )
                try await eventually("round \(round): the clearing is in force", timeout: 30) {
                    lab.answer == ["192.0.2.1/30"]
                }
            }
            #expect(lab.log.matching("notice override in force", "pool primary down").count == 3)
            #expect(lab.log.matching("state file not watched").isEmpty, "\(lab.log.all)")
        }
    }

    /// Without a watch (its folder is missing at start) the loop says so and looks at the file on its timer; a
    /// watch that ends (the folder removed) is reported, and the timer takes over as well.
    @Test func withoutAWatchTheTimerLooksAtTheStateFile() async throws {
        for folderAtStart in [false, true] {
            let lab = try SteeringLab()
            let folder = lab.dir.appendingPathComponent("state")
            if folderAtStart { try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true) }
            let stateFile = folder.appendingPathComponent("state.json").path
            let loop = try lab.loop(
                SteeringOptions(coalesceWindow: .zero, stateFileCheck: .milliseconds(50)),
                stateFile: stateFile
            )
            try await running(loop) {
                _ = await loop.apply(.health(bothUp))
                if folderAtStart {
                    // The loop's first save wrote the file and its lock; all go, then the folder.
                    for name in try FileManager.default.contentsOfDirectory(atPath: folder.path) {
                        try FileManager.default.removeItem(at: folder.appendingPathComponent(name))
                    }
                    try FileManager.default.removeItem(at: folder)
                    try await eventually("the lost watch is reported", timeout: 30) {
                        !lab.log.matching("warning state file no longer watched", "removed or moved").isEmpty
                    }
                } else {
                    #expect(!lab.log.matching("warning state file not watched", "50ms").isEmpty, "\(lab.log.all)")
                }
                try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
                try OverrideStore.set(
                    Override(scope: .pool, target: "primary", action: .down, setAt: Date()),
                    stateFile: stateFile
                )
                try await eventually("folder at start \(folderAtStart): the edit is in force", timeout: 30) {
                    lab.answer == ["192.0.2.2/5"]
                }
            }
        }
    }

    /// New events alone are saved one `eventSaveInterval` after the last write, with no timer ticking meanwhile:
    /// the loop wakes for the save itself.
    @Test func newEventsAreSavedWithoutATick() async throws {
        let lab = try SteeringLab()
        let loop = try lab.loop(SteeringOptions(coalesceWindow: .zero, stateFileCheck: .seconds(3600)))
        try await running(loop) {
            _ = await loop.apply(.health(bothUp))
            // The first table's save comes right after its step has answered.
            try await eventually("the first save", timeout: 30) {
                ((try? StateFile.read(lab.stateFile).events.count) ?? 0) > 0
            }
            let saved = try StateFile.read(lab.stateFile).events.count
            // A failed reload changes no table and no service state: only its event waits to be saved.
            loop.submit(.reloadFailed(["config.yaml:1: a test"]))
            try await eventually("the reload's event is saved", timeout: 30) {
                (try? StateFile.read(lab.stateFile).events.count) == saved + 1
            }
        }
    }

    /// A reload and a health change at the same moment, 1,000 times: the table in force never goes back to an
    /// older generation or an older config (each reload's TTL is its sequence number).
    @Test func overlappingReloadsAndHealthNeverInstallAnOlderTable() async throws {
        let lab = try SteeringLab()
        let base = try lab.prepared()
        let loop = SteeringLoop(
            prepared: base,
            store: lab.store,
            stateFile: lab.stateFile,
            options: SteeringOptions(coalesceWindow: .zero),
            logger: lab.log.logger(level: .warning)
        )
        let rounds = 1000
        let versions = (1...rounds).map { i -> Prepared in
            var p = base
            p.config.services[0].ttl = UInt32(100 + i)
            p.config.services[0].degradedTTL = UInt32(100 + i)
            return p
        }
        final class Reader: Sendable {
            let stop = Atomic<Bool>(false)
            let regressions = Mutex<[String]>([])
            let samples = Atomic<Int>(0)
        }
        let shared = Reader()
        // A reader on its own thread, like a UDP worker: takes the table again and again.
        let reader = Thread {
            var last: (generation: UInt64, ttl: UInt32) = (0, 0)
            var n = 0
            while !shared.stop.load(ordering: .acquiring) && n < 50_000_000 {
                n += 1
                let t = lab.store.current()
                let ttl = TableQuery.answers(t, "www.lab.example").first?.ttl ?? 0
                if t.generation < last.generation || (t.generation > last.generation && ttl < last.ttl) {
                    shared.regressions.withLock {
                        $0.append("gen \(last.generation) ttl \(last.ttl) -> gen \(t.generation) ttl \(ttl)")
                    }
                }
                if t.generation >= last.generation { last = (t.generation, ttl) }
                shared.samples.wrappingAdd(1, ordering: .relaxed)
                usleep(100)  // a sample every ~0.1 ms, without spinning a core
            }
        }
        reader.start()
        try await running(loop) {
            _ = await loop.apply(.health(bothUp))
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    for v in versions { _ = await loop.apply(.reload(v)) }
                }
                group.addTask {
                    for i in 0..<rounds { _ = await loop.apply(.health(i % 2 == 0 ? primaryDown : bothUp)) }
                }
            }
        }
        shared.stop.store(true, ordering: .releasing)
        try await eventually("reader stopped", timeout: 60) { reader.isFinished }
        #expect(shared.regressions.withLock { $0 }.isEmpty, "\(shared.regressions.withLock { $0.prefix(5) })")
        #expect(shared.samples.load(ordering: .relaxed) > 0)
        // The last reload is in force, and every install was counted once.
        #expect(TableQuery.answers(lab.store.current(), "www.lab.example").first?.ttl == UInt32(100 + rounds))
        #expect(lab.generation == loop.view.generation && lab.generation > UInt64(rounds))
    }
}
