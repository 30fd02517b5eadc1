import Config
import FoundationEssentials
import Logging
import Synchronization

/// A node's own verdict on one target (from its local probes, after rise/fall).
public struct LocalVerdict: Sendable, Hashable {
    public var up: Bool
    public var reason: String
    public init(up: Bool, reason: String) {
        self.up = up
        self.reason = reason
    }
}

/// Whether the node decides with the fleet, and why not.
public enum FleetMode: String, Sendable, Hashable {
    /// Store reachable and read: fleet verdicts.
    case fleet
    /// Store lost, `on_store_loss: local`: own probes.
    case local
    /// Store lost, `on_store_loss: freeze`: the last fleet decision.
    case frozen
}

/// Counters and figures for /status and /metrics.
public struct FleetStatus: Sendable, Equatable {
    public var connected = false
    /// A full read done since the last (re)connection.
    public var synced = false
    public var mode: FleetMode = .local
    public var since = Date()
    public var lastError: String? = nil
    public var lease: Int64? = nil
    public var endpoint: String? = nil
    /// Seconds between an observation's write (its `at`) and this node receiving it through the watch (latest).
    public var watchLagSeconds: Double? = nil
    /// Writes to the store by kind: observation, member, override, keepalive, lease.
    public var writes: [String: Int] = [:]
    public var storeLosses = 0
}

/// One gtmd node in a fleet: registers itself under a lease, writes its own verdicts on transitions,
/// reads and watches everything under `/gtmd/<name>/`, and hands out the fleet verdict per target.
/// Losing the store never blocks a caller: every accessor reads local state; only `run` waits on etcd.
public final class FleetNode: Sendable {
    public let settings: FleetSettings
    public let keys: FleetKeys
    let client: EtcdClient
    let cache: FleetCache?
    let logger: Logger
    let onChange: @Sendable () -> Void
    let started = Date()
    let version: String
    /// Serialises cache writes (the session, the watch and the control loop may all save).
    private let cacheLock = Mutex(())

    struct State {
        var view = FleetView()
        var status = FleetStatus()
        /// What this node last stored per target (to write on transitions only).
        var written: [String: LocalVerdict] = [:]
        /// The latest local verdicts handed in.
        var local: [String: LocalVerdict] = [:]
        /// The last fleet decision per target (kept for `freeze`).
        var lastFleet: [String: Bool] = [:]
        /// The shared overrides are known: read from the store, or from the cache.
        var overridesKnown = false
        /// When the store stopped answering a connected node (nil: it answers).
        var failingSince: Date? = nil
        /// Wakes the current session's writer.
        var kick: AsyncStream<Void>.Continuation? = nil
    }
    private let state: Mutex<State>

    /// `onChange` is called (from the fleet's own task) whenever the verdicts, overrides or mode may have changed.
    public init(
        settings: FleetSettings,
        options: EtcdOptions,
        cacheFile: String?,
        version: String = "",
        logger: Logger,
        onChange: @escaping @Sendable () -> Void
    ) throws {
        self.settings = settings
        self.keys = FleetKeys(name: settings.name)
        self.client = try EtcdClient(options: options, logger: logger)
        self.cache = cacheFile.map(FleetCache.init(path:))
        self.logger = logger
        self.onChange = onChange
        self.version = version
        var s = State()
        s.status.mode = settings.onStoreLoss == .freeze ? .frozen : .local
        if let c = cache?.load() {
            s.view.overrides = c.overrides
            s.lastFleet = c.verdicts
            s.overridesKnown = true
            if !c.overrides.isEmpty || !c.verdicts.isEmpty {
                logger.notice(
                    "fleet: cached state loaded",
                    metadata: [
                        "fleet.cache": "\(cacheFile ?? "")", "overrides": "\(c.overrides.count)",
                        "verdicts": "\(c.verdicts.count)",
                    ]
                )
            }
        }
        state = Mutex(s)
    }

    /// Builds the etcd options from the `fleet:` settings.
    public static func options(_ s: FleetSettings) -> EtcdOptions {
        var o = EtcdOptions(endpoints: s.endpoints)
        o.requestTimeout = s.requestTimeout
        o.caFile = s.caFile
        o.certFile = s.certFile
        o.keyFile = s.keyFile
        o.usernameFile = s.usernameFile
        o.passwordFile = s.passwordFile
        return o
    }

