import KeygateCore

// SPEC 12: key roll, usage, leaked secrets.

private let exampleDay: Int32 = 20_424  // 2025-12-02

/// `POST /v1/accounts/{a}/keys/{id}/roll`: an optional grace for the old secret.
public struct RollKeyRequest: WireType, Equatable {
    public var grace: String?
    static let what = "roll key"
    public static let maxGrace: Int64 = 30 * 86400

    public init(grace: String? = nil) { self.grace = grace }

    public var json: JSON {
        var o = JSONObject()
        if let g = grace { o["grace"] = .string(g) }
        return .object(o)
    }

    /// An absent body means no grace.
    public init(json: JSON?) throws {
        guard let json else { self.init(); return }
        let f = try RequestFields(json, what: Self.what, allowed: ["grace"])
        self.init(grace: try f.string("grace"))
    }
    public init(json: JSON) throws { try self.init(json: Optional(json)) }

    /// The grace in seconds; nil: the old secret stops at once.
    public func validated() throws -> Int64? {
        try grace.map { try Validate.duration($0, field: "grace", what: Self.what, min: 1, max: Self.maxGrace) }
    }

    public static let schemaName = "RollKeyRequest"
    public static let schema = Schema.object([
        ("grace", Schema.nullable(Schema.described(Schema.duration, "Keep accepting the old secret this long (1s to 30d); omitted or null: it stops at once."))),
    ], required: [], description: "Optional; an empty body means no grace.")
    public static let example = RollKeyRequest(grace: "24h")
}

/// The answer to a roll: the key with its new secret (shown once), and until
/// when the old one is accepted.
public struct RolledKey: WireType, Equatable {
    public var key: KeyView
    public var account: String
    public var secret: String
    public var previousHint: String
    /// The old secret is accepted until this time (the roll's time without a grace).
    public var previousAcceptedUntil: Timestamp

    public init(key: KeyView, account: String, secret: String, previousHint: String, previousAcceptedUntil: Timestamp) {
        self.key = key; self.account = account; self.secret = secret
        self.previousHint = previousHint; self.previousAcceptedUntil = previousAcceptedUntil
    }

    public var json: JSON {
        var o = key.members
        o["account"] = .string(account)
        o["key"] = .string(secret)
        o["previous_hint"] = .string(previousHint)
        o["previous_accepted_until"] = .string(TimeText.format(previousAcceptedUntil))
        return .object(o)
    }
    public init(json: JSON) throws {
        let m = try Members(json, Self.schemaName)
        self.init(key: try KeyView(json: json), account: try m.string("account"), secret: try m.string("key"),
                  previousHint: try m.string("previous_hint"), previousAcceptedUntil: try m.time("previous_accepted_until"))
    }

    public static let schemaName = "RolledKey"
    public static let schema = Schema.object(KeyView.properties + [
        ("account", Schema.account),
        ("key", Schema.string("The new secret: shown in this answer only, never again.", pattern: "^kg_[0-9A-Za-z]{46}$")),
        ("previous_hint", Schema.described(Schema.hint, "The hint of the secret that was replaced.")),
        ("previous_accepted_until", Schema.described(Schema.time, "The replaced secret is accepted until this time; without a grace, the time of the roll.")),
    ], required: KeyView.properties.map(\.0) + ["account", "key", "previous_hint", "previous_accepted_until"],
       description: "The key with its new secret, shown once; same id, name and restrictions.")
    public static let example = RolledKey(
        key: KeyView(id: exampleKeyID, name: "CRM sync", hint: "kg_Mn4Rt", allowIPs: ["203.0.113.7"], createdAt: exampleTime - 86400 * 30,
                     expiresAt: nil, lastUsedAt: exampleTime - 60, lastUsedIP: "203.0.113.7", rollingUntil: exampleTime + 86400),
        account: "acme", secret: "kg_Mn4RtY8uI2oP6aS0dF4gH8jK2lZ6xC0vB4nM8qW2eR6tY0uIoPaSd",
        previousHint: "kg_Xy3Pq", previousAcceptedUntil: exampleTime + 86400)
}

/// One UTC day of a key's or a pair's usage.
public struct UsageDayView: WireType, Equatable {
    public var date: String
    public var valid: Int64
    public var refused: [String: Int64]
    /// Pairs only.
    public var tokensIssued: Int64?

    public init(date: String, valid: Int64, refused: [String: Int64], tokensIssued: Int64?) {
        self.date = date; self.valid = valid; self.refused = refused; self.tokensIssued = tokensIssued
    }

    public init(_ d: UsageDay, client: Bool) {
        self.init(date: UsageWindow.date(ofDay: d.day), valid: d.valid, refused: d.refused, tokensIssued: client ? d.tokensIssued : nil)
    }

