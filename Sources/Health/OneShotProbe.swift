import HealthModel
import NIOCore

/// One line of `gtmd probe`: one check of one target, probed once.
public struct ProbeRow: Sendable, Hashable {
    public var target: String
    public var check: String
    public var kind: CheckKind
    /// What was probed, e.g. `127.0.0.1:5432`, `https://10.0.0.5:443/health`.
    public var endpoint: String
    public var result: ProbeResult

    public init(target: String, check: String, kind: CheckKind, endpoint: String, result: ProbeResult) {
        self.target = target
        self.check = check
        self.kind = kind
        self.endpoint = endpoint
        self.result = result
    }
}

/// Runs every check once, for `gtmd probe --config FILE`.
public enum OneShotProbe {
    /// Probes every check of every target once (at most `maxInFlight` at a time) and returns one row per
    /// check, in input order. Takes about as long as the slowest probe (bounded by its timeout).
    public static func runAll(
        targets: [ProbeTarget],
        maxInFlight: Int = 64,
        eventLoopGroup: (any EventLoopGroup)? = nil
    ) async -> [ProbeRow] {
        let prober = Prober(group: eventLoopGroup)
        let limit = AsyncSemaphore(permits: maxInFlight)
        var jobs: [(index: Int, row: ProbeRow, check: Result<ResolvedCheck, HealthSpecError>)] = []
        for t in targets {
            for c in t.checks {
                let r = ResolvedCheck.resolve(c, address: t.address)
                let endpoint = (try? r.get().display) ?? c.endpoint ?? t.address
                let row = ProbeRow(
                    target: t.id,
                    check: c.name,
                    kind: c.kind,
                    endpoint: endpoint,
                    result: ProbeResult(ok: false, reason: "not probed", latency: .zero)
                )
                jobs.append((jobs.count, row, r))
            }
        }
        var rows = jobs.map(\.row)
        await withTaskGroup(of: (Int, ProbeResult).self) { group in
            for job in jobs {
                group.addTask {
                    switch job.check {
                    case .failure(let problem):
                        return (
                            job.index,
                            ProbeResult(ok: false, reason: "invalid check: \(problem.message)", latency: .zero)
                        )
                    case .success(let check):
                        do { try await limit.acquire() } catch {
                            return (job.index, ProbeResult(ok: false, reason: "cancelled", latency: .zero))
                        }
                        let result = await prober.probe(check)
                        limit.release()
                        return (job.index, result)
                    }
                }
            }
            for await (i, result) in group { rows[i].result = result }
        }
        return rows
    }

    /// True when every row passed (the CLI exits 0 then, 1 otherwise). Certificate warnings do not fail.
    public static func allPassed(_ rows: [ProbeRow]) -> Bool {
        rows.allSatisfy(\.result.ok)
    }

    /// A plain-text table, one row per check, and a summary line:
    ///
    ///     TARGET  CHECK  ENDPOINT                    RESULT  LATENCY  REASON
    ///     web/a   http   http://10.0.0.1:80/health   pass    3ms      status 200
    ///     web/b   http   http://10.0.0.2:80/health   FAIL    2.00s    timeout (connect)
    ///     2 checks: 1 passed, 1 failed
    ///
    /// RESULT is `pass`, `warn` (passed with a certificate warning, shown in REASON) or `FAIL`.
    public static func table(_ rows: [ProbeRow]) -> String {
        let header = ["TARGET", "CHECK", "ENDPOINT", "RESULT", "LATENCY", "REASON"]
        let body: [[String]] = rows.map { r in
            let res = r.result
            let verdict = !res.ok ? "FAIL" : res.certWarning != nil ? "warn" : "pass"
            var reason = res.reason
            if let w = res.certWarning { reason += "; \(w)" }
            return [r.target, r.check, r.endpoint, verdict, formatLatency(res.latency), reason]
        }
        var widths = header.map(\.count)
        for line in body {
            for (i, cell) in line.enumerated() { widths[i] = max(widths[i], cell.count) }
        }
        func render(_ cells: [String]) -> String {
            var out = ""
            for (i, cell) in cells.enumerated() {
                if i == cells.count - 1 {
                    out += cell
                } else {
                    out += cell + String(repeating: " ", count: widths[i] - cell.count + 2)
                }
            }
            return out
        }
        var lines = [render(header)]
        lines += body.map(render)
        let passed = rows.filter(\.result.ok).count
        let warned = rows.filter { $0.result.ok && $0.result.certWarning != nil }.count
        var summary =
            "\(rows.count) check\(rows.count == 1 ? "" : "s"): \(passed) passed, \(rows.count - passed) failed"
        if warned > 0 { summary += ", \(warned) with certificate warnings" }
        lines.append(summary)
        return lines.joined(separator: "\n") + "\n"
    }

    /// `0.4ms`, `12ms`, `1.25s`.
    static func formatLatency(_ d: Duration) -> String {
        let ms = d.seconds * 1000
        if ms < 10 { return "\((ms * 10).rounded() / 10)ms" }
        if ms < 1000 { return "\(Int(ms.rounded()))ms" }
        return "\((ms / 10).rounded() / 100)s"
    }
}