    // MARK: - Reading (never waits on the store)

    public var view: FleetView { state.withLock { $0.view } }
    public var status: FleetStatus { state.withLock { $0.status } }
    /// The shared overrides as stored (id → JSON); while the store is lost, the last known (or cached) ones.
    public var overrides: [String: Data] { state.withLock { $0.view.overrides } }
    /// The shared overrides, or nil while they are unknown (never read from the store, no cache): the caller
    /// then keeps its own (its state file).
    public var sharedOverrides: [String: Data]? { state.withLock { $0.overridesKnown ? $0.view.overrides : nil } }

    /// The fleet's decision per target, as the answers should use it: in fleet mode the quorum over every live
    /// vantage (this node's latest own verdicts included), frozen: the last such decision, local: none.
    public func sharedVerdicts() -> [String: Bool] {
        var remembered = false
        defer { if remembered { saveCache() } }
        return state.withLock { s in
            switch s.status.mode {
            case .fleet:
                let fleet = s.view.verdicts(
                    quorum: settings.quorum,
                    overlay: (settings.node, settings.vantage, s.local.mapValues(\.up))
                )
                for (t, up) in fleet where s.lastFleet[t] != up {
                    s.lastFleet[t] = up
                    remembered = true
                }
                return fleet
            case .frozen: return s.lastFleet
            case .local: return [:]
            }
        }
    }

