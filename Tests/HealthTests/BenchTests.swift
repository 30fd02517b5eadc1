import Foundation
import HealthModel
import Logging
import Testing

@testable import Health

/// A scheduler load run, off by default: `scripts/bench-probes.sh` (GTMD_HEALTH_BENCH=1) runs it.
/// Many http and tcp checks against the loopback python backend, plus hanging ones, for a fixed time;
/// prints probes/s, this process's CPU per probe, latency percentiles and how late probes ran.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["GTMD_HEALTH_BENCH"] == "1" && Tools.available))
struct BenchTests {
    @Test func schedulerLoad() async throws {
        let env = ProcessInfo.processInfo.environment
        let httpChecks = Int(env["BENCH_HTTP"] ?? "") ?? 500
        let tcpChecks = Int(env["BENCH_TCP"] ?? "") ?? 500
        let hanging = Int(env["BENCH_HANG"] ?? "") ?? 50
        let seconds = Int(env["BENCH_SECONDS"] ?? "") ?? 10
        let interval = Duration.seconds(1)

        let b = try await Backend.shared.value
        var targets: [ProbeTarget] = []
        for i in 0..<httpChecks {
            targets.append(
                ProbeTarget(
                    id: "http/\(i)",
                    address: "127.0.0.1",
                    checks: [
                        CheckSpec(
                            name: "http",
                            kind: .http,
                            port: b.ports.http,
                            path: "/ok",
                            timeout: .milliseconds(900),
                            interval: interval
                        )
                    ]
                )
            )
        }
        for i in 0..<tcpChecks {
            targets.append(
                ProbeTarget(
                    id: "tcp/\(i)",
                    address: "127.0.0.1",
                    checks: [
                        CheckSpec(
                            name: "tcp",
                            kind: .tcp,
                            port: b.ports.http,
                            timeout: .milliseconds(900),
                            interval: interval
                        )
                    ]
                )
            )
        }
        for i in 0..<hanging {
            targets.append(
                ProbeTarget(
                    id: "hang/\(i)",
                    address: "127.0.0.1",
                    checks: [
                        CheckSpec(
                            name: "http",
                            kind: .http,
                            port: b.ports.http,
                            path: "/hang",
                            timeout: .seconds(2),
                            interval: .seconds(3)
                        )
                    ]
                )
            )
        }
        var logger = Logger(label: "bench")
        logger.logLevel = .error
        let m = HealthMonitor(targets: targets, logger: logger, maxInFlight: 256)
        let cpu0 = cpuSeconds()
        let t0 = ContinuousClock.now
        let task = Task { try await m.run() }
        let complete = await m.waitForFirstRound()
        let firstRound = ContinuousClock.now - t0
        var maxInFlight = 0
        let end = t0 + .seconds(seconds)
        var samples = 0
        while ContinuousClock.now < end, samples < 100_000 {
            maxInFlight = max(maxInFlight, m.probesInFlight)
            try await Task.sleep(for: .milliseconds(20))
            samples += 1
        }
        let snap = m.snapshot()
        let elapsed = (ContinuousClock.now - t0).secondsDouble
        task.cancel()
        try await task.value
        let cpu = cpuSeconds() - cpu0

        let checks = snap.targets.values.flatMap(\.checks)
        let probes = checks.reduce(0) { $0 + $1.probes }
        let quick = snap.targets.filter { !$0.key.hasPrefix("hang/") }.values.flatMap(\.checks)
        let quickProbes = quick.reduce(0) { $0 + $1.probes }
        let lat = quick.compactMap { $0.lastResult?.latency.secondsDouble }.sorted()
        func pct(_ p: Double) -> String {
            guard !lat.isEmpty else { return "-" }
            return String(format: "%.1fms", lat[min(lat.count - 1, Int(Double(lat.count) * p))] * 1000)
        }
        // With jitter ±10% a check gets about elapsed/interval probes; fewer means probes ran late.
        let expected = Double(quick.count) * elapsed / interval.secondsDouble
        let failed = quick.filter { $0.lastResult?.ok == false }.count
        print(
            """
            BENCH checks: \(httpChecks) http, \(tcpChecks) tcp, \(hanging) hanging; interval 1s; \(String(format: "%.1f", elapsed))s
            BENCH first round: \(complete ? "complete" : "timed out") in \(String(format: "%.0f", firstRound.secondsDouble * 1000))ms
            BENCH probes: \(probes) (\(String(format: "%.0f", Double(probes) / elapsed))/s); quick checks got \(String(format: "%.1f", Double(quickProbes) / expected * 100))% of their schedule; failing at end: \(failed)
            BENCH latency of last probe (quick checks): p50 \(pct(0.5)) p90 \(pct(0.9)) p99 \(pct(0.99)) max \(pct(1.0))
            BENCH CPU (this process): \(String(format: "%.2f", cpu))s = \(String(format: "%.1f", cpu / elapsed * 100))% of a core; \(String(format: "%.0f", cpu / Double(max(1, probes)) * 1e6))µs per probe
            BENCH max probes in flight (sampled): \(maxInFlight) (limit 256)
            """
        )
        #expect(probes > 0)
    }

    func cpuSeconds() -> Double {
        var u = rusage()
        getrusage(RUSAGE_SELF.rawValue, &u)
        return Double(u.ru_utime.tv_sec) + Double(u.ru_utime.tv_usec) / 1e6 + Double(u.ru_stime.tv_sec)
            + Double(u.ru_stime.tv_usec) / 1e6
    }
}
