/// Why the engine refused an operation, in the domain's words. The HTTP status
/// and wire code of each case are chosen at the edge (KeygateServer), never here.
public enum KeygateError: Error, Equatable, Sendable {
    /// A request argument breaks a rule; the text names the field and the rule,
    /// and quotes the value only through `Redact`.
    case invalidArgument(String)
    case keyRule(KeyRuleViolation)
    case scope(ScopeViolation)
    case noClient(account: String)
    /// Unknown client id, wrong secret, or a retired pair: one answer for all.
    case invalidClient
    /// The state could not be read or written; nothing was changed.
    case storageUnavailable(String)
}

extension AccessToken {
    /// The one definition of a live token: not revoked and not yet expired.
    /// Whether its pair still stands is the index's question (`liveToken`).
    @inline(__always)
    public func isLive(at now: Timestamp) -> Bool { !revoked && expiresAt > now }
}
