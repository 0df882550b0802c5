/// Why a credential was refused; the raw values are wire codes and never change.
public enum RefusalCode: String, Sendable {
    case malformed = "MALFORMED"
    case unknown = "UNKNOWN"
    case expired = "EXPIRED"
    case revoked = "REVOKED"
    case ipNotAllowed = "IP_NOT_ALLOWED"
    case rateLimited = "RATE_LIMITED"
}

public enum Verdict: Sendable {
    case apiKey(APIKey, policy: Policy)
    case accessToken(AccessToken, policy: Policy, expiresIn: Int64)
    case refused(RefusalCode)
}

/// "Is this credential good for this request now": a pure function of the
/// configuration snapshot, the stored state, the credential, the address and
/// the time (STYLE habit 1).
public enum Verifier {
    public static func decide(
        secret: [UInt8], ip: IPAddress?, now: Timestamp, index: CredentialIndex, policies: PolicyBook
    ) -> Verdict {
        secret.withUnsafeBufferPointer { decide(secret: $0, ip: ip, now: now, index: index, policies: policies) }
    }

    public static func decide(
        secret: UnsafeBufferPointer<UInt8>, ip: IPAddress?, now: Timestamp, index: CredentialIndex, policies: PolicyBook
    ) -> Verdict {
        guard let kind = SecretFormat.classify(secret) else { return .refused(.malformed) }
        let digest = SecretDigest(of: secret)
        switch kind {
        case .apiKey:
            guard let key = index.keysByDigest[digest] else { return .refused(.unknown) }
            if !key.digest.constantTimeEquals(digest) {
                // The secret before a roll: accepted while its grace runs,
                // REVOKED after it (until the sweep forgets it), sweep or not.
                guard let previous = key.previousDigest, previous.constantTimeEquals(digest) else { return .refused(.unknown) }
                if !key.isRolling(at: now) { return .refused(.revoked) }
            }
            if key.isExpired(at: now) { return .refused(.expired) }
            let policy = policies.policy(for: key.account)
            guard key.allowIPs.permits(ip), policy.allowIPs.permits(ip) else { return .refused(.ipNotAllowed) }
            return .apiKey(key, policy: policy)
        case .accessToken:
            guard let token = index.tokensByDigest[digest], token.digest.constantTimeEquals(digest) else {
                return .refused(.unknown)
            }
            if now >= token.expiresAt { return .refused(.expired) }
            guard !token.revoked, let pair = index.clientsByID[token.clientID], !pair.isRetired(at: now) else {
                return .refused(.revoked)
            }
            let policy = policies.policy(for: token.account)
            guard pair.allowIPs.permits(ip), policy.allowIPs.permits(ip) else { return .refused(.ipNotAllowed) }
            return .accessToken(token, policy: policy, expiresIn: token.expiresAt - now)
        case .clientSecret:
            // A client secret is only ever exchanged at /oauth/token, never presented as a bearer credential.
            return .refused(.unknown)
        }
    }
}
