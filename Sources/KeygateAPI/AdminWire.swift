import KeygateCore

// The admin socket's request and answer types (SPEC section 6).

let exampleTime: Timestamp = 1_796_198_400  // 2026-12-02T08:00:00Z
let exampleKeyID = "key_4fT9aQ2mZ8bW1cXe"
let exampleClientID = "kgc_7Hs2LmQ9xT4vB8nR1cZpK3wE"

/// What the admin API shows of an API key: never the secret, only its hint.
public struct KeyView: WireType, Equatable {
    public var id: String
    public var name: String
    public var hint: String
    public var allowIPs: [String]
    public var createdAt: Timestamp
    public var expiresAt: Timestamp?
    public var lastUsedAt: Timestamp?
    public var lastUsedIP: String?
    /// While the secret before a roll is still accepted: until when.
    public var rollingUntil: Timestamp?

    /// The key as it stands at `now`: `rolling_until` only while the grace runs.
    public init(_ k: APIKey, now: Timestamp) {
        id = k.id; name = k.name; hint = k.hint; allowIPs = k.allowIPs.networks.map(\.description)
        createdAt = k.createdAt; expiresAt = k.expiresAt; lastUsedAt = k.lastUsedAt; lastUsedIP = k.lastUsedIP
        rollingUntil = k.isRolling(at: now) ? k.rollingUntil : nil
    }

    init(id: String, name: String, hint: String, allowIPs: [String], createdAt: Timestamp, expiresAt: Timestamp?,
         lastUsedAt: Timestamp?, lastUsedIP: String?, rollingUntil: Timestamp? = nil) {
        self.id = id; self.name = name; self.hint = hint; self.allowIPs = allowIPs; self.createdAt = createdAt
        self.expiresAt = expiresAt; self.lastUsedAt = lastUsedAt; self.lastUsedIP = lastUsedIP; self.rollingUntil = rollingUntil
    }

    public var members: JSONObject {
        ["id": .string(id), "name": .string(name), "hint": .string(hint),
         "allow_ips": .array(allowIPs.map(JSON.string)),
         "created_at": .string(TimeText.format(createdAt)), "expires_at": timeJSON(expiresAt),
         "last_used_at": timeJSON(lastUsedAt), "last_used_ip": lastUsedIP.map(JSON.string) ?? .null,
         "rolling_until": timeJSON(rollingUntil)]
    }
    public var json: JSON { .object(members) }

    public init(json: JSON) throws {
        let m = try Members(json, Self.schemaName)
        self.init(id: try m.string("id"), name: try m.string("name"), hint: try m.string("hint"), allowIPs: try m.strings("allow_ips"),
                  createdAt: try m.time("created_at"), expiresAt: m.optionalTime("expires_at"),
                  lastUsedAt: m.optionalTime("last_used_at"), lastUsedIP: m.optionalString("last_used_ip"),
                  rollingUntil: m.optionalTime("rolling_until"))
    }

    public static let schemaName = "Key"
    static let properties: [(String, JSON)] = [
        ("id", Schema.keyID),
        ("name", Schema.string("The key's name, unique within the account.", minLength: 1, maxLength: 100)),
        ("hint", Schema.hint),
        ("allow_ips", Schema.array(Schema.network, description: "Addresses the key may be used from; empty: any.")),
        ("created_at", Schema.time),
        ("expires_at", Schema.nullable(Schema.time)),
        ("last_used_at", Schema.nullable(Schema.time)),
        ("last_used_ip", Schema.nullable(Schema.string("The address of the last successful verification, when one was given."))),
        ("rolling_until", Schema.nullable(Schema.described(Schema.time, "After a roll with a grace: the secret before it is accepted until this time; null otherwise."))),
    ]
    public static let schema = Schema.object(properties, required: properties.map(\.0), description: "An API key, without its secret.")
    public static let example = KeyView(id: exampleKeyID, name: "CRM sync", hint: "kg_Xy3Pq", allowIPs: ["203.0.113.7"],
                                        createdAt: exampleTime, expiresAt: nil, lastUsedAt: exampleTime + 60, lastUsedIP: "203.0.113.7")
}

