import CSockets
import DequeModule
import FoundationEssentials
import Glibc
import HealthModel
import HeapModule
import NIOCore
import Synchronization

/// Every check's probe schedule, on one thread (`gtmd-probe`), with TCP connect checks done right there.
///
/// The thread sleeps in one `epoll_wait` until the earliest due probe, a finished connect or a command from
/// another thread; then it handles everything that is ready in one pass (probes due within 5 ms
/// share one wake-up). A TCP check of an IP address is a non-blocking connect in the thread's epoll set
/// (socket, connect, one writable event, `SO_ERROR`, close): no channel, no promise, no hop to another
/// thread. HTTP and HTTPS checks, and TCP checks of a host name, run on NIO (`Prober`), which posts the
/// result back. Results are recorded into the monitor on this thread: one writer.
///
/// The rules are the ones the monitor documents: a check's probes never overlap, the next starts at
/// `previous start + wait` (or when the previous ended, if later), at most `maxInFlight` are in flight
/// (more wait in line, first come first served), and a check whose loop token is gone stops.
final class ProbeScheduler: Sendable {
    /// What other threads hand the probe thread.
    enum Command: Sendable {
        case start([CheckKey])
        case result(ProbeLoop.Pending, ProbeResult)
    }

    private struct Inbox {
        var commands: [Command] = []
        var stopping = false
        /// The thread must end (or has): set when it takes the stop, or by `stop()` before it started.
        var ended = false
        /// Set by `launch`: the monitor the thread is started with, once there is a check to probe.
        var launch: HealthMonitor?
        var threadStarted = false
        /// The thread ran and returned, or never will (stopped before it started): `waitForEnd` returns.
        var finished = false
        /// The caller of `waitForEnd`, resumed when `finished` is set.
        var waiter: CheckedContinuation<Void, Never>?

        /// Marks the thread started when `launch` has been called, it has not, and a check waits; the caller
        /// starts it.
        mutating func shouldStartThread() -> HealthMonitor? {
            guard let launch, !threadStarted, !ended, !stopping, !commands.isEmpty else { return nil }
            threadStarted = true
            return launch
        }

        /// Marks the run finished; the waiter to resume, if one waits.
        mutating func finish() -> CheckedContinuation<Void, Never>? {
            finished = true
            defer { waiter = nil }
            return waiter
        }
    }

    private let inbox = Mutex(Inbox())
    /// The epoll set and its wake-up eventfd (-1 when they could not be made: then `run` ends at once).
    let poll: CInt
    let wake: CInt
    let setupError: String?
    let prober: Prober
    let maxInFlight: Int
    /// Probes in flight (read by other threads for status and tests).
    let inFlight = Atomic<Int>(0)

    static let wakeTag = UInt64.max

    init(prober: Prober, maxInFlight: Int) {
        self.prober = prober
        self.maxInFlight = max(1, maxInFlight)
        let ep = gtmd_poll_new()
        let w = ep >= 0 ? gtmd_poll_wake_new(ep, Self.wakeTag) : ep
        if ep < 0 || w < 0 {
            if ep >= 0 { _ = gtmd_close(ep) }
            setupError = String(cString: gtmd_strerror(-(ep < 0 ? ep : w)))
            poll = -1
            wake = -1
        } else {
            setupError = nil
            poll = ep
            wake = w
        }
    }

    deinit {
        if poll >= 0 {
            _ = gtmd_close(wake)
            _ = gtmd_close(poll)
        }
    }

    /// Hands the probe thread a command (starting the thread if this is the first check to probe); dropped
    /// once the thread has ended.
    func post(_ command: Command) {
        let (accepted, launch) = inbox.withLock { s -> (Bool, HealthMonitor?) in
            guard !s.ended else { return (false, nil) }
            s.commands.append(command)
            return (true, s.shouldStartThread())
        }
        if let monitor = launch {
            startThread(monitor: monitor)
        } else if accepted {
            _ = gtmd_poll_wake(wake)
        }
    }

