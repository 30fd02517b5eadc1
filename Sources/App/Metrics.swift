import Answers
import Config
import ConfigText
import DNSWire
import FoundationEssentials
import Glibc
import HealthModel
import Policy
import Prometheus
import Steering

/// `/metrics`: a Prometheus text exposition rendered at scrape time by swift-prometheus from what the
/// runtime already holds (per-worker DNS counters, the health snapshot, the publisher's decisions).
/// A fresh registry per scrape, so a reload that removes a pool or service removes its series too.
/// Labels come only from configured names (targets, checks, pools, services) and fixed sets (protocol,
/// rcode, query type with "other"), never from clients.
public struct MetricsInput: Sendable {
    public var udp: ResponderCounters
    public var tcp: ResponderCounters
    public var config: GtmdConfig
    public var health: HealthSnapshot
    public var decisions: [String: Decision]
    public var switches: [String: Int]
    public var failovers: [String: FailoverTiming]
    public var overridesActive: Int
    public var generation: UInt64
    public var reloadsOK: Int
    public var reloadsFailed: Int
    public var stateChanges: [String: [String: Int]]
    public var ready: Bool
    /// The fleet view (a `fleet:` section), else nil.
    public var fleet: FleetReport? = nil
    /// Signed zones: the earliest RRSIG expiration in the table served, and when the next signature is due
    /// to be made again (seconds since 1970); nil when no zone is signed.
    public var signatureExpiry: UInt32? = nil
    public var resignAt: UInt32? = nil
    /// The signed zones' keys now.
    public var dnssecKeys: [DnssecZoneStatus] = []
}

public enum Metrics {
    static let rcodeNames = [
        "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "YXDOMAIN", "YXRRSET",
        "NXRRSET", "NOTAUTH", "NOTZONE", "RCODE11", "RCODE12", "RCODE13", "RCODE14", "RCODE15", "BADVERS",
    ]

    static func rcodes(_ c: ResponderCounters) -> [Int] {
        withUnsafeBytes(of: c.byRcode) { raw in
            (0..<17).map { raw.load(fromByteOffset: $0 * MemoryLayout<Int>.stride, as: Int.self) }
        }
    }

