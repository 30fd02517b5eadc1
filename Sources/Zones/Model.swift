import DNSWire

/// One record of a zone and where it was written.
public struct ZoneRecord: Sendable, Hashable {
    public var record: ResourceRecord
    /// The file as the loader named it (the zone path given to `load`, or an included file's path
    /// built from the including file's directory).
    public var file: String
    /// 1-based line where the record starts (its first line when it spans lines in parentheses).
    public var line: Int

    public init(record: ResourceRecord, file: String, line: Int) {
        self.record = record
        self.file = file
        self.line = line
    }
}

/// A loaded, validated zone. Invariant (when made by `ZoneLoader`): every owner is at or below `origin`,
/// there is exactly one SOA and it is at the apex, the apex has NS records, no name holds a CNAME beside
/// other data (RRSIG/NSEC aside) or more than one CNAME, identical records appear once, and all records of
/// one (owner, type) RRset share a TTL.
public struct Zone: Sendable {
    public var origin: DNSName
    /// The top-level zone file.
    public var file: String
    /// In file order (includes expanded where their `$INCLUDE` stood).
    public var records: [ZoneRecord]
    public var soa: ResourceRecord
    /// TTL for negative answers (RFC 2308 §5): min(SOA TTL, SOA MINIMUM).
    public var negativeTTL: UInt32
    /// Warning-level findings of a successful load (e.g. TTLs normalised inside an RRset).
    public var warnings: [ZoneProblem]

    public init(
        origin: DNSName,
        file: String,
        records: [ZoneRecord],
        soa: ResourceRecord,
        negativeTTL: UInt32,
        warnings: [ZoneProblem] = []
    ) {
        self.origin = origin
        self.file = file
        self.records = records
        self.soa = soa
        self.negativeTTL = negativeTTL
        self.warnings = warnings
    }

    /// The SOA serial.
    public var serial: UInt32 { soa.soaSerial ?? 0 }
}

/// One finding of the loader, printed `file:line: message` (`file: message` when it concerns the whole zone).
public struct ZoneProblem: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Severity: Sendable, Hashable { case error, warning }
    public var file: String
    public var line: Int?
    public var message: String
    public var severity: Severity

    public init(file: String, line: Int?, message: String, severity: Severity = .error) {
        self.file = file
        self.line = line
        self.message = message
        self.severity = severity
    }

    public var isWarning: Bool { severity == .warning }

    public var description: String {
        let place = line.map { "\(file):\($0)" } ?? file
        return "\(place): " + (isWarning ? "warning: " : "") + message
    }
}

/// Everything wrong with a zone that failed to load (errors, plus any warnings), one per line.
public struct ZoneProblems: Error, Sendable, CustomStringConvertible {
    public var problems: [ZoneProblem]
    public init(_ problems: [ZoneProblem]) { self.problems = problems }
    public var errors: [ZoneProblem] { problems.filter { !$0.isWarning } }
    public var warnings: [ZoneProblem] { problems.filter(\.isWarning) }
    public var description: String { problems.map(\.description).joined(separator: "\n") }
}
