import HealthModel
import NIOCore

/// How the probe thread makes one check's probes, worked out once when the check starts (a changed check is a new
/// check with a new plan), so that a probe copies no spec and builds no request: the probe thread takes the plan
/// by reference and reads plain values from it.
final class ProbePlan: Sendable {
    enum Way: Sendable {
        /// A TCP check of an address: a connect on the probe thread.
        case connect
        /// A plain HTTP check of an address (status only): on the probe thread, from this request.
        case httpStatus(HTTPStatusExchange)
        /// HTTPS, body and host-name checks: through NIO (`Prober`).
        case nio(ResolvedCheck)
        /// The check cannot be made; every probe fails with this reason.
        case invalid(String)
    }

    let way: Way
    /// The `sockaddr` of `.connect` and `.httpStatus` (empty otherwise).
    let sockaddr: [UInt8]
    /// In nanoseconds (the probe thread's clock, `gtmd_monotonic_ns`).
    let timeout: Int64
    let interval: Int64
    let fastInterval: Int64

    init(spec: CheckSpec, resolved: Result<ResolvedCheck, HealthSpecError>) {
        timeout = spec.timeout.nanoseconds
        interval = spec.interval.nanoseconds
        fastInterval = spec.effectiveFastInterval.nanoseconds
        switch resolved {
        case .failure(let problem):
            way = .invalid("invalid check: \(problem.message)")
            sockaddr = []
        case .success(let check):
            let address = check.socketAddress
            sockaddr =
                address.map { a in
                    a.withSockAddr { sa, len in Array(UnsafeRawBufferPointer(start: sa, count: len)) }
                } ?? []
            if check.spec.kind == .tcp, address != nil {
                way = .connect
            } else if check.isPlainStatusCheck {
                way = .httpStatus(HTTPStatusExchange(check))
            } else {
                way = .nio(check)
            }
        }
    }
}