    static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }

    /// A full metric name as the descriptor (no unit suffix: the names already end in their unit).
    static func descriptor(_ name: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }

    /// Renders the exposition text.
    public static func render(_ m: MetricsInput) -> String {
        let r = PrometheusCollectorRegistry()
        func counter(_ name: String, _ help: String, _ labels: [(String, String)], _ value: Int) {
            r.makeCounter(descriptor: descriptor(name, help), labels: labels).increment(by: Int64(max(0, value)))
        }
        func gauge(_ name: String, _ help: String, _ labels: [(String, String)], _ value: Double) {
            r.makeGauge(descriptor: descriptor(name, help), labels: labels).set(to: value)
        }
        gauge("gtmd_build_info", "gtmd version (value 1)", [("version", GtmdVersion.string)], 1)
        gauge("gtmd_ready", "1 once listening and the first probe round is done", [], m.ready ? 1 : 0)
        for (proto, c) in [("udp", m.udp), ("tcp", m.tcp)] {
            for (i, type) in TypeCounters.names.enumerated() {
                counter(
                    "gtmd_dns_queries_total",
                    "DNS queries with a readable question, by protocol and query type",
                    [("protocol", proto), ("type", type)],
                    c.byType[i]
                )
            }
            for (i, n) in rcodes(c).enumerated() where n > 0 || i <= 5 {
                counter(
                    "gtmd_dns_responses_total",
                    "DNS responses sent, by protocol and rcode",
                    [("protocol", proto), ("rcode", rcodeNames[i])],
                    n
                )
            }
            counter(
                "gtmd_dns_truncated_total",
                "DNS responses cut to fit and sent with TC set",
                [("protocol", proto)],
                c.truncated
            )
            counter(
                "gtmd_dns_dropped_total",
                "DNS packets dropped without a reply (malformed, QR set, oversized)",
                [("protocol", proto)],
                c.dropped
            )
            if proto == "udp" {
                counter(
                    "gtmd_rrl_responses_total",
                    "UDP responses withheld by response rate limiting, by action (drop, or slip: sent empty with TC)",
                    [("action", "drop")],
                    c.rrlDropped
                )
                counter(
                    "gtmd_rrl_responses_total",
                    "UDP responses withheld by response rate limiting, by action (drop, or slip: sent empty with TC)",
                    [("action", "slip")],
                    c.rrlSlipped
                )
            }
        }
        gauge(
            "gtmd_answer_table_generation",
            "Generation of the answer table being served (rises on every publish)",
            [],
            Double(m.generation)
        )
        if let t = m.signatureExpiry {
            gauge(
                "gtmd_dnssec_signature_expiry_timestamp_seconds",
                "Earliest expiration of an RRSIG in the answers served (signed zones; Unix time)",
                [],
                Double(t)
            )
        }
        if let t = m.resignAt {
            gauge(
                "gtmd_dnssec_resign_timestamp_seconds",
                "When the next signature is due to be made again (signed zones; Unix time)",
                [],
                Double(t)
            )
        }
        renderKeys(m.dnssecKeys, gauge: gauge)
        counter("gtmd_reloads_total", "Config reloads (SIGHUP) by result", [("result", "ok")], m.reloadsOK)
        counter("gtmd_reloads_total", "Config reloads (SIGHUP) by result", [("result", "failed")], m.reloadsFailed)
        gauge("gtmd_overrides_active", "Operator overrides in force", [], Double(m.overridesActive))
        if let f = m.fleet { renderFleet(f, gauge: gauge, counter: counter) }

        for t in m.health.targets.values.sorted(by: { $0.id < $1.id }) {
            gauge(
                "gtmd_target_up",
                "Health verdict of a pool member (1 up; an unknown target counts as its initial state)",
                [("target", t.id)],
                t.isUp ? 1 : 0
            )
            for c in t.checks {
                let labels = [("target", t.id), ("check", c.name)]
                gauge(
                    "gtmd_check_up",
                    "Verdict of one check of a target (1 up, 0 down or unknown)",
                    labels,
                    c.state == .up ? 1 : 0
                )
                if let last = c.lastResult {
                    gauge(
                        "gtmd_probe_latency_seconds",
                        "Latency of the last probe of a check",
                        labels,
                        seconds(last.latency)
                    )
                }
                counter("gtmd_probes_total", "Probes finished", labels, c.probes)
                for reason in ProbeResult.reasonClasses {
                    counter(
                        "gtmd_probe_failures_total",
                        "Failed probes by reason class (timeout, refused, status, body, tls, other)",
                        labels + [("reason", reason)],
                        c.failures[reason] ?? 0
                    )
                }
                if let notAfter = c.lastResult?.certNotAfter {
                    gauge(
                        "gtmd_check_certificate_expiry_timestamp_seconds",
                        "https checks: Unix time the peer certificate of the last probe expires",
                        labels,
                        notAfter.timeIntervalSince1970
                    )
                }
                counter(
                    "gtmd_health_state_changes_total",
                    "Check state changes (unknown/up/down transitions)",
                    labels,
                    m.stateChanges[t.id]?[c.name] ?? 0
                )
            }
        }
        let views = Policy.views(
            pools: m.config.pools,
            health: m.health.targets.mapValues(\.isUp),
            overrides: OverrideSet()
        )
        for p in m.config.pools {
            gauge(
                "gtmd_pool_available",
                "Whether a pool meets its availability rule on health alone (1 yes)",
                [("pool", p.name)],
                views[p.name]?.available == true ? 1 : 0
            )
        }
        for s in m.config.services {
            let key = s.name.description
            let d = m.decisions[key]
            counter(
                "gtmd_failover_switches_total",
                "Switches of a service's answering pool (failover and failback)",
                [("service", key)],
                m.switches[key] ?? 0
            )
            for p in s.pools {
                gauge(
                    "gtmd_service_pool",
                    "1 for the pool a failover service answers from now, 0 for its other pools",
                    [("service", key), ("pool", p)],
                    d?.pool == p ? 1 : 0
                )
            }
            // nearest: the pool each client region answers from (region and pool names come from the config).
            for (i, order) in s.regionOrder.enumerated() {
                let rd = d?.perRegion.flatMap { i < $0.count ? $0[i] : nil }
                for p in order.pools {
                    gauge(
                        "gtmd_service_region_pool",
                        "nearest: 1 for the pool clients of a region are answered from now, 0 for the region's other pools",
                        [("service", key), ("region", order.region), ("pool", p)],
                        rd?.pool == p ? 1 : 0
                    )
                }
            }
            if let d {
                gauge("gtmd_service_ttl_seconds", "TTL of the service's answer now", [("service", key)], Double(d.ttl))
                gauge(
                    "gtmd_service_degraded",
                    "1 while the service is off its first pool or a member is down",
                    [("service", key)],
                    d.degraded ? 1 : 0
                )
                let each = d.perRegion ?? [d]
                // Off the first pool: failover compares with the service's first pool, nearest with each region's.
                var standby = false
                if let per = d.perRegion {
                    for (i, rd) in per.enumerated() where i < s.regionOrder.count {
                        if let p = rd.pool, p != s.regionOrder[i].pools.first { standby = true }
                    }
                } else if s.policy == .failover, let p = d.pool, p != s.pools.first {
                    standby = true
                }
                gauge(
                    "gtmd_service_standby",
                    "1 while a failover service answers from a pool other than its first (nearest: some region off its nearest pool)",
                    [("service", key)],
                    standby ? 1 : 0
                )
                gauge(
                    "gtmd_service_all_down",
                    "1 while no pool of the service is available (nearest: for some client region); when_all_down decides the answer",
                    [("service", key)],
                    each.contains(where: Metrics.allPoolsDown) ? 1 : 0
                )
                gauge(
                    "gtmd_service_fail_open",
                    "1 while the service answers its first pool although no pool is available (when_all_down: fail-open)",
                    [("service", key)],
                    each.contains(where: Metrics.failOpen) ? 1 : 0
                )
            }
            if let f = m.failovers[key] {
                // Kept through later switches that no probe failure caused (failback, override), with its time.
                if let det = f.lastDetectionSeconds, let at = f.lastDetectionAt {
                    gauge(
                        "gtmd_failover_detection_seconds",
                        "Last failover caused by failed probes: seconds from the first failed probe to the switch (kept after failback and overrides)",
                        [("service", key)],
                        det
                    )
                    gauge(
                        "gtmd_failover_detection_timestamp_seconds",
                        "Unix time of the failover gtmd_failover_detection_seconds measured",
                        [("service", key)],
                        at.timeIntervalSince1970
                    )
                }
                if let ttl = f.staleTTL {
                    gauge(
                        "gtmd_failover_stale_ttl_seconds",
                        "Last failover: TTL of the answer served before the switch (clients may keep it this long)",
                        [("service", key)],
                        Double(ttl)
                    )
                }
                gauge(
                    "gtmd_failover_last_timestamp_seconds",
                    "Last failover: Unix time of the switch",
                    [("service", key)],
                    f.at.timeIntervalSince1970
                )
            }
        }
        ProcessStats.read()?.register(
            gauge: gauge,
            counterValue: { name, help, value in
                r.makeCounter(descriptor: descriptor(name, help), labels: []).increment(by: value)
            }
        )
        var out: [UInt8] = []
        r.emit(into: &out)
        return String(decoding: out, as: UTF8.self)
    }
}

