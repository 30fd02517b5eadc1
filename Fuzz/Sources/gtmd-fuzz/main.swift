// libFuzzer harness entry: `gtmd-fuzz [libFuzzer flags] CORPUS...` with GTMD_FUZZ_TARGET (query,
// responder, edns, zone, config, state, control, cli) and GTMD_FUZZ_ZONES (the repository's zones/ directory). A failed
// property traps with what broke, so libFuzzer saves the input as a crash.
import CFuzz
import Foundation

let env = ProcessInfo.processInfo.environment
let zones = env["GTMD_FUZZ_ZONES"] ?? "zones"
let name = env["GTMD_FUZZ_TARGET"] ?? ""
let packetTarget = FuzzTarget(rawValue: name)
let controlTarget = ControlPlaneTarget(rawValue: name)
guard packetTarget != nil || controlTarget != nil else {
    let all = FuzzTarget.allCases.map(\.rawValue) + ControlPlaneTarget.allCases.map(\.rawValue)
    FileHandle.standardError.write(Data("set GTMD_FUZZ_TARGET to one of \(all.joined(separator: ", "))\n".utf8))
    exit(2)
}
// Set before the driver starts; libFuzzer then calls the callback from this thread only.
nonisolated(unsafe) let fuzzChecks = packetTarget.map { _ in FuzzChecks(zonesDirectory: zones) }
nonisolated(unsafe) let controlChecks = controlTarget.map { _ in ControlPlaneChecks(zonesDirectory: zones) }

var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(
    LLVMFuzzerRunDriver(&argc, &argv) { data, size in
        let bytes = size > 0 && data != nil ? Array(UnsafeBufferPointer(start: data, count: size)) : []
        let failure =
            packetTarget.flatMap { fuzzChecks!.check($0, bytes) }
            ?? controlTarget.flatMap { controlChecks!.check($0, bytes) }
        if let failure { fatalError("gtmd-fuzz \(name): \(failure)") }
        return 0
    }
)