    /// Asks the probe thread to end (probes in flight are dropped, their results ignored).
    func stop() {
        let (unstarted, waiter) = inbox.withLock { s -> (Bool, CheckedContinuation<Void, Never>?) in
            s.stopping = true
            guard !s.threadStarted, !s.ended else { return (false, nil) }
            s.ended = true
            return (true, s.finish())
        }
        if unstarted {
            waiter?.resume()
        } else if wake >= 0 {
            _ = gtmd_poll_wake(wake)
        }
    }

    /// Takes the commands waiting; nil when the thread must end (which it then records).
    func take() -> [Command]? {
        inbox.withLock { s in
            if s.stopping {
                s.ended = true
                s.commands = []
                return nil
            }
            defer { s.commands = [] }
            return s.commands
        }
    }

    /// Starts probing `keys`, and the checks posted later, until `stop()`: the thread starts now when there is a
    /// check to probe (a config without checks has none until one is posted). Once only; after `stop()` nothing
    /// starts. `waitForEnd()` waits for the thread.
    func launch(monitor: HealthMonitor, keys: [CheckKey]) {
        let start = inbox.withLock { s -> HealthMonitor? in
            guard !s.stopping, !s.ended, s.launch == nil else { return nil }
            s.launch = monitor
            if !keys.isEmpty { s.commands.insert(.start(keys), at: 0) }
            return s.shouldStartThread()
        }
        if let start { startThread(monitor: start) }
    }

    /// Returns when the probe thread has ended, or at once when it never will (stopped before it started);
    /// cancelling the caller stops it (`stop()`).
    func waitForEnd() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let now = inbox.withLock { s -> Bool in
                    if s.finished { return true }
                    s.waiter = c
                    return false
                }
                if now { c.resume() }
            }
        } onCancel: {
            stop()
        }
    }

    private func startThread(monitor: HealthMonitor) {
        /// The thread's work, handed through pthread_create's one pointer.
        final class Body: @unchecked Sendable {
            let run: () -> Void
            init(_ run: @escaping () -> Void) { self.run = run }
        }
        let arg = Unmanaged.passRetained(
            Body { [self] in
                _ = gtmd_set_thread_name("gtmd-probe")
                var loop = ProbeLoop(scheduler: self, monitor: monitor)
                loop.run()
                inbox.withLock { $0.finish() }?.resume()
            }
        ).toOpaque()
        var attr = pthread_attr_t()
        pthread_attr_init(&attr)
        defer { pthread_attr_destroy(&attr) }
        pthread_attr_setdetachstate(&attr, Int32(PTHREAD_CREATE_DETACHED))
        var thread = pthread_t()
        let rc = pthread_create(
            &thread,
            &attr,
            { raw in
                Unmanaged<Body>.fromOpaque(raw!).takeRetainedValue().run()
                return nil
            },
            arg
        )
        // Without its probe thread the server would answer from health it never measures: stop loudly instead.
        if rc != 0 {
            Unmanaged<Body>.fromOpaque(arg).release()
            fatalError("gtmd: cannot start the probe thread: \(String(cString: strerror(rc)))")
        }
    }
}

/// The probe thread's own state; touched by that thread only. A struct that the thread owns, so its fields are
/// reached without the run-time exclusivity checks of a class's stored properties (a tenth of its instructions
/// per probe as a class).
struct ProbeLoop {
    /// One probe started: what the result is recorded against (the check's plan is `plans[slot]`).
    struct Pending: Sendable {
        var slot: Int32
        var first: Bool
        /// `gtmd_monotonic_ns()` when it started.
        var start: Int64
    }

    /// A timer: a check's next probe, or the deadline of a connect in flight. Integers only (a check is named by
    /// its slot in `checks`, the time is nanoseconds on the loop's own scale), so the heap compares and moves them
    /// as plain words: with an enum payload and clock instants it went through the type's value witnesses, a
    /// quarter of the thread's instructions per probe.
    struct Due: Comparable {
        enum Kind: UInt8 {
            case probe, firstProbe, deadline
        }
        /// `gtmd_monotonic_ns()` when due.
        var at: Int64
        var seq: UInt64
        /// The check's slot (a probe) or the connect's (a deadline).
        var slot: Int32
        var serial: UInt32
        var kind: Kind

