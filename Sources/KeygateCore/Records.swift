/// Unix time in whole seconds.
public typealias Timestamp = Int64

/// A static API key as held in memory and in the database: never its secret.
public struct APIKey: Hashable, Sendable {
    public var id: String
    public var account: String
    public var name: String
    public var digest: SecretDigest
    public var hint: String
    public var allowIPs: IPAllowList
    public var createdAt: Timestamp
    public var expiresAt: Timestamp?
    public var lastUsedAt: Timestamp?
    public var lastUsedIP: String?
    /// After a roll: the secret before it, accepted until `rollingUntil`.
    public var previousDigest: SecretDigest?
    public var rollingUntil: Timestamp?

    public init(id: String, account: String, name: String, digest: SecretDigest, hint: String,
                allowIPs: IPAllowList, createdAt: Timestamp, expiresAt: Timestamp?,
                lastUsedAt: Timestamp? = nil, lastUsedIP: String? = nil,
                previousDigest: SecretDigest? = nil, rollingUntil: Timestamp? = nil) {
        self.id = id; self.account = account; self.name = name; self.digest = digest; self.hint = hint
        self.allowIPs = allowIPs; self.createdAt = createdAt; self.expiresAt = expiresAt
        self.lastUsedAt = lastUsedAt; self.lastUsedIP = lastUsedIP
        self.previousDigest = previousDigest; self.rollingUntil = rollingUntil
    }

    /// The secret before the last roll is still accepted at `now`.
    @inline(__always)
    public func isRolling(at now: Timestamp) -> Bool {
        if previousDigest != nil, let until = rollingUntil { return now < until }
        return false
    }

    @inline(__always)
    public func isExpired(at now: Timestamp) -> Bool {
        if let e = expiresAt { return now >= e }
        return false
    }
}

/// An OAuth 2.0 client pair. A replaced pair lingers with `retiresAt` set while
/// its grace period runs.
public struct ClientPair: Hashable, Sendable {
    public var clientID: String
    public var account: String
    public var secretDigest: SecretDigest
    public var allowIPs: IPAllowList
    public var createdAt: Timestamp
    public var retiresAt: Timestamp?

    public init(clientID: String, account: String, secretDigest: SecretDigest, allowIPs: IPAllowList,
                createdAt: Timestamp, retiresAt: Timestamp? = nil) {
        self.clientID = clientID; self.account = account; self.secretDigest = secretDigest
        self.allowIPs = allowIPs; self.createdAt = createdAt; self.retiresAt = retiresAt
    }

    @inline(__always)
    public func isRetired(at now: Timestamp) -> Bool {
        if let r = retiresAt { return now >= r }
        return false
    }
}

/// An issued access token; revoked tokens are remembered until they would
/// have expired so that verification can say REVOKED rather than UNKNOWN.
public struct AccessToken: Hashable, Sendable {
    public var digest: SecretDigest
    public var clientID: String
    public var account: String
    public var scope: String?
    public var issuedAt: Timestamp
    public var expiresAt: Timestamp
    public var revoked: Bool

    public init(digest: SecretDigest, clientID: String, account: String, scope: String?,
                issuedAt: Timestamp, expiresAt: Timestamp, revoked: Bool = false) {
        self.digest = digest; self.clientID = clientID; self.account = account; self.scope = scope
        self.issuedAt = issuedAt; self.expiresAt = expiresAt; self.revoked = revoked
    }
}
