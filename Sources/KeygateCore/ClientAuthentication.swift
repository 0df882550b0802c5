/// OAuth client authentication (RFC 6749 section 2.3.1) and introspection
/// (RFC 7662) as pure functions of the state.
public enum ClientAuthentication {
    /// The pair `clientID` names when `secret` is its current secret at `now`:
    /// well-formed, matching in constant time, and not past its grace. The
    /// same nil for an unknown id, a wrong secret and a retired pair.
    public static func authenticate(clientID: String, secret: UnsafeBufferPointer<UInt8>, index: CredentialIndex, now: Timestamp) -> ClientPair? {
        guard SecretFormat.classify(secret) == .clientSecret,
              let pair = index.clientsByID[clientID], !pair.isRetired(at: now),
              pair.secretDigest.constantTimeEquals(SecretDigest(of: secret)) else { return nil }
        return pair
    }

    public static func authenticate(clientID: String, secret: String, index: CredentialIndex, now: Timestamp) -> ClientPair? {
        Array(secret.utf8).withUnsafeBufferPointer { authenticate(clientID: clientID, secret: $0, index: index, now: now) }
    }
}

/// What introspection may say of a presented secret.
public enum Introspected: Equatable, Sendable {
    case accessToken(AccessToken)
    case apiKey(APIKey)
    case inactive
}

public enum Introspection {
    /// Active: a live token of a standing pair, or an unexpired key. Anything
    /// else, client secrets included, is inactive (RFC 7662 section 2.2).
    public static func inspect(_ secret: UnsafeBufferPointer<UInt8>, index: CredentialIndex, now: Timestamp) -> Introspected {
        switch SecretFormat.classify(secret) {
        case .accessToken?:
            guard let t = index.liveToken(SecretDigest(of: secret), now: now) else { return .inactive }
            return .accessToken(t)
        case .apiKey?:
            guard let k = index.acceptedKey(SecretDigest(of: secret), now: now) else { return .inactive }
            return .apiKey(k)
        default:
            return .inactive
        }
    }

    public static func inspect(_ secret: String, index: CredentialIndex, now: Timestamp) -> Introspected {
        Array(secret.utf8).withUnsafeBufferPointer { inspect($0, index: index, now: now) }
    }
}

extension CredentialIndex {
    /// The token with `digest` if it is live and its pair still stands at `now`.
    public func liveToken(_ digest: SecretDigest, now: Timestamp) -> AccessToken? {
        guard let t = tokensByDigest[digest], t.isLive(at: now),
              let pair = clientsByID[t.clientID], !pair.isRetired(at: now) else { return nil }
        return t
    }
}