public struct KeyList: WireType, Equatable {
    public var account: String
    public var keys: [KeyView]

    public var json: JSON { ["account": .string(account), "keys": .array(keys.map(\.json))] }
    public init(account: String, keys: [KeyView]) { self.account = account; self.keys = keys }
    public init(json: JSON) throws {
        let m = try Members(json, Self.schemaName)
        self.init(account: try m.string("account"), keys: try m.list("keys", of: KeyView.self))
    }

    public static let schemaName = "KeyList"
    public static let schema = Schema.object([("account", Schema.account), ("keys", Schema.array(Schema.ref("Key")))],
                                             required: ["account", "keys"], description: "An account's keys in creation order.")
    public static let example = KeyList(account: "acme", keys: [.example])
}

/// The answer to a key creation: the key and, this once, its secret.
public struct CreatedKey: WireType, Equatable {
    public var key: KeyView
    public var account: String
    public var secret: String

    public init(key: KeyView, account: String, secret: String) { self.key = key; self.account = account; self.secret = secret }

    public var json: JSON {
        var o = key.members
        o["account"] = .string(account)
        o["key"] = .string(secret)
        return .object(o)
    }
    public init(json: JSON) throws {
        let m = try Members(json, Self.schemaName)
        self.init(key: try KeyView(json: json), account: try m.string("account"), secret: try m.string("key"))
    }

    public static let schemaName = "CreatedKey"
    public static let schema = Schema.object(KeyView.properties + [
        ("account", Schema.account),
        ("key", Schema.string("The secret: shown in this answer only, never again.", pattern: "^kg_[0-9A-Za-z]{46}$")),
    ], required: KeyView.properties.map(\.0) + ["account", "key"], description: "A new key with its secret, shown once.")
    public static let example = CreatedKey(key: KeyView(id: exampleKeyID, name: "CRM sync", hint: "kg_Xy3Pq", allowIPs: ["203.0.113.7"],
                                                        createdAt: exampleTime, expiresAt: exampleTime + 90 * 86400, lastUsedAt: nil, lastUsedIP: nil),
                                           account: "acme", secret: "kg_Xy3PqR7sT9uV1wX3yZ5aB7cD9eF1gH3iJ5kL7mN9o0aBcDe")
}

public struct CreateKeyRequest: WireType, Equatable {
    public var name: String
    /// Addresses and CIDR blocks; nil or []: unrestricted.
    public var allowIPs: [String]?
    /// A duration such as 90d; nil: never expires.
    public var expiresIn: String?

    public static let maxLifetime: Int64 = 10 * 365 * 86400
    static let what = "create key"

    public init(name: String, allowIPs: [String]? = nil, expiresIn: String? = nil) {
        self.name = name; self.allowIPs = allowIPs; self.expiresIn = expiresIn
    }

    public var json: JSON {
        var o: JSONObject = ["name": .string(name)]
        if let a = allowIPs { o["allow_ips"] = .array(a.map(JSON.string)) }
        if let e = expiresIn { o["expires_in"] = .string(e) }
        return .object(o)
    }

    public init(json: JSON) throws {
        let f = try RequestFields(json, what: Self.what, allowed: ["name", "allow_ips", "expires_in"])
        name = try f.string("name", required: true)!
        allowIPs = try f.strings("allow_ips", max: Validate.maxAllowIPs)
        expiresIn = try f.string("expires_in")
    }

    /// The key to create, every field checked.
    public func validated() throws -> NewKey {
        NewKey(name: try Validate.keyName(name, what: Self.what),
               allowIPs: try Validate.allowList(allowIPs ?? [], field: "allow_ips", what: Self.what),
               expiresIn: try expiresIn.map { try Validate.duration($0, field: "expires_in", what: Self.what, min: 60, max: Self.maxLifetime) })
    }