extension Metrics {
    /// No pool of the service was available when it decided (the reason `Policy.allDown` gives).
    static func allPoolsDown(_ d: Decision) -> Bool { d.allPoolsDown }
    /// All down, answered with the first pool anyway.
    static func failOpen(_ d: Decision) -> Bool { d.failOpen }
}

/// The standard Prometheus process metrics, read from /proc/self at scrape time (Linux).
struct ProcessStats {
    var cpuSeconds: Double
    var residentBytes: Double
    var virtualBytes: Double
    var openFDs: Double
    var maxFDs: Double
    var startTime: Double

    static func read() -> ProcessStats? {
        guard let stat = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return nil }
        // Fields after "pid (comm)": state is field 3; utime 14, stime 15, starttime 22, vsize 23, rss 24.
        let f = stat[stat.index(after: close)...].split(separator: " ")
        func field(_ n: Int) -> Double? { n - 3 < f.count ? Double(f[n - 3]) : nil }
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        let page = Double(sysconf(Int32(_SC_PAGESIZE)))
        guard ticks > 0, let utime = field(14), let stime = field(15), let start = field(22), let vsize = field(23),
            let rss = field(24)
        else { return nil }
        var bootTime = 0.0
        if let s = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
            let line = s.split(separator: "\n").first(where: { $0.hasPrefix("btime ") })
        {
            bootTime = Double(String(line.dropFirst(6)).trimmedSpace(newlines: false)) ?? 0
        }
        let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? 0
        var limit = rlimit()
        let maxFDs = getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 ? Double(limit.rlim_cur) : 0
        return ProcessStats(
            cpuSeconds: (utime + stime) / ticks,
            residentBytes: rss * page,
            virtualBytes: vsize,
            openFDs: Double(max(0, fds - 1)),
            maxFDs: maxFDs,
            startTime: bootTime + start / ticks
        )
    }

    func register(
        gauge: (String, String, [(String, String)], Double) -> Void,
        counterValue: (String, String, Double) -> Void
    ) {
        counterValue("process_cpu_seconds_total", "Total user and system CPU time spent in seconds", cpuSeconds)
        gauge("process_resident_memory_bytes", "Resident memory size in bytes", [], residentBytes)
        gauge("process_virtual_memory_bytes", "Virtual memory size in bytes", [], virtualBytes)
        gauge("process_open_fds", "Number of open file descriptors", [], openFDs)
        gauge("process_max_fds", "Maximum number of open file descriptors", [], maxFDs)
        gauge("process_start_time_seconds", "Start time of the process since unix epoch in seconds", [], startTime)
    }
}

