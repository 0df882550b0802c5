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

    /// The tokens of `clientID` to forget so that one more fits under `maxLive`.
    public static func tokensToEvict(clientID: String, index: CredentialIndex, now: Timestamp, maxLive: Int) -> [SecretDigest] {
        // Every token the daemon still holds for the client counts against the
        // cap, revoked and expired ones included (they stay refused as REVOKED
        // or EXPIRED until forgotten), so a client that issues and revokes in a
        // loop holds at most `maxLive`. Forgotten first: expired, then revoked
        // (oldest first), then the oldest live ones.
        let held = index.heldTokens(client: clientID)
        let excess = held.count - maxLive + 1
        guard excess > 0 else { return [] }
        var dead: [AccessToken] = []
        for d in held {
            if let t = index.tokensByDigest[d], !t.isLive(at: now) { dead.append(t) }
        }
        dead.sort { ($0.expiresAt <= now ? 0 : 1, $0.issuedAt, $0.digest.w0) < ($1.expiresAt <= now ? 0 : 1, $1.issuedAt, $1.digest.w0) }
        var out = dead.prefix(excess).map(\.digest)
        if out.count < excess {
            for d in index.liveTokensByClient[clientID] ?? [] where out.count < excess {
                if index.tokensByDigest[d]?.isLive(at: now) ?? false { out.append(d) }
            }
        }
        return out
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