    public static let schemaName = "CreateKeyRequest"
    public static let schema = Schema.object([
        ("name", KeyNameSchema.schema),
        ("allow_ips", Schema.nullable(Schema.array(Schema.network, maxItems: Validate.maxAllowIPs,
                                                   description: "Restrict the key to these addresses and CIDR blocks; empty or null: any."))),
        ("expires_in", Schema.nullable(Schema.described(Schema.duration, "Expire the key after this long (60s to 3650d); omitted or null: never."))),
    ], required: ["name"])
    public static let example = CreateKeyRequest(name: "CRM sync", allowIPs: ["203.0.113.7"], expiresIn: "90d")
}

/// A key as the engine creates it: every field already valid.
public struct NewKey: Sendable, Equatable {
    public var name: String
    public var allowIPs: IPAllowList
    public var expiresIn: Int64?
    public init(name: String, allowIPs: IPAllowList = .any, expiresIn: Int64? = nil) {
        self.name = name; self.allowIPs = allowIPs; self.expiresIn = expiresIn
    }
}

/// What a changed key becomes: nil fields stay as they are.
public struct KeyChange: Sendable, Equatable {
    public var name: String?
    public var allowIPs: IPAllowList?
    public init(name: String? = nil, allowIPs: IPAllowList? = nil) { self.name = name; self.allowIPs = allowIPs }
}

public enum KeyNameSchema {
    /// Unicode's White_Space characters, which are trimmed from both ends.
    static let space = #"\t\n\u000b\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"#
    static let control = #"\u0000-\u001f\u007f-\u009f"#
    /// 1-100 characters; once surrounding white space is trimmed, at least one
    /// character is left and none is a control character.
    public static let schema = Schema.string("A name for the key, unique within the account: 1-100 characters, trimmed, no control characters.",
                                      pattern: "^[\(space)]*[^\(control)]*[^\(space)\(control)][^\(control)]*[\(space)]*$",
                                      minLength: 1, maxLength: 100, example: "CRM sync")
}

public struct UpdateKeyRequest: WireType, Equatable {
    public var name: String?
    /// nil: unchanged; []: unrestricted.
    public var allowIPs: [String]?
    static let what = "update key"

    public init(name: String? = nil, allowIPs: [String]? = nil) { self.name = name; self.allowIPs = allowIPs }

    public var json: JSON {
        var o = JSONObject()
        if let n = name { o["name"] = .string(n) }
        if let a = allowIPs { o["allow_ips"] = .array(a.map(JSON.string)) }
        return .object(o)
    }

    public init(json: JSON) throws {
        let f = try RequestFields(json, what: Self.what, allowed: ["name", "allow_ips"])
        name = try f.string("name", nullable: false)
        allowIPs = try f.strings("allow_ips", max: Validate.maxAllowIPs)
        if name == nil && allowIPs == nil { throw APIError.invalidRequest("\(Self.what): give 'name', 'allow_ips' or both") }
    }

    public func validated() throws -> KeyChange {
        KeyChange(name: try name.map { try Validate.keyName($0, what: Self.what) },
                  allowIPs: try allowIPs.map { try Validate.allowList($0, field: "allow_ips", what: Self.what) })
    }

    public static let schemaName = "UpdateKeyRequest"
    public static let schema: JSON = {
        guard case .object(var o) = Schema.object([
            ("name", KeyNameSchema.schema),
            ("allow_ips", Schema.nullable(Schema.array(Schema.network, maxItems: Validate.maxAllowIPs,
                                                       description: "The new restriction (replaces the old one); empty or null: any."))),
        ], required: []) else { return .null }
        o["minProperties"] = 1
        o["description"] = "Give name, allow_ips or both."
        return .object(o)
    }()
    public static let example = UpdateKeyRequest(name: "CRM sync (EU)", allowIPs: ["198.51.100.0/24"])
}

public struct ClientView: WireType, Equatable {
    public var clientID: String
    public var account: String
    public var createdAt: Timestamp
    public var allowIPs: [String]
    public var liveTokens: Int64?
    public var retiresAt: Timestamp?
    /// Replaced pairs still in their grace period.
    public var retiring: [ClientView]?

