import KeygateCore

// The service socket's request and answer types (SPEC section 5).

public struct VerifyRequest: WireType, Equatable {
    public var key: String
    public var ip: String?
    public init(key: String, ip: String? = nil) { self.key = key; self.ip = ip }
    public var json: JSON {
        var o: JSONObject = ["key": .string(key)]
        if let ip { o["ip"] = .string(ip) }
        return .object(o)
    }
    /// The daemon scans this body in place (ServiceResponder.verify); this
    /// decoder is for clients and tests.
    public init(json: JSON) throws {
        let f = try RequestFields(json, what: "verify", allowed: ["key", "ip"])
        self.init(key: try f.string("key", required: true)!, ip: try f.string("ip"))
    }
    public static let schemaName = "VerifyRequest"
    public static let schema = Schema.object([
        ("key", Schema.string("An API key (kg_…) or an access token (kgat_…); anything else is answered MALFORMED.")),
        ("ip", Schema.nullable(Schema.described(Schema.address, "The caller's address; may be omitted only where no IP rule applies."))),
    ], required: ["key"])
    public static let example = VerifyRequest(key: "kg_Xy3PqR7sT9uV1wX3yZ5aB7cD9eF1gH3iJ5kL7mN9o0aBcDe", ip: "203.0.113.7")
}

/// The verification answer (SPEC 5.1). The daemon writes these bytes straight
/// into a buffer (VerdictWriter); a test holds the two to the same JSON.
public enum VerifyResponse: WireType, Equatable {
    case apiKey(account: String, keyID: String, name: String, policy: String)
    case accessToken(account: String, clientID: String, scope: String?, expiresIn: Int64)
    case refused(code: String)

    public var json: JSON {
        switch self {
        case .apiKey(let account, let keyID, let name, let policy):
            return ["valid": true, "kind": "api_key", "account": .string(account), "key_id": .string(keyID),
                    "name": .string(name), "policy": .string(policy)]
        case .accessToken(let account, let clientID, let scope, let expiresIn):
            var o: JSONObject = ["valid": true, "kind": "access_token", "account": .string(account), "client_id": .string(clientID)]
            if let s = scope { o["scope"] = .string(s) }
            o["expires_in"] = .int(expiresIn)
            return .object(o)
        case .refused(let code):
            return ["valid": false, "code": .string(code)]
        }
    }

    public init(json: JSON) throws {
        let m = try Members(json, Self.schemaName)
        if !(try m.bool("valid")) { self = .refused(code: try m.string("code")); return }
        switch try m.string("kind") {
        case "api_key":
            self = .apiKey(account: try m.string("account"), keyID: try m.string("key_id"), name: try m.string("name"), policy: try m.string("policy"))
        case "access_token":
            self = .accessToken(account: try m.string("account"), clientID: try m.string("client_id"),
                                scope: m.optionalString("scope"), expiresIn: try m.int("expires_in"))
        default:
            throw WireDecodingError(type: Self.schemaName, field: "kind")
        }
    }

    public static let refusalCodes = ["MALFORMED", "UNKNOWN", "EXPIRED", "REVOKED", "IP_NOT_ALLOWED", "RATE_LIMITED"]
    public static let schemaName = "VerifyResponse"
    public static let schema: JSON = ["oneOf": [
        Schema.object([("valid", Schema.constBool(true)), ("kind", Schema.const("api_key")), ("account", Schema.account),
                       ("key_id", Schema.keyID), ("name", Schema.string()), ("policy", Schema.string())],
                      required: ["valid", "kind", "account", "key_id", "name", "policy"], description: "A valid API key."),
        Schema.object([("valid", Schema.constBool(true)), ("kind", Schema.const("access_token")), ("account", Schema.account),
                       ("client_id", Schema.clientID), ("scope", Schema.string("Space-separated scopes granted.")),
                       ("expires_in", Schema.integer("Seconds until the token expires.", minimum: 0))],
                      required: ["valid", "kind", "account", "client_id", "expires_in"], description: "A valid access token."),
        Schema.object([("valid", Schema.constBool(false)), ("code", Schema.string(oneOf: refusalCodes))],
                      required: ["valid", "code"], description: "A refused credential and why."),
    ], "description": "Always 200 for a well-formed request; `valid` says whether the credential is good."]
    public static let example = VerifyResponse.apiKey(account: "acme", keyID: "key_4fT9aQ2mZ8bW1cXe", name: "CRM sync", policy: "default")
}

