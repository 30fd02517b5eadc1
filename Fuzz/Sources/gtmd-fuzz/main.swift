// libFuzzer harness entry: `gtmd-fuzz [libFuzzer flags] CORPUS...` with GTMD_FUZZ_TARGET (query,
// responder, edns, zone, config) and GTMD_FUZZ_ZONES (the repository's zones/ directory). A failed
// property traps with what broke, so libFuzzer saves the input as a crash.
import CFuzz
import Foundation

let env = ProcessInfo.processInfo.environment
guard let name = env["GTMD_FUZZ_TARGET"], let target = FuzzTarget(rawValue: name) else {
    FileHandle.standardError.write(Data("set GTMD_FUZZ_TARGET to one of \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", "))\n".utf8))
    exit(2)
}
// Set before the driver starts; libFuzzer then calls the callback from this thread only.
nonisolated(unsafe) let fuzzTarget = target
nonisolated(unsafe) let fuzzChecks = FuzzChecks(zonesDirectory: env["GTMD_FUZZ_ZONES"] ?? "zones")

var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv) { data, size in
    let bytes = size > 0 && data != nil ? Array(UnsafeBufferPointer(start: data, count: size)) : []
    if let failure = fuzzChecks.check(fuzzTarget, bytes) {
        fatalError("gtmd-fuzz \(fuzzTarget.rawValue): \(failure)")
    }
    return 0
})