        static func < (a: Due, b: Due) -> Bool { a.at < b.at || (a.at == b.at && a.seq < b.seq) }
        static func == (a: Due, b: Due) -> Bool { a.seq == b.seq }
    }

    /// A connect (and for a plain HTTP check, its exchange) in flight, in slot `tag >> 32`; `serial` tells a
    /// slot's uses apart.
    struct Connect {
        var pending: Pending
        var fd: CInt
        var serial: UInt32
        var http: HTTPStatusExchange?
        /// An HTTP probe whose result is recorded: the rest of the response is read and dropped until the server
        /// closes (at most `drainLimit` bytes, until the probe's deadline), so the socket is not reset under a
        /// server still writing its body (which its log would show as an error per probe).
        var drained: Int?
    }

    static let drainLimit = 64 * 1024

    private let scheduler: ProbeScheduler
    private let monitor: HealthMonitor
    /// The spread of the checks' waits (`HealthMonitor.nextWait`): seeded once, no system call per probe.
    private var random = SplitMix64(seed: UInt64.random(in: .min ... .max))
    private var timers = Heap<Due>()
    private var seq: UInt64 = 0
    private var connects: [Connect?] = []
    /// Where an HTTP probe's response is read into, before it is appended to the exchange's.
    private var receive = [UInt8](repeating: 0, count: 4096)
    private var freeSlots: [Int] = []
    private var serial: UInt32 = 0
    /// The checks scheduled here, by slot; each is in exactly one place: the timers, `waiting`, or in flight.
    private var checks: [CheckKey?] = []
    /// The plan of the check in each slot, taken from the monitor when its probe is due (the token still
    /// current); what its result is recorded with.
    private var plans: [ProbePlan?] = []
    private var freeCheckSlots: [Int32] = []
    /// Slot by loop token (a token started twice runs once).
    private var slotOfToken: [UInt64: Int32] = [:]
    /// Checks due while `maxInFlight` probes were in flight, first come first served.
    private var waiting = Deque<(slot: Int32, first: Bool)>()
    private var inFlight = 0 {
        didSet { scheduler.inFlight.store(inFlight, ordering: .relaxed) }
    }
    /// Set while `finished` starts waiting checks (a probe that fails at once ends inside that loop).
    private var draining = false

    init(scheduler: ProbeScheduler, monitor: HealthMonitor) {
        self.scheduler = scheduler
        self.monitor = monitor
    }

    /// Until the scheduler is stopped: commands, due timers, then one wait for the next of either or a connect.
    mutating func run() {
        guard scheduler.poll >= 0 else {
            monitor.probeThreadFailed(scheduler.setupError ?? "unknown error")
            scheduler.stop()
            _ = scheduler.take()
            return
        }
        var tags = [UInt64](repeating: 0, count: 64)
        // Closures below take plain values, not `self`: a closure that reads a field of `self` gets a copy of the
        // whole loop (a retain of each of its arrays).
        let poll = scheduler.poll
        while let commands = scheduler.take() {
            for c in commands {
                switch c {
                case .start(let keys): start(keys)
                case .result(let p, let r): finished(p, r)
                }
            }
            fireDue()
            let wait = waitMilliseconds()
            let n = tags.withUnsafeMutableBufferPointer { buf in
                gtmd_poll_wait(poll, buf.baseAddress, 64, wait)
            }
            if n < 0 {  // not a signal: the epoll set itself is broken, waiting again would spin
                monitor.probeThreadFailed("epoll_wait: \(String(cString: gtmd_strerror(-n)))")
                scheduler.stop()
                continue
            }
            for i in 0..<Int(n) {
                // Between two probes' work the core goes to whoever waits for it (a DNS thread woken by a
                // query): otherwise a pass over many ready probes runs to the end of the scheduler's slice.
                if i > 0 { sched_yield() }
                if tags[i] == ProbeScheduler.wakeTag {
                    gtmd_poll_wake_drain(scheduler.wake)
                } else {
                    ready(tag: tags[i])
                }
            }
        }
        for case let c? in connects { gtmd_connect_close(c.fd) }
        connects = []
        inFlight = 0
    }

