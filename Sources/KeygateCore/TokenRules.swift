public enum ScopeViolation: Error, Equatable, Sendable {
    case policyHasNoScopes(policy: String)
    case notAllowed(scope: String, policy: String, allowed: [String])
}

/// The rules on access tokens, as pure functions.
public enum TokenRules {
    /// The scope a token carries (RFC 6749 section 3.3): nothing asked for grants
    /// every scope of the policy; anything outside the policy is refused.
    public static func grantedScope(asked: String?, policy: Policy) throws(ScopeViolation) -> String? {
        guard let asked else { return policy.scopes.isEmpty ? nil : policy.scopes.joined(separator: " ") }
        let wanted = asked.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        if wanted.isEmpty { return policy.scopes.isEmpty ? nil : policy.scopes.joined(separator: " ") }
        if policy.scopes.isEmpty { throw .policyHasNoScopes(policy: policy.name) }
        var granted: [String] = []
        for w in wanted {
            guard policy.scopes.contains(w) else { throw .notAllowed(scope: w, policy: policy.name, allowed: policy.scopes) }
            if !granted.contains(w) { granted.append(w) }
        }
        return granted.joined(separator: " ")
    }

    /// The oldest live tokens of `clientID` to revoke so that one more fits
    /// under `maxLive`.
    public static func tokensToEvict(clientID: String, index: CredentialIndex, now: Timestamp, maxLive: Int) -> [SecretDigest] {
        let live = (index.liveTokensByClient[clientID] ?? []).filter { index.tokensByDigest[$0]?.isLive(at: now) ?? false }
        let excess = live.count - maxLive + 1
        return excess > 0 ? Array(live.prefix(excess)) : []
    }

    /// The live tokens of every pair of `account`: what "revoke the account's tokens" revokes.
    public static func liveTokens(account: String, index: CredentialIndex, now: Timestamp) -> [SecretDigest] {
        var out: [SecretDigest] = []
        for (cid, pair) in index.clientsByID where pair.account == account {
            for d in index.liveTokensByClient[cid] ?? [] where index.tokensByDigest[d]?.isLive(at: now) ?? false { out.append(d) }
        }
        return out
    }
}