    public init(_ p: ClientPair, liveTokens: Int?, retiring: [ClientView]? = nil) {
        self.init(clientID: p.clientID, account: p.account, createdAt: p.createdAt, allowIPs: p.allowIPs.networks.map(\.description),
                  liveTokens: liveTokens.map(Int64.init), retiresAt: p.retiresAt, retiring: retiring)
    }

    init(clientID: String, account: String, createdAt: Timestamp, allowIPs: [String], liveTokens: Int64?, retiresAt: Timestamp?, retiring: [ClientView]?) {
        self.clientID = clientID; self.account = account; self.createdAt = createdAt; self.allowIPs = allowIPs
        self.liveTokens = liveTokens; self.retiresAt = retiresAt; self.retiring = retiring
    }

    public var members: JSONObject {
        var o: JSONObject = ["client_id": .string(clientID), "account": .string(account),
                             "created_at": .string(TimeText.format(createdAt)),
                             "allow_ips": .array(allowIPs.map(JSON.string))]
        if let n = liveTokens { o["live_tokens"] = .int(n) }
        if let r = retiresAt { o["retires_at"] = .string(TimeText.format(r)) }
        if let r = retiring, !r.isEmpty { o["retiring"] = .array(r.map(\.json)) }
        return o
    }
    public var json: JSON { .object(members) }

    public init(json: JSON) throws {
        let m = try Members(json, Self.schemaName)
        self.init(clientID: try m.string("client_id"), account: try m.string("account"), createdAt: try m.time("created_at"),
                  allowIPs: try m.strings("allow_ips"), liveTokens: m.object["live_tokens"]?.intValue,
                  retiresAt: m.optionalTime("retires_at"),
                  retiring: m.object["retiring"] == nil ? nil : try m.list("retiring", of: ClientView.self))
    }

    public static let schemaName = "Client"
    static let properties: [(String, JSON)] = [
        ("client_id", Schema.clientID),
        ("account", Schema.account),
        ("created_at", Schema.time),
        ("allow_ips", Schema.array(Schema.network, description: "Addresses that may ask for and use tokens; empty: any.")),
    ]
    public static let schema = Schema.object(properties + [
        ("live_tokens", Schema.integer("Access tokens of the account that are neither revoked nor expired.", minimum: 0)),
        ("retires_at", Schema.described(Schema.time, "A replaced pair stops working at this time.")),
        ("retiring", Schema.array(Schema.ref("Client"), description: "Replaced pairs still in their grace period.")),
    ], required: properties.map(\.0), description: "An OAuth 2.0 client pair, without its secret.")
    public static let example = ClientView(clientID: exampleClientID, account: "acme", createdAt: exampleTime, allowIPs: [],
                                           liveTokens: 2, retiresAt: nil, retiring: nil)
}

public struct GenerateClientRequest: WireType, Equatable {
    public var allowIPs: [String]?
    public var grace: String?
    static let what = "generate client"
    public static let maxGrace: Int64 = 30 * 86400

    public init(allowIPs: [String]? = nil, grace: String? = nil) { self.allowIPs = allowIPs; self.grace = grace }

    public var json: JSON {
        var o = JSONObject()
        if let a = allowIPs { o["allow_ips"] = .array(a.map(JSON.string)) }
        if let g = grace { o["grace"] = .string(g) }
        return .object(o)
    }

    /// An absent body means the defaults; a body must be an object.
    public init(json: JSON?) throws {
        guard let json else { self.init(); return }
        let f = try RequestFields(json, what: Self.what, allowed: ["allow_ips", "grace"])
        self.init(allowIPs: try f.strings("allow_ips", max: Validate.maxAllowIPs), grace: try f.string("grace"))
    }
    public init(json: JSON) throws { try self.init(json: Optional(json)) }

    public func validated() throws -> (allowIPs: IPAllowList, grace: Int64?) {
        (try Validate.allowList(allowIPs ?? [], field: "allow_ips", what: Self.what),
         try grace.map { try Validate.duration($0, field: "grace", what: Self.what, min: 1, max: Self.maxGrace) })
    }