public struct HealthResponse: WireType, Equatable {
    public init() {}
    public var json: JSON { ["status": "ok"] }
    public init(json: JSON) throws { guard try Members(json, Self.schemaName).string("status") == "ok" else { throw WireDecodingError(type: Self.schemaName, field: "status") } }
    public static let schemaName = "Health"
    public static let schema = Schema.object([("status", Schema.const("ok"))], required: ["status"])
    public static let example = HealthResponse()
}

/// RFC 6749 section 5.1.
public struct TokenResponse: WireType, Equatable {
    public var accessToken: String
    public var expiresIn: Int64
    public var scope: String?
    public init(accessToken: String, expiresIn: Int64, scope: String?) { self.accessToken = accessToken; self.expiresIn = expiresIn; self.scope = scope }
    public var json: JSON {
        var o: JSONObject = ["access_token": .string(accessToken), "token_type": "Bearer", "expires_in": .int(expiresIn)]
        if let s = scope { o["scope"] = .string(s) }
        return .object(o)
    }
    public init(json: JSON) throws {
        let m = try Members(json, Self.schemaName)
        self.init(accessToken: try m.string("access_token"), expiresIn: try m.int("expires_in"), scope: m.optionalString("scope"))
    }
    public static let schemaName = "TokenResponse"
    public static let schema = Schema.object([
        ("access_token", Schema.string("The bearer token: shown in this answer only.", pattern: "^kgat_[0-9A-Za-z]{46}$")),
        ("token_type", Schema.const("Bearer")),
        ("expires_in", Schema.integer("Seconds the token is valid (the policy's token_ttl).", minimum: 1)),
        ("scope", Schema.string("Space-separated scopes granted; present when the policy has scopes.")),
    ], required: ["access_token", "token_type", "expires_in"])
    public static let example = TokenResponse(accessToken: "kgat_Mn3Bv5Cx7Za9Sd1Fg3Hj5Kl7Qw9Er1Ty3Ui5Op7As9Df1Gh3", expiresIn: 3600, scope: "read")
}

/// RFC 7662 section 2.2.
public enum IntrospectionResponse: WireType, Equatable {
    case accessToken(clientID: String, account: String, expiresAt: Timestamp, issuedAt: Timestamp, scope: String?)
    case apiKey(account: String, keyID: String, issuedAt: Timestamp, expiresAt: Timestamp?)
    case inactive

    public var json: JSON {
        switch self {
        case .accessToken(let cid, let account, let exp, let iat, let scope):
            var o: JSONObject = ["active": true, "client_id": .string(cid), "sub": .string(account), "token_type": "Bearer",
                                 "exp": .int(exp), "iat": .int(iat)]
            if let s = scope { o["scope"] = .string(s) }
            return .object(o)
        case .apiKey(let account, let id, let iat, let exp):
            var o: JSONObject = ["active": true, "token_type": "api_key", "sub": .string(account), "key_id": .string(id), "iat": .int(iat)]
            if let e = exp { o["exp"] = .int(e) }
            return .object(o)
        case .inactive:
            return ["active": false]
        }
    }

    public init(_ i: Introspected) {
        switch i {
        case .accessToken(let t): self = .accessToken(clientID: t.clientID, account: t.account, expiresAt: t.expiresAt, issuedAt: t.issuedAt, scope: t.scope)
        case .apiKey(let k): self = .apiKey(account: k.account, keyID: k.id, issuedAt: k.createdAt, expiresAt: k.expiresAt)
        case .inactive: self = .inactive
        }
    }

