/// A secret reported as leaked, as the engine gets it: its kind, digest and
/// hint; the secret itself goes no further than the request's decoding.
public struct LeakedSecret: Sendable, Equatable {
    public var kind: SecretKind
    public var digest: SecretDigest
    public var hint: String

    public init(kind: SecretKind, digest: SecretDigest, hint: String) {
        self.kind = kind; self.digest = digest; self.hint = hint
    }

    /// nil for anything that is not a well-formed Keygate secret (prefix, length, alphabet, checksum).
    public init?(secret: String) {
        guard let kind = SecretFormat.classify(secret) else { return nil }
        self.init(kind: kind, digest: SecretDigest(of: Array(secret.utf8)), hint: SecretFormat.hint(secret))
    }
}

/// What happens to a leaked secret (SPEC 12).
public enum LeakAction: String, Sendable {
    /// A live API key: deleted.
    case deleted
    /// A live access token, or a key's previous secret in its grace: ended.
    case revoked
    /// A live client secret: reported; its pair is not replaced automatically.
    case reported
    /// Unknown, or no longer accepted: nothing to do.
    case none
}

public struct LeakOutcome: Sendable, Equatable {
    public var kind: SecretKind
    public var hint: String
    /// The owner, when the secret is known at all.
    public var account: String?
    public var action: LeakAction
    public var keyID: String?
    public var clientID: String?
    /// The action is what would be done; nothing was.
    public var dryRun: Bool
    /// The same secret came earlier in the report: same outcome, nothing more done.
    public var repeated = false

    public init(kind: SecretKind, hint: String, account: String?, action: LeakAction, keyID: String? = nil, clientID: String? = nil, dryRun: Bool) {
        self.kind = kind; self.hint = hint; self.account = account; self.action = action
        self.keyID = keyID; self.clientID = clientID; self.dryRun = dryRun
    }

    /// Whether the secret still let someone in when it was reported.
    public var wasLive: Bool { action != .none }
}

/// Decides, secret by secret, what a leak report does to the state, and
/// gathers the changes. Pure: the caller commits `changes`. A secret named
/// twice gets the same outcome twice and one change.
public struct LeakPlan {
    private var index: CredentialIndex
    let now: Timestamp
    let dryRun: Bool
    public private(set) var changes: [StateChange] = []
    private var seen: [SecretDigest: LeakOutcome] = [:]
    private var pairsBySecret: [SecretDigest: ClientPair]?

    public init(index: CredentialIndex, now: Timestamp, dryRun: Bool) {
        self.index = index; self.now = now; self.dryRun = dryRun
    }

    public mutating func handle(_ s: LeakedSecret) -> LeakOutcome {
        if var o = seen[s.digest] {
            o.repeated = true
            return o
        }
        let o = decide(s)
        seen[s.digest] = o
        return o
    }

    private mutating func decide(_ s: LeakedSecret) -> LeakOutcome {
        func outcome(_ account: String?, _ action: LeakAction, key: String? = nil, client: String? = nil) -> LeakOutcome {
            LeakOutcome(kind: s.kind, hint: s.hint, account: account, action: action, keyID: key, clientID: client, dryRun: dryRun)
        }
        switch s.kind {
        case .apiKey:
            guard let (key, previous) = index.keyMatching(s.digest) else { return outcome(nil, .none) }
            if key.isExpired(at: now) { return outcome(key.account, .none, key: key.id) }
            if !previous {
                record(.keyDeleted(id: key.id))
                return outcome(key.account, .deleted, key: key.id)
            }
            guard key.isRolling(at: now) else { return outcome(key.account, .none, key: key.id) }
            // The secret before a roll, in its grace: the grace ends now; the new secret stays.
            var ended = key
            ended.previousDigest = nil
            ended.rollingUntil = nil
            record(.keyUpdated(ended))
            return outcome(key.account, .revoked, key: key.id)
        case .accessToken:
            guard let t = index.tokensByDigest[s.digest], t.digest.constantTimeEquals(s.digest) else { return outcome(nil, .none) }
            guard index.liveToken(s.digest, now: now) != nil else { return outcome(t.account, .none, client: t.clientID) }
            record(.tokensRevoked([s.digest]))
            return outcome(t.account, .revoked, client: t.clientID)
        case .clientSecret:
            if pairsBySecret == nil {
                pairsBySecret = Dictionary(index.clientsByID.values.map { ($0.secretDigest, $0) }, uniquingKeysWith: { a, _ in a })
            }
            guard let pair = pairsBySecret?[s.digest], pair.secretDigest.constantTimeEquals(s.digest) else { return outcome(nil, .none) }
            if pair.isRetired(at: now) { return outcome(pair.account, .none, client: pair.clientID) }
            return outcome(pair.account, .reported, client: pair.clientID)
        }
    }

    private mutating func record(_ c: StateChange) {
        index.apply(c)
        changes.append(c)
    }
}

extension SecretKind {
    /// The wire name: `api_key`, `client_secret`, `access_token`.
    public var name: String {
        switch self {
        case .apiKey: return "api_key"
        case .clientSecret: return "client_secret"
        case .accessToken: return "access_token"
        }
    }

    public init?(name: String) {
        guard let k = Self.allCases.first(where: { $0.name == name }) else { return nil }
        self = k
    }
}
