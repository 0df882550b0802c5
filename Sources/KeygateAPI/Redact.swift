import KeygateCore

/// Echoing what a caller sent helps them fix it, unless what they sent is a
/// secret in the wrong place. Every error message that quotes request input
/// goes through here.
public enum Redact {
    /// `s`, cut to `max` characters, or a placeholder when it holds anything
    /// that could be (part of) a Keygate secret.
    public static func echo<S: StringProtocol>(_ s: S, max: Int = 64) -> String {
        if looksSecret(s) { return "<redacted: looks like a secret>" }
        return s.count > max ? String(s.prefix(max)) + "…" : String(s)
    }

    /// A request path with any secret-looking segment replaced.
    public static func path<S: StringProtocol>(_ p: S, max: Int = 100) -> String {
        let parts = p.split(separator: "/", omittingEmptySubsequences: false).map { looksSecret($0) ? "<redacted>" : String($0) }
        let joined = parts.joined(separator: "/")
        return joined.count > max ? String(joined.prefix(max)) + "…" : joined
    }

    public static func looksSecret<S: StringProtocol>(_ s: S) -> Bool { SecretFormat.mightContainSecret(s) }
}
