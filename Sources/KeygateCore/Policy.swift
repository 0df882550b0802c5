/// Named limits and rules that apply to an account (SPEC section 1).
public struct Policy: Hashable, Sendable {
    public var name: String
    public var maxKeys: Int
    /// Access token lifetime in seconds.
    public var tokenTTL: Int64
    public var allowIPs: IPAllowList
    /// Scopes a token may carry; empty means the policy grants no scopes.
    public var scopes: [String]

    public init(name: String, maxKeys: Int = 5, tokenTTL: Int64 = 3600, allowIPs: IPAllowList = .any, scopes: [String] = []) {
        self.name = name
        self.maxKeys = maxKeys
        self.tokenTTL = tokenTTL
        self.allowIPs = allowIPs
        self.scopes = scopes
    }

    public static let builtinDefault = Policy(name: "default")
}

/// One `accounts:` entry: a glob over account names (`*` matches any run of
/// characters, `?` one character) and the policy it selects.
public struct AccountRule: Hashable, Sendable {
    public var pattern: String
    public var policy: String
    private let patternBytes: [UInt8]

    public init(pattern: String, policy: String) {
        self.pattern = pattern
        self.policy = policy
        self.patternBytes = Array(pattern.utf8)
    }

    public func matches(_ account: String) -> Bool {
        var a = account
        return a.withUTF8 { Glob.match(pattern: patternBytes, $0) }
    }
}

enum Glob {
    static func match(pattern p: [UInt8], _ s: UnsafeBufferPointer<UInt8>) -> Bool {
        var pi = 0, si = 0
        var star: Int? = nil, mark = 0
        while si < s.endIndex {
            if pi < p.endIndex && (p[pi] == UInt8(ascii: "?") || p[pi] == s[si]) {
                pi += 1; si += 1
            } else if pi < p.endIndex && p[pi] == UInt8(ascii: "*") {
                star = pi; mark = si; pi += 1
            } else if let st = star {
                pi = st + 1; mark += 1; si = mark
            } else {
                return false
            }
        }
        while pi < p.endIndex && p[pi] == UInt8(ascii: "*") { pi += 1 }
        return pi == p.endIndex
    }
}

/// Every policy and the account rules; answers which policy governs an account.
public struct PolicyBook: Sendable, Hashable {
    public let policies: [String: Policy]
    public let rules: [AccountRule]
    public let defaultPolicy: Policy

    public init(policies: [String: Policy] = ["default": .builtinDefault], rules: [AccountRule] = []) {
        var all = policies
        if all["default"] == nil { all["default"] = .builtinDefault }
        self.policies = all
        self.rules = rules
        self.defaultPolicy = all["default"]!
    }

    /// First matching rule wins; unmatched accounts use `default`.
    public func policy(for account: String) -> Policy {
        for rule in rules where rule.matches(account) {
            if let p = policies[rule.policy] { return p }
        }
        return defaultPolicy
    }
}

/// Durations as the configuration and the API write them: `45s`, `15m`, `1h`,
/// `7d`, or whole seconds.
public enum DurationText {
    public static func parse(_ text: String) -> Int64? {
        guard let last = text.last else { return nil }
        let unit: Int64
        var digits = Substring(text)
        switch last {
        case "s": unit = 1; digits = digits.dropLast()
        case "m": unit = 60; digits = digits.dropLast()
        case "h": unit = 3600; digits = digits.dropLast()
        case "d": unit = 86400; digits = digits.dropLast()
        default: unit = 1
        }
        guard !digits.isEmpty, digits.utf8.count <= 12, digits.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
              let n = Int64(digits) else { return nil }
        let (v, overflow) = n.multipliedReportingOverflow(by: unit)
        return overflow ? nil : v
    }

    public static func format(_ seconds: Int64) -> String {
        if seconds > 0 && seconds % 86400 == 0 { return "\(seconds / 86400)d" }
        if seconds > 0 && seconds % 3600 == 0 { return "\(seconds / 3600)h" }
        if seconds > 0 && seconds % 60 == 0 { return "\(seconds / 60)m" }
        return "\(seconds)s"
    }
}