    public static let schemaName = "GenerateClientRequest"
    public static let schema = Schema.object([
        ("allow_ips", Schema.nullable(Schema.array(Schema.network, maxItems: Validate.maxAllowIPs,
                                                   description: "Restrict token requests and token use to these addresses; empty or null: any."))),
        ("grace", Schema.nullable(Schema.described(Schema.duration, "Keep the previous pair and its tokens working this long (1s to 30d); omitted or null: they stop at once."))),
    ], required: [], description: "Optional; an empty body means an unrestricted pair and no grace.")
    public static let example = GenerateClientRequest(allowIPs: ["203.0.113.0/24"], grace: "1h")
}

/// A new pair and, this once, its secret.
public struct GeneratedClient: WireType, Equatable {
    public var client: ClientView
    public var secret: String
    public var previousClientID: String?
    public var previousRetiresAt: Timestamp?

    public init(client: ClientView, secret: String, previousClientID: String?, previousRetiresAt: Timestamp?) {
        self.client = client; self.secret = secret; self.previousClientID = previousClientID; self.previousRetiresAt = previousRetiresAt
    }

    public var json: JSON {
        var o = client.members
        o["client_secret"] = .string(secret)
        if let p = previousClientID { o["previous_client_id"] = .string(p) }
        if let r = previousRetiresAt { o["previous_retires_at"] = .string(TimeText.format(r)) }
        return .object(o)
    }
    public init(json: JSON) throws {
        let m = try Members(json, Self.schemaName)
        self.init(client: try ClientView(json: json), secret: try m.string("client_secret"),
                  previousClientID: m.optionalString("previous_client_id"), previousRetiresAt: m.optionalTime("previous_retires_at"))
    }

    public static let schemaName = "GeneratedClient"
    public static let schema = Schema.object(ClientView.properties + [
        ("client_secret", Schema.string("The secret: shown in this answer only, never again.", pattern: "^kgs_[0-9A-Za-z]{46}$")),
        ("previous_client_id", Schema.clientID),
        ("previous_retires_at", Schema.described(Schema.time, "When the replaced pair and its tokens stop working.")),
    ], required: ClientView.properties.map(\.0) + ["client_secret"], description: "A new client pair with its secret, shown once.")
    public static let example = GeneratedClient(
        client: ClientView(clientID: exampleClientID, account: "acme", createdAt: exampleTime, allowIPs: ["203.0.113.0/24"],
                           liveTokens: nil, retiresAt: nil, retiring: nil),
        secret: "kgs_Qw8Er7Ty6Ui5Op4As3Df2Gh1Jk0Lz9Xc8Vb7Nm6Qw5Er4Ty3", previousClientID: "kgc_2Bn4Mk6Lj8Hg0Fd2Sa4Pq6Wo8",
        previousRetiresAt: exampleTime + 3600)
}

public struct TokensRevoked: WireType, Equatable {
    public var account: String
    public var revoked: Int64
    public init(account: String, revoked: Int64) { self.account = account; self.revoked = revoked }
    public var json: JSON { ["account": .string(account), "revoked": .int(revoked)] }
    public init(json: JSON) throws {
        let m = try Members(json, Self.schemaName)
        self.init(account: try m.string("account"), revoked: try m.int("revoked"))
    }
    public static let schemaName = "TokensRevoked"
    public static let schema = Schema.object([("account", Schema.account),
                                              ("revoked", Schema.integer("How many live tokens were revoked.", minimum: 0))],
                                             required: ["account", "revoked"])
    public static let example = TokensRevoked(account: "acme", revoked: 3)
}

public struct AccountSummary: WireType, Equatable {
    public var account: String
    public var policy: String
    public var keys: Int64
    public var clientID: String?
    public var liveTokens: Int64