    public init(json: JSON) throws {
        let m = try Members(json, Self.schemaName)
        guard try m.bool("active") else { self = .inactive; return }
        if try m.string("token_type") == "api_key" {
            self = .apiKey(account: try m.string("sub"), keyID: try m.string("key_id"), issuedAt: try m.int("iat"), expiresAt: m.object["exp"]?.intValue)
        } else {
            self = .accessToken(clientID: try m.string("client_id"), account: try m.string("sub"), expiresAt: try m.int("exp"),
                                issuedAt: try m.int("iat"), scope: m.optionalString("scope"))
        }
    }

    public static let schemaName = "Introspection"
    public static let schema: JSON = ["oneOf": [
        Schema.object([("active", Schema.constBool(true)), ("client_id", Schema.clientID), ("sub", Schema.account),
                       ("token_type", Schema.const("Bearer")), ("exp", Schema.integer("Expiry, Unix time.")),
                       ("iat", Schema.integer("Issue time, Unix time.")), ("scope", Schema.string())],
                      required: ["active", "client_id", "sub", "token_type", "exp", "iat"], description: "A live access token."),
        Schema.object([("active", Schema.constBool(true)), ("token_type", Schema.const("api_key")), ("sub", Schema.account),
                       ("key_id", Schema.keyID), ("iat", Schema.integer("Creation time, Unix time.")),
                       ("exp", Schema.integer("Expiry, Unix time; absent when the key never expires."))],
                      required: ["active", "token_type", "sub", "key_id", "iat"], description: "An API key that has not expired."),
        Schema.object([("active", Schema.constBool(false))], required: ["active"], description: "Anything else."),
    ]]
    public static let example = IntrospectionResponse.accessToken(clientID: "kgc_7Hs2LmQ9xT4vB8nR1cZpK3wE", account: "acme",
                                                                  expiresAt: 1_796_202_000, issuedAt: 1_796_198_400, scope: "read")
}

/// The form bodies of the OAuth endpoints, for the documents (the daemon
/// reads them with `FormURLEncoded`).
public enum OAuthForms {
    static let clientAuth: [(String, JSON)] = [
        ("client_id", Schema.string("With client_secret: client authentication in the body (instead of HTTP Basic).")),
        ("client_secret", Schema.string("The client secret (kgs_…).")),
    ]
    public static let token = Schema.object([
        ("grant_type", Schema.const("client_credentials")),
        ("scope", Schema.string("Space-separated scopes; omitted or empty: every scope of the policy.")),
    ] + clientAuth, required: ["grant_type"], description: "RFC 6749 section 4.4.2.", additional: true)
    public static let tokenExample: JSON = ["grant_type": "client_credentials", "scope": "read"]

    public static let introspect = Schema.object([
        ("token", Schema.string("The access token or API key to look at.", minLength: 1)),
        ("token_type_hint", Schema.string("Ignored: every kind of secret is recognised by its prefix.")),
    ], required: ["token"], description: "RFC 7662 section 2.1; unknown parameters are ignored, none may be given twice.", additionalForm: true)
    public static let introspectExample: JSON = ["token": "kgat_Mn3Bv5Cx7Za9Sd1Fg3Hj5Kl7Qw9Er1Ty3Ui5Op7As9Df1Gh3"]

    public static let revoke = Schema.object([
        ("token", Schema.string("The access token to revoke.", minLength: 1)),
        ("token_type_hint", Schema.string("Ignored.")),
    ] + clientAuth, required: ["token"], description: "RFC 7009 section 2.1; unknown parameters are ignored, none may be given twice.", additionalForm: true)
    public static let revokeExample: JSON = ["token": "kgat_Mn3Bv5Cx7Za9Sd1Fg3Hj5Kl7Qw9Er1Ty3Ui5Op7As9Df1Gh3"]
}
