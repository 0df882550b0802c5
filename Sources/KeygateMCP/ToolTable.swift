import KeygateAPI
import KeygateCore

/// A refusal that becomes an `isError` result: a bad argument, an account
/// outside `--account`, or the daemon's own answer.
public struct ToolRefusal: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// The accounts an assistant may touch: every one, or those of `--account`.
public struct Confinement: Sendable {
    public let accounts: Set<String>?

    public init(accounts: [String]) { self.accounts = accounts.isEmpty ? nil : Set(accounts) }

    public func check(_ account: String) throws {
        guard let accounts, !accounts.contains(account) else { return }
        throw ToolRefusal("account '\(Redact.echo(account))' is outside what this assistant may manage (keygate mcp --account \(accounts.sorted().joined(separator: ", ")))")
    }

    public func admits(_ account: String) -> Bool { accounts?.contains(account) ?? true }
}

/// What a tool call can use.
public struct ToolContext: Sendable {
    public let admin: AdminClient
    public let confinement: Confinement
    /// nil: `--reveal-secrets`, secrets go into the result.
    public let vault: SecretVault?

    public init(admin: AdminClient, confinement: Confinement, vault: SecretVault?) {
        self.admin = admin; self.confinement = confinement; self.vault = vault
    }
}

/// The arguments of a call, checked against the tool's input schema's rules
/// that matter before the daemon sees them: required, types, unknown names.
public struct Arguments: Sendable {
    let values: [String: JSON]

    init(_ raw: [String: JSON], tool: ToolSpec) throws {
        for k in raw.keys.sorted() where !tool.parameters.contains(where: { $0.name == k }) {
            throw ToolRefusal("\(tool.name): unknown argument '\(Redact.echo(k, max: 40))'; expected \(tool.parameters.map(\.name).joined(separator: ", "))")
        }
        for p in tool.parameters where p.required && (raw[p.name] == nil || raw[p.name] == .null) {
            throw ToolRefusal("\(tool.name): '\(p.name)' is required")
        }
        values = raw
        self.tool = tool.name
    }

    let tool: String

    func string(_ k: String) throws -> String? {
        guard let v = values[k], !v.isNull else { return nil }
        guard let s = v.stringValue else { throw ToolRefusal("\(tool): '\(k)' must be a string, got \(v.typeName)") }
        return s
    }

    func required(_ k: String) throws -> String {
        guard let s = try string(k) else { throw ToolRefusal("\(tool): '\(k)' is required") }
        return s
    }

    func strings(_ k: String) throws -> [String]? {
        guard let v = values[k], !v.isNull else { return nil }
        guard let a = v.arrayValue else { throw ToolRefusal("\(tool): '\(k)' must be an array of strings, got \(v.typeName)") }
        return try a.map { item in
            guard let s = item.stringValue else { throw ToolRefusal("\(tool): '\(k)' entries must be strings, got \(item.typeName)") }
            return s
        }
    }

    /// The `account` argument, within the confinement.
    func account(_ ctx: ToolContext) throws -> String {
        let a = try required("account")
        try ctx.confinement.check(a)
        return a
    }
}

public struct ToolParameter: Sendable {
    public let name: String
    public let schema: JSON
    public let required: Bool
}

/// One MCP tool: its schemas and annotations (SPEC 10) and what it does,
/// always through the typed admin client as the caller's own Unix user.
public struct ToolSpec: Sendable {
    public let name: String
    public let title: String
    public let description: String
    public let parameters: [ToolParameter]
    /// The result's JSON Schema (the admin API's answer type).
    public let output: JSON
    public let readOnly: Bool
    public let destructive: Bool
    public let idempotent: Bool
    let run: @Sendable (Arguments, ToolContext) throws -> JSON

    public var writes: Bool { !readOnly }

    public var inputSchema: JSON {
        var o: JSONObject = ["type": "object", "properties": .object(JSONObject(parameters.map { ($0.name, $0.schema) }))]
        let required = parameters.filter(\.required).map { JSON.string($0.name) }
        if !required.isEmpty { o["required"] = .array(required) }
        o["additionalProperties"] = false
        return .object(o)
    }

    public var outputSchema: JSON { ToolTable.selfContained(output) }
}

public enum ToolTable {
    static func p(_ name: String, _ schema: JSON, required: Bool = false) -> ToolParameter {
        ToolParameter(name: name, schema: schema, required: required)
    }
    static let account = p("account", Schema.account, required: true)
    static let keyID = p("key_id", Schema.keyID, required: true)
    static let allowIPs = p("allow_ips", Schema.array(Schema.network, maxItems: Validate.maxAllowIPs,
                                                      description: "Addresses and CIDR blocks; empty: any address."))