    public init(account: String, policy: String, keys: Int64, clientID: String?, liveTokens: Int64) {
        self.account = account; self.policy = policy; self.keys = keys; self.clientID = clientID; self.liveTokens = liveTokens
    }
    public var json: JSON {
        ["account": .string(account), "policy": .string(policy), "keys": .int(keys),
         "client_id": clientID.map(JSON.string) ?? .null, "live_tokens": .int(liveTokens)]
    }
    public init(json: JSON) throws {
        let m = try Members(json, Self.schemaName)
        self.init(account: try m.string("account"), policy: try m.string("policy"), keys: try m.int("keys"),
                  clientID: m.optionalString("client_id"), liveTokens: try m.int("live_tokens"))
    }
    public static let schemaName = "AccountSummary"
    public static let schema = Schema.object([
        ("account", Schema.account),
        ("policy", Schema.string("The policy that applies to the account.")),
        ("keys", Schema.integer("API keys held.", minimum: 0)),
        ("client_id", Schema.nullable(Schema.clientID)),
        ("live_tokens", Schema.integer("Live access tokens.", minimum: 0)),
    ], required: ["account", "policy", "keys", "client_id", "live_tokens"])
    public static let example = AccountSummary(account: "acme", policy: "default", keys: 2, clientID: exampleClientID, liveTokens: 1)
}

public struct AccountList: WireType, Equatable {
    public var accounts: [AccountSummary]
    public init(accounts: [AccountSummary]) { self.accounts = accounts }
    public var json: JSON { ["accounts": .array(accounts.map(\.json))] }
    public init(json: JSON) throws { self.init(accounts: try Members(json, Self.schemaName).list("accounts", of: AccountSummary.self)) }
    public static let schemaName = "AccountList"
    public static let schema = Schema.object([("accounts", Schema.array(Schema.ref("AccountSummary")))], required: ["accounts"],
                                             description: "Every account that holds a credential, by name.")
    public static let example = AccountList(accounts: [.example])
}

/// Where the state lives and, with PostgreSQL, how far the change feed is read.
public struct StorageStatus: Equatable, Sendable {
    public var backend: String
    public var feedPosition: Int64?
    public var feedLagSeconds: Int64?
    public var stale: Bool?
    public var lookups: Int64?

    public init(backend: String, feedPosition: Int64? = nil, feedLagSeconds: Int64? = nil, stale: Bool? = nil, lookups: Int64? = nil) {
        self.backend = backend; self.feedPosition = feedPosition; self.feedLagSeconds = feedLagSeconds; self.stale = stale; self.lookups = lookups
    }

    var json: JSON {
        var o: JSONObject = ["backend": .string(backend)]
        if let p = feedPosition { o["feed_position"] = .int(p) }
        if let l = feedLagSeconds { o["feed_lag_seconds"] = .int(l) }
        if let s = stale { o["stale"] = .bool(s) }
        if let n = lookups { o["lookups"] = .int(n) }
        return .object(o)
    }

    init(json: JSON) throws {
        let m = try Members(json, "Status.storage")
        self.init(backend: try m.string("backend"), feedPosition: m.object["feed_position"]?.intValue,
                  feedLagSeconds: m.object["feed_lag_seconds"]?.intValue, stale: m.object["stale"]?.boolValue, lookups: m.object["lookups"]?.intValue)
    }

    static let schema = Schema.object([
        ("backend", Schema.string(oneOf: ["sqlite", "postgres", "memory"])),
        ("feed_position", Schema.integer("The change feed's sequence number this host has read up to.", minimum: 0)),
        ("feed_lag_seconds", Schema.integer("Seconds since this host last read the change feed.", minimum: 0)),
        ("stale", Schema.described(Schema.boolean, "Verifications are refused: the feed is older than storage.max_staleness.")),
        ("lookups", Schema.integer("Database lookups of secrets this host did not know.", minimum: 0)),
    ], required: ["backend"])
}

public struct StatusView: WireType, Equatable {
    public var version: String
    public var startedAt: Timestamp
    public var uptimeSeconds: Int64
    public var configPath: String
    public var configDigest: String
    public var loadedAt: Timestamp
    public var accounts: Int64
    public var keys: Int64
    public var clients: Int64
    public var liveTokens: Int64
    public var storage: StorageStatus

    public init(version: String, startedAt: Timestamp, uptimeSeconds: Int64, configPath: String, configDigest: String, loadedAt: Timestamp,
                accounts: Int64, keys: Int64, clients: Int64, liveTokens: Int64, storage: StorageStatus) {
        self.storage = storage
        self.version = version; self.startedAt = startedAt; self.uptimeSeconds = uptimeSeconds; self.configPath = configPath
        self.configDigest = configDigest; self.loadedAt = loadedAt; self.accounts = accounts; self.keys = keys
        self.clients = clients; self.liveTokens = liveTokens
    }