    /// Waits (at most `timeout`) until the first session with the store has either read the fleet or failed,
    /// so a starting node publishes its first answers with the fleet's verdicts rather than only its own.
    public func waitForFirstSync(timeout: Duration) async {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let s = status
            if s.synced || s.lastError != nil { return }
            do { try await Task.sleep(for: .milliseconds(10)) } catch { return }
        }
    }

    /// Hands in the node's own verdicts; changed ones are written to the store (transitions only).
    /// A change of the node's own verdicts may change the fleet decision at once (they count as one vantage's):
    /// `onChange` is called then.
    public func report(_ verdicts: [String: LocalVerdict]) {
        let (kick, ownChanged) = state.withLock { s -> (AsyncStream<Void>.Continuation?, Bool) in
            let ownChanged = s.local.mapValues(\.up) != verdicts.mapValues(\.up)
            s.local = verdicts
            let changed = verdicts.contains { s.written[$0.key]?.up != $0.value.up }
            return (changed ? s.kick : nil, ownChanged)
        }
        kick?.yield()
        if ownChanged { onChange() }
    }

    /// The health to decide with: the fleet verdict where the fleet has one, the node's own elsewhere;
    /// while the store is lost, per `on_store_loss`.
    public func effectiveHealth(local: [String: Bool]) -> [String: Bool] {
        var remembered = false
        defer { if remembered { saveCache() } }
        return state.withLock { s in
            switch s.status.mode {
            case .fleet:
                let fleet = s.view.verdicts(
                    quorum: settings.quorum,
                    overlay: (settings.node, settings.vantage, local)
                )
                var out = local
                for (t, up) in fleet where out[t] != nil {
                    out[t] = up
                    if s.lastFleet[t] != up {
                        s.lastFleet[t] = up
                        remembered = true
                    }
                }
                return out
            case .frozen:
                var out = local
                for (t, up) in s.lastFleet where out[t] != nil { out[t] = up }
                return out
            case .local:
                return local
            }
        }
    }

    /// Per target: each vantage's verdict (for status and metrics).
    public func vantageVerdicts() -> [String: [String: Bool]] {
        let (view, local) = state.withLock { ($0.view, $0.local) }
        var vantageOf = view.vantages
        vantageOf[settings.node] = settings.vantage
        return view.observationsByTarget(overlay: (settings.node, local.mapValues(\.up))).mapValues {
            FleetDecision.vantageVerdicts(observations: $0, vantageOf: vantageOf)
        }
    }

    // MARK: - Shared overrides

    /// Stores an override for the whole fleet (id `scope/target`). Throws when the store is unreachable.
    public func setOverride(id: String, value: Data) async throws {
        let parts = id.split(separator: "/", maxSplits: 1).map(String.init)
        guard parts.count == 2 else { throw EtcdError.malformed("override id '\(id)' is not scope/target") }
        try await client.put(keys.override(scope: parts[0], target: parts[1]), value)
        count("override")
        state.withLock { $0.view.overrides[id] = value }
        saveCache()
        onChange()
    }

    /// Removes a shared override; returns whether one was there.
    @discardableResult
    public func clearOverride(id: String) async throws -> Bool {
        let parts = id.split(separator: "/", maxSplits: 1).map(String.init)
        guard parts.count == 2 else { throw EtcdError.malformed("override id '\(id)' is not scope/target") }
        let n = try await client.delete(keys.override(scope: parts[0], target: parts[1]))
        count("override")
        state.withLock { $0.view.overrides[id] = nil }
        saveCache()
        onChange()
        return n > 0
    }

    // MARK: - The session with the store

    /// Runs until cancelled: (re)connects, registers, reads, then keeps the lease alive, watches and
    /// writes transitions. On shutdown it revokes its lease so its observations leave at once.
    public func run() async {
        var backoff = 0.2
        var lease: Int64? = nil
        while !Task.isCancelled {
            do {
                try await session(lease: &lease)
                backoff = 0.2
            } catch is CancellationError {
                break
            } catch EtcdError.leaseExpired(let id) {
                // The store answers but our lease is gone (keep-alives missed on a busy node): re-register at once
                // with a new lease; the store was not lost, so the mode does not change.
                logger.warning(
                    "fleet: lease expired; registering again",
                    metadata: ["fleet.lease": "\(String(id, radix: 16))"]
                )
                state.withLock { $0.written = [:] }
                lease = nil
                continue
            } catch let e as SessionRestart {
                logger.info("fleet: resynchronising", metadata: ["reason": "\(e.reason)"])
                continue
            } catch {
                if Task.isCancelled { break }
                // A connected node rides out a short outage (a member killed, a leader election) for half a lease
                // before it counts the store as lost: its observations live as long as the lease does.
                let since = state.withLock { s -> Date? in
                    guard s.status.connected else { return nil }
                    if s.failingSince == nil { s.failingSince = Date() }
                    return s.failingSince
                }
                if let since, Date().timeIntervalSince(since) < Double(settings.leaseTTL) / 2 {
                    logger.info("fleet: store request failed; retrying", metadata: ["problem": "\(error)"])
                } else {
                    lost(error)
                }
                // The lease is gone (expired while the store was away): a new one next time.
                if case EtcdError.leaseExpired = error { lease = nil }
                if case EtcdError.server(let code, _) = error, code == 5 { lease = nil }
                do { try await Task.sleep(for: .milliseconds(Int64(backoff * 1000))) } catch { break }
                backoff = min(backoff * 2, 2)
            }
        }
        state.withLock {
            $0.kick?.finish()
            $0.kick = nil
        }
        // Shutdown: revoke the lease (best effort, bounded by the request timeout) so the observations go now
        // rather than after the TTL. A task of its own: this one is cancelled, and so would be its requests.
        let client = self.client
        await Task {
            if let lease { try? await client.revoke(lease: lease) }
            await client.shutdown()
        }.value
    }

    struct SessionRestart: Error { var reason: String }

    private func session(lease: inout Int64?) async throws {
        if let l = lease {
            do {
                try await client.keepAlive(lease: l)
                count("keepalive")
            } catch EtcdError.leaseExpired { lease = nil }
        }
        if lease == nil {
            lease = try await client.grantLease(ttl: settings.leaseTTL)
            count("lease")
        }
        let leaseID = lease!
        try await withThrowingTaskGroup(of: Void.self) { group in
            // Keep-alive from the start: registering a large node (many targets) may take longer than the TTL.
            group.addTask { try await self.keepAliveLoop(lease: leaseID) }
            defer { group.cancelAll() }
            let (revision, kicks) = try await self.register(lease: leaseID)
            group.addTask { try await self.watchLoop(from: revision) }
            group.addTask { try await self.writerLoop(kicks, lease: leaseID) }
            try await group.next()
            throw SessionRestart(reason: "a session task ended")
        }
    }

    /// Registers the member, brings the store's copy of this node's verdicts up to date (batched), reads
    /// everything and switches to fleet mode. Returns the revision to watch from and the writer's wake-ups.
    private func register(lease leaseID: Int64) async throws -> (Int64, AsyncStream<Void>) {
        let member = MemberRecord(vantage: settings.vantage, started: started, version: version)
        try await client.put(keys.member(settings.node), try FleetJSON.encoder.encode(member), lease: leaseID)
        count("member")
        var snapshot = try await client.range(prefix: keys.prefix)
        var view = FleetView(keys: keys, kvs: snapshot.kvs, revision: snapshot.revision)
        // Own observations that are missing or stale in the store (first start, or a new lease).
        let mine = view.observations[settings.node] ?? [:]
        let ownPrefix = keys.observations(node: settings.node)
        let leased = Dictionary(
            snapshot.kvs.filter { $0.key.hasPrefix(ownPrefix) }.map {
                (String($0.key.dropFirst(ownPrefix.count)), $0.lease)
            }
        ) { a, _ in a }
        let local = state.withLock { $0.local }
        var stale: [(String, LocalVerdict)] = []
        for (t, v) in local {
            if mine[t]?.up != v.up || leased[t] != leaseID {
                stale.append((t, v))
            } else {
                state.withLock { $0.written[t] = v }
            }
        }
        try await writeObservations(stale, lease: leaseID)
        // Own observations of targets this node no longer probes.
        for t in mine.keys where local[t] == nil {
            try await client.delete(keys.observation(node: settings.node, target: t))
        }
        if !stale.isEmpty || mine.keys.contains(where: { local[$0] == nil }) {
            snapshot = try await client.range(prefix: keys.prefix)
            view = FleetView(keys: keys, kvs: snapshot.kvs, revision: snapshot.revision)
        }
        let (kicks, kick) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let oldProblems = state.withLock { $0.view.problems }
        let wasConnected = state.withLock { s -> Bool in
            let was = s.status.connected
            s.view = view
            s.kick = kick
            s.status.connected = true
            s.status.synced = true
            s.status.mode = .fleet
            s.status.lease = leaseID
            s.status.lastError = nil
            s.overridesKnown = true
            s.failingSince = nil
            if !was { s.status.since = Date() }
            return was
        }
        logProblems(view.problems, was: oldProblems)
        if !wasConnected {
            logger.notice(
                "fleet: store connected",
                metadata: [
                    "fleet.name": "\(settings.name)", "fleet.node": "\(settings.node)",
                    "fleet.vantage": "\(settings.vantage)",
                    "fleet.members": "\(view.members.count)", "store.revision": "\(view.revision)",
                ]
            )
        }
        saveCache()
        onChange()
        kick.yield()
        return (view.revision, kicks)
    }

    private func keepAliveLoop(lease: Int64) async throws {
        let every = Duration.milliseconds(Int64(max(500, settings.leaseTTL * 1000 / 3)))
        while true {
            try await Task.sleep(for: every)
            try await client.keepAlive(lease: lease)
            count("keepalive")
        }
    }

    private func watchLoop(from revision: Int64) async throws {
        var next = revision + 1
        while true {
            do {
                try await client.watch(prefix: keys.prefix, startRevision: next) { rev, events in
                    next = max(next, rev + 1)
                    self.applyWatch(events, revision: rev)
                }
            } catch EtcdError.compacted(let oldest) {
                logger.warning(
                    "fleet: watch revision compacted; reading everything again",
                    metadata: ["store.revision": "\(oldest)"]
                )
                let snap = try await client.range(prefix: keys.prefix)
                state.withLock { $0.view = FleetView(keys: keys, kvs: snap.kvs, revision: snap.revision) }
                next = snap.revision + 1
                onChange()
                continue
            } catch let e as EtcdError {
                if case .unavailable = e { throw e }
                logger.info(
                    "fleet: watch interrupted; resuming",
                    metadata: ["store.revision": "\(next)", "problem": "\(e)"]
                )
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                // The member's stream broke (member stopped, connection reset): resume from the next revision.
                logger.info(
                    "fleet: watch interrupted; resuming",
                    metadata: ["store.revision": "\(next)", "problem": "\(error)"]
                )
            }
            try Task.checkCancellation()
        }
    }

    private func applyWatch(_ events: [EtcdEvent], revision: Int64) {
        let now = Date()
        let before = state.withLock { $0.view.problems }
        defer { logProblems(state.withLock { $0.view.problems }, was: before) }
        let changed = state.withLock { s -> Bool in
            var changed = false
            for e in events {
                if s.view.apply(keys: keys, e) { changed = true }
                if case .observation? = keys.parse(e.kv.key), e.kind == .put,
                    let o = try? FleetJSON.decoder.decode(Observation.self, from: e.kv.value)
                {
                    s.status.watchLagSeconds = max(0, now.timeIntervalSince(o.at))
                    if case .observation(let node, let target)? = keys.parse(e.kv.key) {
                        logger.debug(
                            "fleet: observation",
                            metadata: [
                                "fleet.from": "\(node)", "target": "\(target)", "up": "\(o.up)",
                                "lag_ms": "\(Int(now.timeIntervalSince(o.at) * 1000))",
                            ]
                        )
                    }
                }
            }
            s.view.revision = max(s.view.revision, revision)
            return changed
        }
        if changed {
            if events.contains(where: { if case .override? = keys.parse($0.kv.key) { true } else { false } }) {
                saveCache()
            }
            onChange()
        }
    }

    private func writerLoop(_ kicks: AsyncStream<Void>, lease: Int64) async throws {
        for await _ in kicks {
            let todo = state.withLock { s in s.local.filter { s.written[$0.key]?.up != $0.value.up } }
            try await writeObservations(todo.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }, lease: lease)
        }
        throw CancellationError()
    }

    /// Writes verdicts under the lease: one put, or transactions of up to 100 puts when many change at once
    /// (a node starting, a site losing its network).
    private func writeObservations(_ items: [(String, LocalVerdict)], lease: Int64) async throws {
        var start = 0
        while start < items.count {
            let chunk = items[start..<min(items.count, start + 100)]
            let now = Date()
            let puts = try chunk.map { t, v in
                (
                    keys.observation(node: settings.node, target: t),
                    try FleetJSON.encoder.encode(
                        Observation(up: v.up, reason: v.reason, at: now, vantage: settings.vantage)
                    )
                )
            }
            if puts.count == 1 {
                try await client.put(puts[0].0, puts[0].1, lease: lease)
            } else {
                try await client.putAll(puts, lease: lease)
            }
            state.withLock { s in
                s.status.writes["observation", default: 0] += chunk.count
                for (t, v) in chunk { s.written[t] = v }
            }
            start += chunk.count
        }
    }

    private func lost(_ error: any Error) {
        let first = state.withLock { s -> Bool in
            let was = s.status.connected
            // The first failure since the last connection, or since start (a node that never reached the store
            // says so too).
            let first = was || s.status.lastError == nil
            s.status.connected = false
            s.status.synced = false
            s.status.mode = settings.onStoreLoss == .freeze ? .frozen : .local
            s.status.lastError = "\(error)"
            s.kick?.finish()
            s.kick = nil
            // The store may have lost our observations (lease expired): write them all again next session.
            s.written = [:]
            if was {
                s.status.since = Date()
                s.status.storeLosses += 1
            }
            return first
        }
        if first {
            logger.warning(
                "fleet: store unreachable; still answering",
                metadata: [
                    "fleet.on_store_loss": "\(settings.onStoreLoss.rawValue)", "problem": "\(error)",
                ]
            )
            onChange()
        }
    }

    /// Logs each record newly left out, as "key: what is wrong" (once; again only after it was fixed).
    private func logProblems(_ now: [String: String], was: [String: String]) {
        for (key, problem) in now.sorted(by: { $0.key < $1.key }) where was[key] != problem {
            logger.error("fleet: record left out", metadata: ["problem": "\(key): \(problem)"])
        }
    }

    private func count(_ kind: String) { state.withLock { $0.status.writes[kind, default: 0] += 1 } }

    private func saveCache() {
        guard let cache else { return }
        let (o, v) = state.withLock { ($0.view.overrides, $0.lastFleet) }
        do { try cacheLock.withLock { _ in try cache.save(FleetCache.Content(overrides: o, verdicts: v)) } } catch {
            logger.error("fleet: cannot write the cache", metadata: ["problem": "\(error)"])
        }
    }
}