    /// A schema with its `$ref`s to the API's components carried in `$defs`,
    /// as an MCP client needs it.
    static func selfContained(_ schema: JSON) -> JSON {
        let defs = OpenAPIDocument.referencedSchemas(from: schema)
        func rewrite(_ j: JSON) -> JSON {
            switch j {
            case .object(let o):
                return .object(JSONObject(o.members.map { k, v in
                    if k == "$ref", let r = v.stringValue { return (k, .string(r.replacingOccurrences(of: "#/components/schemas/", with: "#/$defs/"))) }
                    return (k, rewrite(v))
                }))
            case .array(let a): return .array(a.map(rewrite))
            default: return j
            }
        }
        guard case .object(var o) = rewrite(schema) else { return schema }
        if !defs.members.isEmpty { o["$defs"] = rewrite(.object(defs)) }
        return .object(o)
    }

    /// `schema` with `secret` no longer required, and the file that holds the
    /// secret instead when it is kept out of the model's context.
    static func secretKept(_ schema: JSON, secret: String) -> JSON {
        guard case .object(var o) = schema, case .object(var props)? = o["properties"] else { return schema }
        props["secret_file"] = Schema.string("The new file (mode 0600) that holds the secret; absent with --reveal-secrets.")
        props["secret_hint"] = Schema.hint
        o["properties"] = .object(props)
        o["required"] = .array((o["required"]?.arrayValue ?? []).filter { $0.stringValue != secret })
        return .object(o)
    }

    static let deleted = Schema.object([("deleted", Schema.constBool(true)), ("account", Schema.account), ("key_id", Schema.keyID)],
                                       required: ["deleted", "account"])

    /// Puts a created secret into the vault, unless secrets are revealed.
    static func keep(_ json: JSON, field: String, label: String, _ ctx: ToolContext) throws -> JSON {
        guard let vault = ctx.vault, case .object(var o) = json, let secret = o[field]?.stringValue else { return json }
        let path: String
        do {
            path = try vault.store(secret, label: label)
        } catch {
            throw ToolRefusal("the credential was created, but its secret could not be written (\(error)); it is lost: delete or regenerate it")
        }
        o[field] = nil
        o["secret_file"] = .string(path)
        o["secret_hint"] = .string(SecretFormat.hint(secret))
        return .object(o)
    }