    public var json: JSON {
        ["version": .string(version), "started_at": .string(TimeText.format(startedAt)), "uptime_seconds": .int(uptimeSeconds),
         "config": ["path": .string(configPath), "sha256": .string(configDigest), "loaded_at": .string(TimeText.format(loadedAt))],
         "counts": ["accounts": .int(accounts), "keys": .int(keys), "clients": .int(clients), "live_tokens": .int(liveTokens)],
         "storage": storage.json]
    }
    public init(json: JSON) throws {
        let m = try Members(json, Self.schemaName)
        let c = try Members(try m.value("config"), Self.schemaName + ".config")
        let n = try Members(try m.value("counts"), Self.schemaName + ".counts")
        self.init(version: try m.string("version"), startedAt: try m.time("started_at"), uptimeSeconds: try m.int("uptime_seconds"),
                  configPath: try c.string("path"), configDigest: try c.string("sha256"), loadedAt: try c.time("loaded_at"),
                  accounts: try n.int("accounts"), keys: try n.int("keys"), clients: try n.int("clients"), liveTokens: try n.int("live_tokens"),
                  storage: try StorageStatus(json: try m.value("storage")))
    }
    public static let schemaName = "Status"
    public static let schema = Schema.object([
        ("version", Schema.string("keygated's version.")),
        ("started_at", Schema.time),
        ("uptime_seconds", Schema.integer(minimum: 0)),
        ("config", Schema.object([("path", Schema.string("The configuration file.")),
                                  ("sha256", Schema.string("SHA-256 of the running configuration file.", pattern: "^[0-9a-f]{64}$")),
                                  ("loaded_at", Schema.time)], required: ["path", "sha256", "loaded_at"])),
        ("counts", Schema.object([("accounts", Schema.integer(minimum: 0)), ("keys", Schema.integer(minimum: 0)),
                                  ("clients", Schema.integer(minimum: 0)), ("live_tokens", Schema.integer(minimum: 0))],
                                 required: ["accounts", "keys", "clients", "live_tokens"])),
        ("storage", StorageStatus.schema),
    ], required: ["version", "started_at", "uptime_seconds", "config", "counts", "storage"])
    public static let example = StatusView(version: KeygateVersion.string, startedAt: exampleTime, uptimeSeconds: 3600, configPath: "/etc/keygate/keygate.yaml",
                                           configDigest: String(repeating: "3f", count: 32), loadedAt: exampleTime,
                                           accounts: 1, keys: 2, clients: 1, liveTokens: 1, storage: StorageStatus(backend: "sqlite"))
}

public struct ReloadResult: WireType, Equatable {
    public var digest: String
    public var takesEffectAtRestart: [String]
    public init(digest: String, takesEffectAtRestart: [String]) { self.digest = digest; self.takesEffectAtRestart = takesEffectAtRestart }
    public var json: JSON {
        ["reloaded": true, "sha256": .string(digest), "takes_effect_at_restart": .array(takesEffectAtRestart.map(JSON.string))]
    }
    public init(json: JSON) throws {
        let m = try Members(json, Self.schemaName)
        self.init(digest: try m.string("sha256"), takesEffectAtRestart: try m.strings("takes_effect_at_restart"))
    }
    public static let schemaName = "ReloadResult"
    public static let schema = Schema.object([
        ("reloaded", Schema.constBool(true)),
        ("sha256", Schema.string("SHA-256 of the configuration now running.", pattern: "^[0-9a-f]{64}$")),
        ("takes_effect_at_restart", Schema.array(Schema.string(), description: "Changed settings (listen, storage) that apply at the next start.")),
    ], required: ["reloaded", "sha256", "takes_effect_at_restart"])
    public static let example = ReloadResult(digest: String(repeating: "3f", count: 32), takesEffectAtRestart: [])
}