    public var json: JSON {
        var o: JSONObject = ["date": .string(date), "valid": .int(valid),
                             "refused": .object(JSONObject(refused.sorted { $0.key < $1.key }.map { ($0.key, JSON.int($0.value)) }))]
        if let t = tokensIssued { o["tokens_issued"] = .int(t) }
        return .object(o)
    }
    public init(json: JSON) throws {
        let m = try Members(json, Self.schemaName)
        guard case .object(let r)? = m.object["refused"] else { throw WireDecodingError(type: Self.schemaName, field: "refused") }
        var refused: [String: Int64] = [:]
        for (k, v) in r.members { refused[k] = v.intValue ?? 0 }
        self.init(date: try m.string("date"), valid: try m.int("valid"), refused: refused, tokensIssued: m.object["tokens_issued"]?.intValue)
    }

    public static let schemaName = "UsageDay"
    public static let schema = Schema.object([
        ("date", Schema.string("The UTC day.", format: "date")),
        ("valid", Schema.integer("Verifications answered valid.", minimum: 0)),
        ("refused", Schema.object([], required: [], description: "Refused verifications by code (EXPIRED, REVOKED, IP_NOT_ALLOWED, RATE_LIMITED); codes that did not occur are left out.",
                                  additional: true)),
        ("tokens_issued", Schema.integer("Access tokens issued to the pair (client usage only).", minimum: 0)),
    ], required: ["date", "valid", "refused"])
    public static let example = UsageDayView(date: UsageWindow.date(ofDay: exampleDay), valid: 123, refused: ["IP_NOT_ALLOWED": 4], tokensIssued: nil)
}

/// `GET …/keys/{id}/usage` and `GET …/client/usage`.
public struct UsageReport: WireType, Equatable {
    public var account: String
    public var keyID: String?
    public var clientID: String?
    public var from: String
    public var to: String
    public var days: [UsageDayView]

    public init(account: String, keyID: String?, clientID: String?, from: String, to: String, days: [UsageDayView]) {
        self.account = account; self.keyID = keyID; self.clientID = clientID; self.from = from; self.to = to; self.days = days
    }

    public var json: JSON {
        var o: JSONObject = ["account": .string(account), "from": .string(from), "to": .string(to), "days": .array(days.map(\.json))]
        if let k = keyID { o["key_id"] = .string(k) }
        if let c = clientID { o["client_id"] = .string(c) }
        return .object(o)
    }
    public init(json: JSON) throws {
        let m = try Members(json, Self.schemaName)
        self.init(account: try m.string("account"), keyID: m.optionalString("key_id"), clientID: m.optionalString("client_id"),
                  from: try m.string("from"), to: try m.string("to"), days: try m.list("days", of: UsageDayView.self))
    }

    public static let schemaName = "Usage"
    public static let schema = Schema.object([
        ("account", Schema.account),
        ("key_id", Schema.keyID),
        ("client_id", Schema.clientID),
        ("from", Schema.string("The first UTC day of the window (29 days before `to`).", format: "date")),
        ("to", Schema.string("Today, UTC.", format: "date")),
        ("days", Schema.array(Schema.ref("UsageDay"), description: "Days with any use, oldest first; days without are left out.")),
    ], required: ["account", "from", "to", "days"],
       description: "Verifications (and, for a pair, tokens issued) per UTC day for the last 30 days, summed over every host.")
    public static let example = UsageReport(account: "acme", keyID: exampleKeyID, clientID: nil,
                                            from: UsageWindow.date(ofDay: exampleDay - 29), to: UsageWindow.date(ofDay: exampleDay),
                                            days: [.example])
}

/// `POST /v1/leaks`: secrets found where they should not be.
public struct LeaksRequest: WireType, Equatable {
    public var secrets: [String]
    public var dryRun: Bool
    static let what = "leaks"
    public static let maxSecrets = 1000

    public init(secrets: [String], dryRun: Bool = false) { self.secrets = secrets; self.dryRun = dryRun }

    public var json: JSON {
        var o: JSONObject = ["secrets": .array(secrets.map(JSON.string))]
        if dryRun { o["dry_run"] = true }
        return .object(o)
    }

    public init(json: JSON) throws {
        let f = try RequestFields(json, what: Self.what, allowed: ["secrets", "dry_run"])
        guard let v = f.object["secrets"], !v.isNull else { throw APIError.invalidRequest("\(Self.what): 'secrets' is required") }
        guard let items = v.arrayValue else { throw APIError.invalidRequest("\(Self.what): 'secrets' must be an array of strings, got \(v.typeName)") }
        secrets = try items.enumerated().map { i, item in
            guard let s = item.stringValue else {
                throw APIError.invalidRequest("\(Self.what): secrets[\(i)] must be a string, got \(item.typeName); nothing was changed")
            }
            return s
        }
        switch f.object["dry_run"] {
        case nil, .null?: dryRun = false
        case .bool(let b)?: dryRun = b
        case let other?: throw APIError.invalidRequest("\(Self.what): 'dry_run' must be true or false, got \(other.typeName)")
        }
    }