    /// Milliseconds until the earliest timer (rounded up, so a wake-up never comes early); -1: none.
    private func waitMilliseconds() -> CInt {
        guard let next = timers.min else { return -1 }
        let left = next.at - gtmd_monotonic_ns()
        if left <= 0 { return 0 }
        return CInt(clamping: left / 1_000_000 + (left % 1_000_000 == 0 ? 0 : 1))
    }

    private mutating func schedule(_ kind: Due.Kind, slot: Int32, serial: UInt32 = 0, at: Int64) {
        seq &+= 1
        timers.insert(Due(at: at, seq: seq, slot: slot, serial: serial, kind: kind))
    }

    private mutating func start(_ keys: [CheckKey]) {
        let now = gtmd_monotonic_ns()
        for k in keys where slotOfToken[k.token] == nil {
            let slot = freeCheckSlots.popLast() ?? Int32(checks.count)
            if slot == checks.count {
                checks.append(nil)
                plans.append(nil)
            }
            checks[Int(slot)] = k
            slotOfToken[k.token] = slot
            schedule(.firstProbe, slot: slot, at: now)
        }
    }

    /// The check in `slot` stopped (replaced or removed).
    private mutating func release(_ slot: Int32) {
        guard let k = checks[Int(slot)] else { return }
        slotOfToken[k.token] = nil
        checks[Int(slot)] = nil
        plans[Int(slot)] = nil
        freeCheckSlots.append(slot)
    }

    /// Starts the probes due within `slack` from now and ends the connects whose deadline has passed. Probes up
    /// to `slack` (5 ms) early share one wake-up of the thread with the ones due now; a connect's deadline is never
    /// early.
    private mutating func fireDue() {
        let now = gtmd_monotonic_ns()
        var notYet: [Due] = []
        var worked = false
        while let t = timers.min, t.at <= now + Self.slack {
            _ = timers.removeMin()
            if t.kind == .deadline {
                if t.at > now {
                    notYet.append(t)
                    continue
                }
                // Most probes end long before their deadline, which then finds nothing to do: no yield for it.
                guard current(slot: Int(t.slot), serial: t.serial) != nil else { continue }
            }
            if worked { sched_yield() }  // between two probes' work, as between ready probes (`run`)
            worked = true
            switch t.kind {
            case .probe, .firstProbe: due(t.slot, first: t.kind == .firstProbe)
            case .deadline: expired(slot: Int(t.slot), serial: t.serial)
            }
        }
        for t in notYet { timers.insert(t) }
    }

    /// How early (in nanoseconds) a probe may start to share a wake-up. Since the thread yields the core between two
    /// probes' work, the probes of one pass no longer run back to back ahead of a waiting DNS thread (with 10 ms and
    /// no yields, p99 at 50k qps was 3.1× gdnsd's); what a wider window saves is the thread's sleeps and wake-ups.
    /// 5 ms against 1 ms (bench/README.md, "The CPU of health probing", session 18): 38 against 47 µs of server CPU
    /// a probe without DNS load, 33 against 40 µs with it, p99 and p99.9 at 50k qps within the rounds' noise.
    /// A probe starts at most 5 ms early: 5 % of the shortest fast interval (100 ms).
    static let slack: Int64 = 5_000_000

    /// A check's probe is due: start it now, or queue it behind the in-flight limit.
    private mutating func due(_ slot: Int32, first: Bool) {
        guard let key = checks[Int(slot)], let plan = monitor.probePlan(key) else {
            release(slot)
            return
        }
        guard inFlight < scheduler.maxInFlight else {
            waiting.append((slot, first))
            return
        }
        plans[Int(slot)] = plan
        let pending = Pending(slot: slot, first: first, start: gtmd_monotonic_ns())
        switch plan.way {
        case .invalid(let reason):
            record(pending, ProbeResult(ok: false, reason: reason, latency: .zero))
        case .connect:
            inFlight += 1
            connect(pending, plan, http: nil)
        case .httpStatus(let exchange):
            inFlight += 1
            connect(pending, plan, http: exchange)
        case .nio(let check):
            inFlight += 1
            let scheduler = self.scheduler
            scheduler.prober.start(check) { result in scheduler.post(.result(pending, result)) }
        }
    }

