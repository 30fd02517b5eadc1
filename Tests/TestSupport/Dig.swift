import Foundation

/// The parts of `dig` output the tests look at.
public struct DigResult: Sendable, CustomStringConvertible {
    public var raw: String
    public var status: String = ""
    public var flags: Set<String> = []
    public var answer: [String] = []
    public var authority: [String] = []
    public var additional: [String] = []
    public var opt: [String] = []
    /// Answer records' data fields (last column group), e.g. ["127.0.0.11"].
    public var answerData: [String] { answer.map { Self.fields($0).dropFirst(4).joined(separator: " ") } }
    public var answerTypes: [String] { answer.map { Self.fields($0)[3] } }
    public var description: String { raw }

    static func fields(_ line: String) -> [String] {
        line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
    }

    public init(raw: String) {
        self.raw = raw
        var section = ""
        for line in raw.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
            if line.contains("->>HEADER<<-"), let r = line.range(of: "status: ") {
                status = String(line[r.upperBound...].prefix(while: { $0 != "," }))
            } else if line.hasPrefix(";; flags:") {
                let f = line.dropFirst(";; flags:".count).prefix(while: { $0 != ";" })
                flags = Set(f.split(separator: " ").map(String.init))
            } else if line.hasPrefix(";; ANSWER SECTION") {
                section = "an"
            } else if line.hasPrefix(";; AUTHORITY SECTION") {
                section = "ns"
            } else if line.hasPrefix(";; ADDITIONAL SECTION") {
                section = "ar"
            } else if line.hasPrefix(";; OPT PSEUDOSECTION") {
                section = "opt"
            } else if line.hasPrefix(";; QUESTION SECTION") {
                section = "qd"
            } else if line.isEmpty {
                section = ""
            } else if line.hasPrefix(";") {
                if section == "opt" { opt.append(line) }
            } else {
                switch section {
                case "an": answer.append(line)
                case "ns": authority.append(line)
                case "ar": additional.append(line)
                default: break
                }
            }
        }
    }
}

/// Runs the real `dig` against a server on loopback.
public func dig(
    _ name: String,
    _ type: String = "A",
    server: String = "127.0.0.1",
    port: Int,
    _ extra: [String] = []
) throws -> DigResult {
    let args = ["@\(server)", "-p", "\(port)", name, type, "+tries=1", "+time=2", "+norecurse"] + extra
    let r = try run("/usr/bin/dig", args, timeout: 15)
    return DigResult(raw: r.stdout)
}
