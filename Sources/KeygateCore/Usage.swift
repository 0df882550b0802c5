/// Whose use a count is: a key, or a client pair (its tokens).
public enum UsageSubject: Hashable, Sendable {
    case key(String)
    case client(String)

    /// The stored form: `key:<id>` or `client:<id>`.
    public var text: String {
        switch self {
        case .key(let id): return "key:" + id
        case .client(let id): return "client:" + id
        }
    }

    public init?(text: String) {
        if text.hasPrefix("key:") { self = .key(String(text.dropFirst(4))) }
        else if text.hasPrefix("client:") { self = .client(String(text.dropFirst(7))) }
        else { return nil }
    }
}

/// What a count counts: a verification's answer, or a token issued.
public enum UsageResult: UInt8, Hashable, Sendable, CaseIterable {
    case valid, expired, revoked, ipNotAllowed, rateLimited, tokenIssued

    public init?(_ code: RefusalCode) {
        switch code {
        case .expired: self = .expired
        case .revoked: self = .revoked
        case .ipNotAllowed: self = .ipNotAllowed
        case .rateLimited: self = .rateLimited
        case .malformed, .unknown: return nil  // no credential to charge it to
        }
    }

    /// The stored and wire name: `valid`, a refusal code, `token_issued`.
    public var text: String {
        switch self {
        case .valid: return "valid"
        case .expired: return RefusalCode.expired.rawValue
        case .revoked: return RefusalCode.revoked.rawValue
        case .ipNotAllowed: return RefusalCode.ipNotAllowed.rawValue
        case .rateLimited: return RefusalCode.rateLimited.rawValue
        case .tokenIssued: return "token_issued"
        }
    }

    public init?(text: String) {
        guard let r = Self.allCases.first(where: { $0.text == text }) else { return nil }
        self = r
    }
}

/// One counter: a subject's results of one kind on one UTC day.
public struct UsageCell: Hashable, Sendable {
    public var subject: UsageSubject
    /// Days since 1970-01-01 UTC.
    public var day: Int32
    public var result: UsageResult

    public init(subject: UsageSubject, day: Int32, result: UsageResult) {
        self.subject = subject; self.day = day; self.result = result
    }
}

/// Counters as event loops and the writer add them up: pure data.
public typealias UsageCounts = [UsageCell: Int64]

public enum UsageWindow {
    /// Usage is kept and answered for this many UTC days, today included.
    public static let days: Int32 = 30

    @inline(__always)
    public static func day(of t: Timestamp) -> Int32 { Int32(truncatingIfNeeded: t >= 0 ? t / 86400 : (t - 86399) / 86400) }

    /// The first day still kept at `now`.
    public static func firstDay(at now: Timestamp) -> Int32 { day(of: now) - days + 1 }

    /// `2026-12-01` for a day number (proleptic Gregorian, UTC).
    public static func date(ofDay day: Int32) -> String {
        // Howard Hinnant's civil_from_days.
        let z = Int64(day) + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        let y = yoe + era * 400 + (m <= 2 ? 1 : 0)
        func two(_ v: Int64) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(y)-\(two(m))-\(two(d))"
    }

    /// Adds `b` into `a`.
    public static func merge(_ a: inout UsageCounts, _ b: UsageCounts) {
        for (cell, n) in b { a[cell, default: 0] += n }
    }
}

/// One day of a subject's usage, as the API answers it.
public struct UsageDay: Equatable, Sendable {
    public var day: Int32
    public var valid: Int64
    public var refused: [String: Int64]
    public var tokensIssued: Int64

    public init(day: Int32, valid: Int64 = 0, refused: [String: Int64] = [:], tokensIssued: Int64 = 0) {
        self.day = day; self.valid = valid; self.refused = refused; self.tokensIssued = tokensIssued
    }

    /// The days of `subject` in `counts` from `firstDay` on, oldest first;
    /// days without any count are left out.
    public static func days(of subject: UsageSubject, in counts: UsageCounts, from firstDay: Int32) -> [UsageDay] {
        var byDay: [Int32: UsageDay] = [:]
        for (cell, n) in counts where cell.subject == subject && cell.day >= firstDay && n > 0 {
            var d = byDay[cell.day] ?? UsageDay(day: cell.day)
            switch cell.result {
            case .valid: d.valid += n
            case .tokenIssued: d.tokensIssued += n
            default: d.refused[cell.result.text, default: 0] += n
            }
            byDay[cell.day] = d
        }
        return byDay.values.sorted { $0.day < $1.day }
    }
}