    private mutating func connect(_ pending: Pending, _ plan: ProbePlan, http: HTTPStatusExchange?) {
        let slot = freeSlots.popLast() ?? connects.count
        if slot == connects.count { connects.append(nil) }
        serial &+= 1
        let tag = UInt64(slot) << 32 | UInt64(serial)
        var isConnected: CInt = 0
        let poll = scheduler.poll
        let fd = plan.sockaddr.withUnsafeBytes { sa in
            gtmd_connect_start(poll, sa.baseAddress, UInt32(sa.count), tag, &isConnected)
        }
        if fd < 0 || (isConnected != 0 && http == nil) {
            freeSlots.append(slot)
            if fd >= 0 { gtmd_connect_close(fd) }
            let ok = fd >= 0
            finished(pending, result(pending, ok: ok, reason: ok ? "connected" : errnoReason(-fd)))
            return
        }
        connects[slot] = Connect(pending: pending, fd: fd, serial: serial, http: http)
        schedule(.deadline, slot: Int32(slot), serial: serial, at: pending.start + plan.timeout)
        if isConnected != 0 { exchange(slot: slot, tag: tag, connected: true) }
    }

    /// The socket of the probe tagged `tag` is ready: its connect ended, or (HTTP) it can take more of the
    /// request or has more of the response.
    private mutating func ready(tag: UInt64) {
        let slot = Int(tag >> 32)
        guard let c = current(slot: slot, serial: UInt32(truncatingIfNeeded: tag)) else { return }
        if c.drained != nil {
            drain(slot: slot, tag: tag)
            return
        }
        if c.http != nil {
            exchange(slot: slot, tag: tag, connected: false)
            return
        }
        let rc = gtmd_connect_error(c.fd)
        end(slot, ok: rc == 0, reason: rc == 0 ? "connected" : errnoReason(-rc))
    }

    /// Moves a plain HTTP probe on: the connect's outcome, the request, the response; ends it with the status
    /// once the header block is in, or waits for the socket again.
    private mutating func exchange(slot: Int, tag: UInt64, connected: Bool) {
        guard var c = connects[slot], var http = c.http else { return }
        if !http.connected {
            let rc = connected ? 0 : gtmd_connect_error(c.fd)
            guard rc == 0 else { return end(slot, ok: false, reason: errnoReason(-rc)) }
            http.connected = true
        }
        while http.sent < http.request.count {
            let n = http.request.withUnsafeBytes { b in
                gtmd_stream_send(c.fd, b.baseAddress! + http.sent, b.count - http.sent)
            }
            if n < 0 { return end(slot, ok: false, reason: errnoReason(CInt(-n))) }
            if n == 0 {
                c.http = http
                connects[slot] = c
                return rearm(slot, tag: tag, readable: false)
            }
            http.sent += n
        }
        var ended = false
        var verdict = http.verdict
        while verdict == nil, http.response.count <= HTTPStatusExchange.maxHeaderBytes {
            let n = receive.withUnsafeMutableBytes { gtmd_stream_recv(c.fd, $0.baseAddress, $0.count) }
            if n == GTMD_STREAM_EOF {
                ended = true
                break
            }
            if n < 0 { return end(slot, ok: false, reason: errnoReason(CInt(-n))) }
            if n == 0 { break }
            http.response.append(contentsOf: receive[..<n])
            verdict = http.verdict
        }
        switch verdict {
        case .status(let code):
            let ok = http.expect.contains(code)
            if ended { return end(slot, ok: ok, reason: HTTPStatusExchange.reason(code), statusCode: code) }
            // The verdict is in; the socket stays until the server has sent the rest and closed.
            var r = result(c.pending, ok: ok, reason: HTTPStatusExchange.reason(code))
            r.statusCode = code
            c.http = nil
            c.drained = 0
            connects[slot] = c
            finished(c.pending, r)
            rearm(slot, tag: tag, readable: true)
        case .invalid(let what):
            end(slot, ok: false, reason: "invalid http response (\(what))")
        case nil where ended:
            end(slot, ok: false, reason: "connection closed before response")
        case nil:
            c.http = http
            connects[slot] = c
            rearm(slot, tag: tag, readable: true)
        }
    }