    /// Every entry checked before anything is done: one that is not a
    /// Keygate secret refuses the whole request, naming its position and what
    /// is wrong with it, never its text.
    public func validated() throws -> [LeakedSecret] {
        guard !secrets.isEmpty else { throw APIError.invalidRequest("\(Self.what): 'secrets' is empty; give 1 to \(Self.maxSecrets) secrets") }
        guard secrets.count <= Self.maxSecrets else {
            throw APIError.invalidRequest("\(Self.what): 'secrets' has \(secrets.count) entries; at most \(Self.maxSecrets) per request")
        }
        return try secrets.enumerated().map { i, s in
            guard let leaked = LeakedSecret(secret: s) else {
                throw APIError.invalidRequest("\(Self.what): secrets[\(i)] is not a Keygate secret (\(SecretFormat.whyNot(s))); nothing was changed")
            }
            return leaked
        }
    }

    public static let schemaName = "LeaksRequest"
    public static let schema = Schema.object([
        ("secrets", {
            guard case .object(var o) = Schema.array(Schema.string("An API key (kg_), client secret (kgs_) or access token (kgat_), with its checksum.",
                                                                   pattern: "^(kg|kgs|kgat)_[0-9A-Za-z]{46}$"),
                                                     maxItems: maxSecrets, description: "1 to 1000 secrets.") else { return .null }
            o["minItems"] = 1
            return .object(o)
        }()),
        ("dry_run", Schema.described(Schema.boolean, "Change nothing; answer the action that would be taken.")),
    ], required: ["secrets"])
    public static let example = LeaksRequest(secrets: ["kg_Xy3PqR7sT9uV1wX3yZ5aB7cD9eF1gH3iJ5kL7mN9o0aBcDe"], dryRun: false)
}

/// What was (or, with `dry_run`, would be) done about one leaked secret.
public struct LeakResult: WireType, Equatable {
    public var hint: String
    public var kind: String
    public var account: String?
    public var action: String
    public var keyID: String?
    public var clientID: String?

    public init(hint: String, kind: String, account: String?, action: String, keyID: String?, clientID: String?) {
        self.hint = hint; self.kind = kind; self.account = account; self.action = action; self.keyID = keyID; self.clientID = clientID
    }
    public init(_ o: LeakOutcome) {
        self.init(hint: o.hint, kind: o.kind.name, account: o.account, action: o.action.rawValue, keyID: o.keyID, clientID: o.clientID)
    }

    public var json: JSON {
        var o: JSONObject = ["hint": .string(hint), "kind": .string(kind), "account": account.map(JSON.string) ?? .null, "action": .string(action)]
        if let k = keyID { o["key_id"] = .string(k) }
        if let c = clientID { o["client_id"] = .string(c) }
        return .object(o)
    }
    public init(json: JSON) throws {
        let m = try Members(json, Self.schemaName)
        self.init(hint: try m.string("hint"), kind: try m.string("kind"), account: m.optionalString("account"), action: try m.string("action"),
                  keyID: m.optionalString("key_id"), clientID: m.optionalString("client_id"))
    }

    public static let schemaName = "LeakResult"
    public static let schema = Schema.object([
        ("hint", Schema.hint),
        ("kind", Schema.string(oneOf: ["api_key", "client_secret", "access_token"])),
        ("account", Schema.nullable(Schema.described(Schema.account, "The owner; null when the secret is not known."))),
        ("action", Schema.string("deleted: a live key was deleted; revoked: a live access token, or a rolled key's old secret in its grace, was ended; reported: a live client secret (replace the pair yourself); none: unknown or no longer accepted.",
                                 oneOf: ["deleted", "revoked", "reported", "none"])),
        ("key_id", Schema.keyID),
        ("client_id", Schema.clientID),
    ], required: ["hint", "kind", "account", "action"])
    public static let example = LeakResult(hint: "kg_Xy3Pq", kind: "api_key", account: "acme", action: "deleted", keyID: exampleKeyID, clientID: nil)
}

public struct LeakReport: WireType, Equatable {
    public var dryRun: Bool
    public var results: [LeakResult]

    public init(dryRun: Bool, results: [LeakResult]) { self.dryRun = dryRun; self.results = results }

    public var json: JSON { ["dry_run": .bool(dryRun), "results": .array(results.map(\.json))] }
    public init(json: JSON) throws {
        let m = try Members(json, Self.schemaName)
        self.init(dryRun: try m.bool("dry_run"), results: try m.list("results", of: LeakResult.self))
    }

    public static let schemaName = "LeakReport"
    public static let schema = Schema.object([
        ("dry_run", Schema.described(Schema.boolean, "Nothing was changed; `action` is what would be done.")),
        ("results", Schema.array(Schema.ref("LeakResult"), description: "One per submitted secret, in order; never the secret.")),
    ], required: ["dry_run", "results"])
    public static let example = LeakReport(dryRun: false, results: [.example])
}
