/// What `gtmd serve` was asked to do: its options, whichever way they were read.
///
/// `gtmd serve` is parsed with ArgumentParser (`Serve` in the gtmd target). Its parse reflects over the
/// command's property wrappers, and each first look-up of a wrapper type's protocol conformances scans every
/// conformance record of the static binary: that was the largest single cost of a start before the config was
/// read (bench/README.md). `init?(plain:)` reads the usual form, `--name value` pairs of the options below,
/// without it; anything else (help, `--name=value`, a value that starts with `-`, an unknown or repeated
/// single option, a bad or out-of-range number) gives nil and goes through ArgumentParser, whose messages and
/// exit codes are the usual ones. `Tests/AppTests/ServeArgumentsTests.swift` holds the names to the command's
/// help, so an option added to `Serve` but not here fails a test.
public struct ServeArguments: Equatable, Sendable {
    public var config: String?
    public var zone: [String] = []
    public var listen: [String] = []
    public var udpWorkers: Int?
    public var readyFile: String?
    public var stateFile: String?
    public var control: String?
    public var node: String?
    public var etcd: [String] = []
    public var logLevel = "info"

    public init() {}

    /// The long options `serve` takes (`--help` aside), as `Serve` declares them.
    public static let optionNames: Set<String> = [
        "config", "zone", "listen", "udp-workers", "ready-file", "state-file", "control", "node", "etcd", "log-level",
    ]

    /// The range `--udp-workers` accepts (0 = one per core).
    public static let udpWorkerRange = 0...64

    /// `--name value` pairs only (see the type's comment); nil for anything else.
    public init?(plain args: some Collection<String>) {
        var seen: Set<String> = []
        var i = args.startIndex
        while i != args.endIndex {
            let arg = args[i]
            i = args.index(after: i)
            guard arg.hasPrefix("--"), i != args.endIndex else { return nil }
            let name = String(arg.dropFirst(2))
            let value = args[i]
            i = args.index(after: i)
            guard Self.optionNames.contains(name), !value.hasPrefix("-") else { return nil }
            switch name {
            case "zone": zone.append(value)
            case "listen": listen.append(value)
            case "etcd": etcd.append(value)
            default:
                guard seen.insert(name).inserted else { return nil }
                switch name {
                case "config": config = value
                case "udp-workers":
                    guard let n = Int(value), Self.udpWorkerRange.contains(n) else { return nil }
                    udpWorkers = n
                case "ready-file": readyFile = value
                case "state-file": stateFile = value
                case "control": control = value
                case "node": node = value
                case "log-level": logLevel = value
                default: return nil
                }
            }
        }
    }
}