    private mutating func rearm(_ slot: Int, tag: UInt64, readable: Bool) {
        guard let c = connects[slot] else { return }
        let rc = gtmd_poll_rearm(scheduler.poll, c.fd, tag, readable ? 1 : 0)
        guard rc < 0 else { return }
        guard c.drained == nil else {
            closeSlot(slot)
            return
        }
        end(slot, ok: false, reason: "epoll: \(errnoReason(-rc))")
    }

    /// Reads and drops what a server still sends after the verdict; closes at its end, an error, or the limit.
    private mutating func drain(slot: Int, tag: UInt64) {
        guard var c = connects[slot], var drained = c.drained else { return }
        while drained <= Self.drainLimit {
            let n = receive.withUnsafeMutableBytes { gtmd_stream_recv(c.fd, $0.baseAddress, $0.count) }
            if n == 0 {
                c.drained = drained
                connects[slot] = c
                return rearm(slot, tag: tag, readable: true)
            }
            guard n > 0 else { break }  // the end of the stream, or an error
            drained += n
        }
        closeSlot(slot)
    }

    /// The probe `serial` in `slot` while it is in flight; nil once it has ended (the slot free or used again).
    private func current(slot: Int, serial: UInt32) -> Connect? {
        guard slot < connects.count, let c = connects[slot], c.serial == serial else { return nil }
        return c
    }

    /// Closes the socket in `slot` and frees the slot; returns what was there.
    @discardableResult
    private mutating func closeSlot(_ slot: Int) -> Connect? {
        guard let c = connects[slot] else { return nil }
        connects[slot] = nil
        freeSlots.append(slot)
        gtmd_connect_close(c.fd)
        return c
    }

    /// Ends the probe in `slot`: closes its socket and records the result.
    private mutating func end(_ slot: Int, ok: Bool, reason: String, statusCode: Int? = nil) {
        guard let c = closeSlot(slot) else { return }
        var r = result(c.pending, ok: ok, reason: reason)
        r.statusCode = statusCode
        finished(c.pending, r)
    }

    private mutating func expired(slot: Int, serial: UInt32) {
        guard let c = current(slot: slot, serial: serial) else { return }
        guard c.drained == nil else {
            closeSlot(slot)
            return
        }
        let waiting = c.http?.connected == true
        end(slot, ok: false, reason: waiting ? "timeout (waiting for response)" : "timeout (connect)")
    }

    private func result(_ p: Pending, ok: Bool, reason: String) -> ProbeResult {
        ProbeResult(ok: ok, reason: reason, latency: .nanoseconds(gtmd_monotonic_ns() - p.start))
    }

    /// A probe that was in flight ended.
    private mutating func finished(_ p: Pending, _ r: ProbeResult) {
        inFlight -= 1
        record(p, r)
        guard !draining else { return }
        draining = true
        defer { draining = false }
        while inFlight < scheduler.maxInFlight, let w = waiting.popFirst() {
            due(w.slot, first: w.first)
        }
    }

    private mutating func record(_ p: Pending, _ r: ProbeResult) {
        guard let key = checks[Int(p.slot)], let plan = plans[Int(p.slot)],
            let inDoubt = monitor.record(key, result: r)
        else {
            release(p.slot)
            return
        }
        let wait = monitor.nextWait(plan, inDoubt: inDoubt, first: p.first, using: &random)
        schedule(.probe, slot: p.slot, at: max(p.start + wait, gtmd_monotonic_ns()))
    }
}