    public static let tools: [ToolSpec] = [
        ToolSpec(name: "status", title: "Keygate status",
                 description: "keygated's version, uptime, configuration and credential counts (of the permitted accounts, when confined).",
                 parameters: [], output: StatusView.schema, readOnly: true, destructive: false, idempotent: true) { _, ctx in
            var s = try ctx.admin.status()
            if ctx.confinement.accounts != nil {
                let mine = try ctx.admin.accounts().accounts.filter { ctx.confinement.admits($0.account) }
                s.accounts = Int64(mine.count)
                s.keys = mine.reduce(0) { $0 + $1.keys }
                s.clients = Int64(mine.filter { $0.clientID != nil }.count)
                s.liveTokens = mine.reduce(0) { $0 + $1.liveTokens }
            }
            return s.json
        },
        ToolSpec(name: "list_accounts", title: "List accounts",
                 description: "Accounts that hold credentials, with their policy, key count, client id and live tokens.",
                 parameters: [], output: AccountList.schema, readOnly: true, destructive: false, idempotent: true) { _, ctx in
            let list = try ctx.admin.accounts()
            return AccountList(accounts: list.accounts.filter { ctx.confinement.admits($0.account) }).json
        },
        ToolSpec(name: "list_keys", title: "List API keys",
                 description: "An account's API keys: id, name, hint (first 8 characters, never the secret), allowed addresses, expiry, last use.",
                 parameters: [account], output: KeyList.schema, readOnly: true, destructive: false, idempotent: true) { args, ctx in
            try ctx.admin.keys(account: try args.account(ctx)).json
        },
        ToolSpec(name: "show_client", title: "Show OAuth client",
                 description: "An account's OAuth 2.0 client id (never its secret), allowed addresses and live tokens.",
                 parameters: [account], output: ClientView.schema, readOnly: true, destructive: false, idempotent: true) { args, ctx in
            try ctx.admin.client.call(.showClient, ["account": try args.account(ctx)], as: ClientView.self).json
        },
        ToolSpec(name: "key_usage", title: "API key usage",
                 description: "A key's verifications per UTC day for the last 30 days: valid, and refused by code (EXPIRED, REVOKED, IP_NOT_ALLOWED, RATE_LIMITED), summed over every host. Days without use are left out.",
                 parameters: [account, keyID], output: UsageReport.schema, readOnly: true, destructive: false, idempotent: true) { args, ctx in
            try ctx.admin.keyUsage(account: try args.account(ctx), id: try args.required("key_id")).json
        },
        ToolSpec(name: "client_usage", title: "OAuth client usage",
                 description: "The account's current client pair per UTC day for the last 30 days: access tokens issued and verifications of its tokens (valid, refused by code), summed over every host.",
                 parameters: [account], output: UsageReport.schema, readOnly: true, destructive: false, idempotent: true) { args, ctx in
            try ctx.admin.clientUsage(account: try args.account(ctx)).json
        },
        ToolSpec(name: "create_key", title: "Create API key",
                 description: "Create an API key. Its secret is written to a new file (mode 0600) and the result names the file and the secret's hint; the secret itself is shown only with --reveal-secrets.",
                 parameters: [account, p("name", KeyNameSchema.schema, required: true), allowIPs,
                              p("expires_in", Schema.described(Schema.duration, "Expire the key after this long (60s to 3650d); omitted: never."))],
                 output: secretKept(CreatedKey.schema, secret: "key"), readOnly: false, destructive: false, idempotent: false) { args, ctx in
            let account = try args.account(ctx)
            try ctx.vault?.prepare()
            let request = CreateKeyRequest(name: try args.required("name"), allowIPs: try args.strings("allow_ips"), expiresIn: try args.string("expires_in"))
            let created = try ctx.admin.createKey(account: account, request)
            return try keep(created.json, field: "key", label: "\(account)-\(created.key.id)", ctx)
        },
        ToolSpec(name: "update_key", title: "Update API key",
                 description: "Rename a key or replace its IP restriction (an empty allow_ips lifts it).",
                 parameters: [account, keyID, p("name", KeyNameSchema.schema), allowIPs],
                 output: KeyView.schema, readOnly: false, destructive: false, idempotent: true) { args, ctx in
            let request = UpdateKeyRequest(name: try args.string("name"), allowIPs: try args.strings("allow_ips"))
            return try ctx.admin.updateKey(account: try args.account(ctx), id: try args.required("key_id"), request).json
        },
        ToolSpec(name: "delete_key", title: "Delete API key",
                 description: "Delete an API key; it is refused from that moment on.",
                 parameters: [account, keyID], output: deleted, readOnly: false, destructive: true, idempotent: true) { args, ctx in
            let account = try args.account(ctx), id = try args.required("key_id")
            try ctx.admin.deleteKey(account: account, id: id)
            return ["deleted": true, "account": .string(account), "key_id": .string(id)]
        },
        ToolSpec(name: "roll_key", title: "Roll API key",
                 description: "Give a key a new secret, keeping its id, name and restrictions. The old secret keeps working until grace ends (omitted: it stops at once); rolling again during a grace ends the older secret at once. The new secret goes to a new file (mode 0600) unless --reveal-secrets.",
                 parameters: [account, keyID,
                              p("grace", Schema.described(Schema.duration, "Keep accepting the old secret this long (1s to 30d); omitted: it stops at once."))],
                 output: secretKept(RolledKey.schema, secret: "key"), readOnly: false, destructive: true, idempotent: false) { args, ctx in
            let account = try args.account(ctx), id = try args.required("key_id")
            try ctx.vault?.prepare()
            let rolled = try ctx.admin.rollKey(account: account, id: id, RollKeyRequest(grace: try args.string("grace")))
            return try keep(rolled.json, field: "key", label: "\(account)-\(id)-rolled", ctx)
        },
        ToolSpec(name: "generate_client", title: "Generate OAuth client",
                 description: "Generate the account's OAuth 2.0 client id and secret. Replaces an existing pair: the old secret and its tokens stop working at once, or after grace. The secret goes to a new file (mode 0600) unless --reveal-secrets.",
                 parameters: [account, allowIPs,
                              p("grace", Schema.described(Schema.duration, "Keep the previous pair working this long (1s to 30d); omitted: it stops at once."))],
                 output: secretKept(GeneratedClient.schema, secret: "client_secret"), readOnly: false, destructive: true, idempotent: false) { args, ctx in
            let account = try args.account(ctx)
            try ctx.vault?.prepare()
            let g = try ctx.admin.generateClient(account: account, GenerateClientRequest(allowIPs: try args.strings("allow_ips"), grace: try args.string("grace")))
            return try keep(g.json, field: "client_secret", label: "\(account)-\(g.client.clientID)", ctx)
        },
        ToolSpec(name: "delete_client", title: "Delete OAuth client",
                 description: "Delete the account's client pair; it and every token it issued stop working at once.",
                 parameters: [account], output: deleted, readOnly: false, destructive: true, idempotent: false) { args, ctx in
            let account = try args.account(ctx)
            try ctx.admin.deleteClient(account: account)
            return ["deleted": true, "account": .string(account)]
        },
        ToolSpec(name: "revoke_tokens", title: "Revoke access tokens",
                 description: "Revoke every live access token of the account; the client pair stays.",
                 parameters: [account], output: TokensRevoked.schema, readOnly: false, destructive: true, idempotent: true) { args, ctx in
            try ctx.admin.revokeTokens(account: try args.account(ctx)).json
        },
    ]

    /// The tools an assistant sees: the write tools only with --allow-write.
    public static func available(allowWrite: Bool) -> [ToolSpec] { tools.filter { allowWrite || $0.readOnly } }
}
