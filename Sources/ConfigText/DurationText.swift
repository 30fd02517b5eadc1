/// Durations as operators write them (`500ms`, `2s`, `1.5m`, `1h`, `1d`, or a plain number of seconds),
/// read without floating point, so no input can trap: every value is whole milliseconds, at most
/// `DurationText.limit`. Used by the config, the control API (`for`) and the CLI (`--for`).
public enum DurationText {
    /// The largest duration any gtmd setting takes: 10,000 days.
    public static let limitMilliseconds: Int64 = 10_000 * 86_400_000
    public static var limit: Duration { .milliseconds(limitMilliseconds) }

    /// Why a text is not a duration.
    public enum Failure: Error, Equatable, Sendable, CustomStringConvertible {
        /// Not digits with an optional fraction and one unit.
        case syntax
        /// Above `limit` (huge numbers, many digits).
        case tooLarge
        /// Not a whole number of milliseconds (`0.0001s`, `1.5ms`).
        case tooPrecise

        public var description: String {
            switch self {
            case .syntax:
                "is not a duration (a number with a unit: 500ms, 2s, 1m, 1h, 1d; at most \(DurationText.format(DurationText.limit)))"
            case .tooLarge: "is too large: durations go up to \(DurationText.format(DurationText.limit))"
            case .tooPrecise: "is finer than 1ms, the smallest step a duration has"
            }
        }
    }

    static let units: [(suffix: String, milliseconds: Int64)] = [
        ("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000),
    ]

    /// Reads `text` (spaces around it are ignored). A bare number is seconds when `bareSeconds`.
    public static func parse(_ text: String, bareSeconds: Bool = true) -> Result<Duration, Failure> {
        var s = Substring(text)
        while s.first == " " || s.first == "\t" { s.removeFirst() }
        while s.last == " " || s.last == "\t" { s.removeLast() }
        var unit: Int64? = nil
        for u in units where s.hasSuffix(u.suffix) {
            // "ms" ends in "s" too: the longest unit that fits wins (listed first).
            unit = u.milliseconds
            s = s.dropLast(u.suffix.count)
            break
        }
        guard let scale = unit ?? (bareSeconds ? 1000 : nil) else { return .failure(.syntax) }
        let parts = s.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        let whole = parts[0]
        var fraction = parts.count == 2 ? parts[1] : ""
        guard !whole.isEmpty, whole.utf8.allSatisfy(isDigit), fraction.utf8.allSatisfy(isDigit),
            parts.count == 1 || !fraction.isEmpty
        else { return .failure(.syntax) }

        // Whole part: digits one by one, stopping as soon as the value passes the limit.
        var value: Int64 = 0
        for c in whole.utf8 {
            value = value * 10 + Int64(c - 0x30)
            if value > limitMilliseconds { return .failure(.tooLarge) }
        }
        let (wholeMs, overflow) = value.multipliedReportingOverflow(by: scale)
        if overflow || wholeMs > limitMilliseconds { return .failure(.tooLarge) }

        // Fraction: trailing zeros say nothing; more than 9 significant digits is never whole milliseconds.
        while fraction.last == "0" { fraction.removeLast() }
        var fractionMs: Int64 = 0
        if !fraction.isEmpty {
            guard fraction.count <= 9 else { return .failure(.tooPrecise) }
            var digits: Int64 = 0
            var divisor: Int64 = 1
            for c in fraction.utf8 {
                digits = digits * 10 + Int64(c - 0x30)
                divisor *= 10
            }
            let scaled = digits * scale  // < 10^9 * 86,400,000 < Int64.max
            guard scaled % divisor == 0 else { return .failure(.tooPrecise) }
            fractionMs = scaled / divisor
        }
        let total = wholeMs + fractionMs
        if total > limitMilliseconds { return .failure(.tooLarge) }
        return .success(.milliseconds(total))
    }

    /// `500ms`, `30s`, `5m`, `2h`, `1d`: the largest unit that states `d` exactly.
    public static func format(_ d: Duration) -> String {
        let ms = milliseconds(d)
        for u in units.reversed() where ms != 0 && ms % u.milliseconds == 0 {
            return "\(ms / u.milliseconds)\(u.suffix)"
        }
        return "\(ms)ms"
    }

    /// Whole milliseconds of `d`, saturating (never traps, whatever `d` holds).
    public static func milliseconds(_ d: Duration) -> Int64 {
        let (seconds, atto) = d.components
        let (ms, overflow) = seconds.multipliedReportingOverflow(by: 1000)
        if overflow { return seconds < 0 ? .min : .max }
        let (sum, o2) = ms.addingReportingOverflow(atto / 1_000_000_000_000_000)
        return o2 ? (ms < 0 ? .min : .max) : sum
    }

    private static func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }

    /// `value` with exactly `places` decimals (0...9), rounded to the nearest: what `%.Nf` prints (an exact tie
    /// such as 0.125 rounds away from zero here, to even there) while `|value| × 10^places` stays below 2^53,
    /// which covers the times and ratios that log lines show; beyond that Swift's own `description` of the
    /// number (`3e+20`); `nan`, `inf`, `-inf` when not finite. Without Foundation's `String(format:)`, whose
    /// locale machinery made the first log line of a start cost ~0.3 ms.
    public static func fixed(_ value: Double, places: Int) -> String {
        guard value.isFinite else { return value.isNaN ? "nan" : (value < 0 ? "-inf" : "inf") }
        let places = min(max(places, 0), 9)
        var scale: Int64 = 1
        for _ in 0..<places { scale *= 10 }
        let magnitude = (abs(value) * Double(scale)).rounded()
        guard magnitude < 9_007_199_254_740_992 else { return value.description }
        let scaled = Int64(magnitude)
        let sign = value.sign == .minus ? "-" : ""  // as %f: -0.0004 is "-0.00"
        guard places > 0 else { return sign + String(scaled) }
        let fraction = String(scaled % scale)
        return sign + String(scaled / scale) + "." + String(repeating: "0", count: places - fraction.count) + fraction
    }
}

extension DurationText {
    /// What `%g` prints for times and counts: six significant digits, no trailing zeros (`2.5`, `10`, `0.125`),
    /// for magnitudes from 10^-4 to below 10^6; outside that, or not finite, Swift's own `description`. An exact
    /// tie rounds away from zero, as in `fixed` (`%g` rounds it to even).
    public static func general(_ value: Double) -> String {
        guard value.isFinite else { return value.isNaN ? "nan" : (value < 0 ? "-inf" : "inf") }
        if value == 0 { return value.sign == .minus ? "-0" : "0" }
        let exponent = Int((abs(value)).log10Floor)
        guard exponent >= -4, exponent < 6 else { return value.description }
        var text = fixed(value, places: max(0, 5 - exponent))
        if text.contains(".") {
            while text.hasSuffix("0") { text.removeLast() }
            if text.hasSuffix(".") { text.removeLast() }
        }
        return text
    }
}

extension Double {
    /// floor(log10(self)) for a positive finite number, by comparison (no libm rounding at powers of ten).
    fileprivate var log10Floor: Double {
        var e = 0.0
        var p = 1.0
        if self >= 1 {
            while p * 10 <= self {
                p *= 10
                e += 1
            }
        } else {
            while p > self {
                p /= 10
                e -= 1
            }
        }
        return e
    }
}

/// `DurationText.parse`, as an optional.
public func parseDuration(_ text: String) -> Duration? { try? DurationText.parse(text).get() }

/// `DurationText.format`.
public func format(_ d: Duration) -> String { DurationText.format(d) }