extension Metrics {
    /// The fleet's series: store connectivity, mode, watch lag, writes by kind, members, per-vantage verdicts.
    /// Labels come from configured targets and the fleet's vantages (a bounded, operator-chosen set).
    static func renderFleet(
        _ f: FleetReport,
        gauge: (String, String, [(String, String)], Double) -> Void,
        counter: (String, String, [(String, String)], Int) -> Void
    ) {
        gauge(
            "gtmd_fleet_store_connected",
            "1 while the fleet's etcd is reachable and read",
            [],
            f.store.connected ? 1 : 0
        )
        for mode in ["fleet", "local", "frozen"] {
            gauge(
                "gtmd_fleet_mode",
                "How this node decides: fleet verdicts, local probes (store lost) or frozen (store lost)",
                [("mode", mode)],
                f.mode == mode ? 1 : 0
            )
        }
        gauge(
            "gtmd_fleet_watch_lag_seconds",
            "Latest delay from another node's observation write to this node's watch seeing it",
            [],
            f.store.watchLagSeconds ?? 0
        )
        for kind in ["observation", "member", "override", "keepalive", "lease"] {
            counter(
                "gtmd_fleet_writes_total",
                "Requests that write to etcd, by kind",
                [("kind", kind)],
                f.store.writes[kind] ?? 0
            )
        }
        counter("gtmd_fleet_store_losses_total", "Times the store became unreachable", [], f.store.losses)
        gauge("gtmd_fleet_members", "Live fleet members (nodes with a lease)", [], Double(f.members.count))
        gauge(
            "gtmd_fleet_records_left_out",
            "Records under the fleet's prefix left out as invalid",
            [],
            Double(f.problems.count)
        )
        for t in f.targets {
            for (v, up) in t.vantages.sorted(by: { $0.key < $1.key }) {
                gauge(
                    "gtmd_fleet_vantage_up",
                    "Each vantage's verdict on a target (1 up)",
                    [("target", t.target), ("vantage", v)],
                    up ? 1 : 0
                )
            }
            if let u = t.used {
                gauge(
                    "gtmd_fleet_target_up",
                    "The verdict the answers use (fleet, or per on_store_loss)",
                    [("target", t.target)],
                    u ? 1 : 0
                )
            }
        }
    }
}

extension Metrics {
    /// The signed zones' keys: one state series per key (value 1 for its current state, 0 for the others), its
    /// next event's time, and per role the time signing ends with no successor (the alert's input).
    static func renderKeys(_ zones: [DnssecZoneStatus], gauge: (String, String, [(String, String)], Double) -> Void) {
        for z in zones {
            for k in z.keys {
                let labels = [("zone", z.zone), ("key_tag", "\(k.keyTag)"), ("role", k.role)]
                for s in KeyState.allCases {
                    gauge(
                        "gtmd_dnssec_key_state",
                        "DNSSEC key state (1 for the current one): unpublished, published, active, inactive, removed",
                        labels + [("state", s.rawValue)],
                        k.state == s.rawValue ? 1 : 0
                    )
                }
                if let at = k.nextEventAt {
                    gauge(
                        "gtmd_dnssec_key_next_event_timestamp_seconds",
                        "When the key next changes state (its timing metadata; Unix time)",
                        labels,
                        at.timeIntervalSince1970
                    )
                }
            }
            gauge(
                "gtmd_dnssec_waiting_for_ds_since_timestamp_seconds",
                "keys: auto roll: since when a successor CSK waits for its DS at the parent (gtmd dnssec ds-seen ends it; 0 when none waits)",
                [("zone", z.zone)],
                z.waitingForDSSince?.timeIntervalSince1970 ?? 0
            )
            for e in z.signingEnds {
                gauge(
                    "gtmd_dnssec_signing_ends_timestamp_seconds",
                    "When a role's last key stops signing with no successor key (Unix time; absent when one follows)",
                    [("zone", z.zone), ("role", e.role)],
                    e.at.timeIntervalSince1970
                )
            }
        }
    }
}
