import KeygateCore

/// Which socket an endpoint answers on.
public enum APISocket: String, Sendable, CaseIterable {
    case service, admin
}

/// Who may call an endpoint: `verify` peers (access.verify, or anyone when it
/// is absent) on the service socket; `manage` or `admin` peers on the admin
/// socket, where admin includes manage.
public enum Role: String, Sendable {
    case verify, manage, admin
}

/// Every operation of both sockets. The raw value is the OpenAPI operationId.
public enum OperationID: String, CaseIterable, Sendable {
    case verify = "verifyCredential"
    case auth = "authorizeRequest"
    case healthz = "getHealth"
    case metrics = "getMetrics"
    case token = "issueToken"
    case introspect = "introspectToken"
    case revoke = "revokeToken"
    case serviceDocument = "getServiceOpenAPI"
    case status = "getStatus"
    case reload = "reloadConfiguration"
    case listAccounts = "listAccounts"
    case listKeys = "listKeys"
    case createKey = "createKey"
    case updateKey = "updateKey"
    case deleteKey = "deleteKey"
    case showClient = "showClient"
    case generateClient = "generateClient"
    case deleteClient = "deleteClient"
    case revokeTokens = "revokeAccountTokens"
    case rollKey = "rollKey"
    case keyUsage = "getKeyUsage"
    case clientUsage = "getClientUsage"
    case reportLeaks = "reportLeaks"
    case adminDocument = "getAdminOpenAPI"
}

/// A request or answer body as the documents describe it.
public struct Payload: Sendable {
    public let contentType: String
    /// A component schema name, or nil for an inline schema.
    public let schemaName: String?
    public let schema: JSON
    public let example: JSON?

    public static func json<T: WireType>(_ t: T.Type) -> Payload {
        Payload(contentType: "application/json", schemaName: T.schemaName, schema: Schema.ref(T.schemaName), example: T.example.json)
    }
    public static func form(_ schema: JSON, example: JSON) -> Payload {
        Payload(contentType: "application/x-www-form-urlencoded", schemaName: nil, schema: schema, example: example)
    }
    public static let prometheus = Payload(contentType: "text/plain; version=0.0.4; charset=utf-8", schemaName: nil,
                                           schema: Schema.string("Prometheus text exposition format 0.0.4."),
                                           example: "# TYPE keygate_verifications_total counter\nkeygate_verifications_total{result=\"valid\"} 42\n")
    public static let openAPI = Payload(contentType: "application/json", schemaName: nil,
                                        schema: Schema.object([("openapi", Schema.const("3.1.0"))], required: ["openapi"],
                                                              description: "This document.", additional: true),
                                        example: nil)
}

public struct HeaderDoc: Sendable {
    public let name: String
    public let description: String
    public let required: Bool
    public let schema: JSON
    public init(_ name: String, _ description: String, required: Bool = false, schema: JSON = ["type": "string"]) {
        self.name = name; self.description = description; self.required = required; self.schema = schema
    }
}

public struct ErrorDoc: Sendable {
    public let status: Int
    public let codes: [String]
    public let description: String
    public let headers: [HeaderDoc]
    public init(_ status: Int, _ codes: [String], _ description: String, headers: [HeaderDoc] = []) {
        self.status = status; self.codes = codes; self.description = description; self.headers = headers
    }
}

/// The answer that means success.
public struct Success: Sendable {
    public let status: Int
    public let description: String
    public let payload: Payload?
    public let headers: [HeaderDoc]
    public init(_ status: Int, _ description: String, _ payload: Payload? = nil, headers: [HeaderDoc] = []) {
        self.status = status; self.description = description; self.payload = payload; self.headers = headers
    }
}

/// An OpenAPI link from a success answer to another operation, so that
/// stateful clients and fuzzers reach the resource just created.
public struct LinkDoc: Sendable {
    public let name: String
    public let target: OperationID
    /// Target parameter name to a runtime expression ($request.path.account, $response.body#/id).
    public let parameters: [(String, String)]
    public init(_ name: String, _ target: OperationID, _ parameters: [(String, String)]) {
        self.name = name; self.target = target; self.parameters = parameters
    }
}

/// A class: the router hands it out on every request, and a reference costs
/// one retain where a struct of this size would cost one per field.
public final class Endpoint: Sendable {
    public let id: OperationID
    public let socket: APISocket
    public let method: String
    public let path: String
    public let role: Role
    public let summary: String
    public let description: String
    public let request: Payload?
    public let requestRequired: Bool
    public let requestHeaders: [HeaderDoc]
    public let success: Success
    public let errors: [ErrorDoc]
    /// Also answers HEAD (the same answer without a body).
    public let head: Bool
    public let links: [LinkDoc]
    /// The path split at '/', with "{name}" for parameters.
    public let segments: [Substring]
    /// The whole path when it has no parameters: matched with one comparison.
    public let literal: String?
    /// Whether the operation reads a request body (else a body is refused).
    public let takesBody: Bool

    init(_ id: OperationID, _ socket: APISocket, _ method: String, _ path: String, role: Role, summary: String, description: String,
         request: Payload? = nil, requestRequired: Bool = true, requestHeaders: [HeaderDoc] = [], success: Success,
         errors: [ErrorDoc] = [], head: Bool = false, links: [LinkDoc] = []) {
        self.id = id; self.socket = socket; self.method = method; self.path = path; self.role = role
        self.summary = summary; self.description = description; self.request = request; self.requestRequired = requestRequired
        self.requestHeaders = requestHeaders; self.success = success; self.errors = errors; self.head = head; self.links = links
        self.segments = path.split(separator: "/", omittingEmptySubsequences: false)
        self.literal = path.contains("{") ? nil : path
        self.takesBody = request != nil
    }

    public var parameterNames: [String] {
        segments.filter { $0.hasPrefix("{") }.map { String($0.dropFirst().dropLast()) }
    }

    /// The methods this endpoint answers.
    public var methods: [String] { head ? [method, "HEAD"] : [method] }

    /// The path with `parameters` filled in, percent-encoded (RFC 3986).
    public func path(_ parameters: [String: String]) -> String {
        segments.map { s -> String in
            guard s.hasPrefix("{") else { return String(s) }
            return PercentEncoding.encodeSegment(parameters[String(s.dropFirst().dropLast())] ?? "")
        }.joined(separator: "/")
    }
}

/// Path parameters of a matched request, percent-decoded.
public struct PathParameters: Sendable {
    public var values: [(String, String)] = []
    public subscript(_ name: String) -> String { values.first { $0.0 == name }?.1 ?? "" }
}

public enum RouteMatch {
    case found(Endpoint, PathParameters)
    /// The path exists with other methods: 405 with this `Allow`.
    case methodNotAllowed(allow: String)
    case notFound
}

/// The one list of every endpoint of both sockets (SPEC 9). Routing, the
/// permission and method checks, the OpenAPI documents and the typed client
/// all read it; nothing else lists the routes.
public enum RouteTable {
    static let forbidden = ErrorDoc(403, ["forbidden"], "The peer (SO_PEERCRED) is not allowed by access.* for this socket or operation; the connection is closed.")
    static let badAccount = ErrorDoc(400, ["invalid_request"], "The account in the path is not 1-64 characters from A-Z a-z 0-9 . _ @ -, or the body is invalid.")
    static let noStore = [HeaderDoc("Cache-Control", "no-store", required: true), HeaderDoc("Pragma", "no-cache", required: true)]
    static let basicChallenge = HeaderDoc("WWW-Authenticate", "Basic realm=\"keygate\" when the client used HTTP Basic.")
    /// The caller's address header (verify.ip_header): an address, or `unix:` or empty for none.
    static let addressHeader = HeaderDoc("X-Real-IP", "The caller's address (the header named by verify.ip_header); `unix:` or empty means none.",
                                         schema: ["anyOf": [["type": "string", "format": "ipv4"], ["type": "string", "format": "ipv6"],
                                                            ["enum": ["unix:", ""]]]])

    public static let endpoints: [Endpoint] = [
        // MARK: service socket
        Endpoint(.verify, .service, "POST", "/v1/verify", role: .verify,
                 summary: "Check an API key or access token",
                 description: "The hot path: answered from memory, never touching the disk. Always 200 for a well-formed request; `valid` and `code` say whether the credential is good for this address now.",
                 request: .json(VerifyRequest.self),
                 success: Success(200, "The verdict.", .json(VerifyResponse.self)),
                 errors: [ErrorDoc(400, ["invalid_request"], "The body is not the JSON object described, or `ip` is not an address.")]),
        Endpoint(.auth, .service, "GET", "/v1/auth", role: .verify,
                 summary: "Check the credential of a request (nginx auth_request)",
                 description: "The credential comes from `Authorization: Bearer …` or `X-API-Key`, the caller's address from the header named by `verify.ip_header` (default X-Real-IP). The address header is trusted because only peers admitted by `access.verify` reach this endpoint.",
                 requestHeaders: [HeaderDoc("Authorization", "Bearer followed by an API key or access token."),
                                  HeaderDoc("X-API-Key", "An API key or access token (when Authorization is absent)."),
                                  addressHeader],
                 success: Success(204, "The credential is valid; who it belongs to is in the headers.", nil, headers: [
                    HeaderDoc("Keygate-Account", "The account that owns the credential.", required: true),
                    HeaderDoc("Keygate-Kind", "api_key or access_token.", required: true),
                    HeaderDoc("Keygate-Key-Id", "The key id (API keys)."),
                    HeaderDoc("Keygate-Client-Id", "The client id (access tokens)."),
                    HeaderDoc("Keygate-Policy", "The policy that applies.", required: true),
                    HeaderDoc("Keygate-Scope", "Granted scopes (access tokens with scopes)."),
                 ]),
                 errors: [ErrorDoc(400, ["invalid_request"], "The address header is not an IPv4 or IPv6 address."),
                          ErrorDoc(401, ["credential_required", "invalid_token"], "No credential was sent (`WWW-Authenticate: Bearer realm=\"keygate\"`), or it is not valid (`…, error=\"invalid_token\"`, RFC 6750 section 3.1).",
                                   headers: [HeaderDoc("WWW-Authenticate", "The Bearer challenge.", required: true)]),
                          ErrorDoc(403, ["ip_not_allowed", "forbidden"], "The credential may not be used from this address, or the peer is not allowed."),
                          ErrorDoc(429, ["rate_limited"], "Too many failed checks from this address in the last minute.",
                                   headers: [HeaderDoc("Retry-After", "Seconds to wait.", required: true)])],
                 head: true),
        Endpoint(.healthz, .service, "GET", "/healthz", role: .verify,
                 summary: "Liveness", description: "Answers while the daemon accepts requests.",
                 success: Success(200, "Alive.", .json(HealthResponse.self)), head: true),
        Endpoint(.metrics, .service, "GET", "/metrics", role: .verify,
                 summary: "Prometheus metrics",
                 description: "Verifications by result, tokens issued, live tokens, keys, request latency histogram, reloads by result, last successful reload time.",
                 success: Success(200, "The metrics.", .prometheus)),
        Endpoint(.token, .service, "POST", "/oauth/token", role: .verify,
                 summary: "Issue an access token (client credentials grant)",
                 description: "RFC 6749 section 4.4. Client authentication by HTTP Basic (RFC 6749 section 2.3.1: form-urlencoded id and secret) or by `client_id`/`client_secret` in the body, never both. The caller's address comes from `verify.ip_header`. The token is durable before it is answered.",
                 request: .form(OAuthForms.token, example: OAuthForms.tokenExample),
                 requestHeaders: [HeaderDoc("Authorization", "Basic base64(urlencode(client_id):urlencode(client_secret))."),
                                  addressHeader],
                 success: Success(200, "A new access token.", .json(TokenResponse.self), headers: noStore),
                 errors: [ErrorDoc(400, ["invalid_request", "unsupported_grant_type", "invalid_scope", "unauthorized_client"],
                                   "RFC 6749 section 5.2; unauthorized_client: the caller's address is not allowed for the pair or its policy.", headers: noStore),
                          ErrorDoc(401, ["invalid_client"], "Client authentication failed.", headers: noStore + [basicChallenge]),
                          ErrorDoc(429, ["slow_down"], "Too many failed client authentications from this address.",
                                   headers: noStore + [HeaderDoc("Retry-After", "Seconds to wait.", required: true)]),
                          ErrorDoc(503, ["storage_unavailable"], "The state database could not be written; no token was issued.")]),
        Endpoint(.introspect, .service, "POST", "/oauth/introspect", role: .verify,
                 summary: "Introspect a token or key (RFC 7662)",
                 description: "Authorised by the peer's credentials (access.verify). Exactly `{\"active\":false}` for anything that is not a live access token or an unexpired API key.",
                 request: .form(OAuthForms.introspect, example: OAuthForms.introspectExample),
                 success: Success(200, "What the token is.", .json(IntrospectionResponse.self), headers: noStore),
                 errors: [ErrorDoc(400, ["invalid_request"], "No `token`, or the body is not form-encoded.")]),
        Endpoint(.revoke, .service, "POST", "/oauth/revoke", role: .verify,
                 summary: "Revoke an access token (RFC 7009)",
                 description: "Client-authenticated like the token endpoint. 200 even for an unknown token; revokes only the caller's own tokens.",
                 request: .form(OAuthForms.revoke, example: OAuthForms.revokeExample),
                 requestHeaders: [HeaderDoc("Authorization", "Basic client authentication.")],
                 success: Success(200, "Revoked, or nothing to revoke.", nil, headers: noStore),
                 errors: [ErrorDoc(400, ["invalid_request"], "No `token`, or the body is not form-encoded.", headers: noStore),
                          ErrorDoc(401, ["invalid_client"], "Client authentication failed.", headers: noStore + [basicChallenge]),
                          ErrorDoc(429, ["slow_down"], "Too many failed client authentications from this address.",
                                   headers: noStore + [HeaderDoc("Retry-After", "Seconds to wait.", required: true)]),
                          ErrorDoc(503, ["storage_unavailable"], "The state database could not be written; nothing was revoked.")]),
        Endpoint(.serviceDocument, .service, "GET", "/openapi.json", role: .verify,
                 summary: "This socket's OpenAPI 3.1 document", description: "The same document as docs/openapi/service.json and `keygate api-docs service`.",
                 success: Success(200, "The document.", .openAPI)),

        // MARK: admin socket
        Endpoint(.status, .admin, "GET", "/v1/status", role: .manage,
                 summary: "Version, uptime, configuration and counts", description: "What `keygate status` shows.",
                 success: Success(200, "The daemon's status.", .json(StatusView.self))),
        Endpoint(.reload, .admin, "POST", "/v1/reload", role: .admin,
                 summary: "Re-read the configuration file",
                 description: "A valid file replaces the running configuration at once; an invalid one changes nothing and every error is answered. Changes to listen and storage take effect at the next start.",
                 success: Success(200, "The new configuration runs.", .json(ReloadResult.self)),
                 errors: [ErrorDoc(422, ["invalid_configuration"], "The file has errors (listed in `errors`); the running configuration stays.")]),
        Endpoint(.listAccounts, .admin, "GET", "/v1/accounts", role: .manage,
                 summary: "List accounts", description: "Every account that holds a key or a client pair, with counts.",
                 success: Success(200, "The accounts.", .json(AccountList.self))),
        Endpoint(.listKeys, .admin, "GET", "/v1/accounts/{account}/keys", role: .manage,
                 summary: "List an account's API keys", description: "Hints only, never secrets. An account without keys answers an empty list.",
                 success: Success(200, "The keys, in creation order.", .json(KeyList.self)),
                 errors: [badAccount]),
        Endpoint(.createKey, .admin, "POST", "/v1/accounts/{account}/keys", role: .manage,
                 summary: "Create an API key",
                 description: "The answer holds the secret (`key`): it is shown this once and never again. Durable before it is answered.",
                 request: .json(CreateKeyRequest.self),
                 success: Success(201, "The new key and its secret.", .json(CreatedKey.self), headers: [
                    HeaderDoc("Location", "The key's path.", required: true), HeaderDoc("Cache-Control", "no-store", required: true)]),
                 errors: [badAccount,
                          ErrorDoc(409, ["key_limit_reached", "name_taken"], "The account holds max_keys keys already (`limit` and `policy` say which), or has a key of that name."),
                          ErrorDoc(503, ["storage_unavailable"], "The state database could not be written; nothing was created.")],
                 links: [LinkDoc("UpdateKey", .updateKey, [("account", "$request.path.account"), ("id", "$response.body#/id")]),
                         LinkDoc("RollKey", .rollKey, [("account", "$request.path.account"), ("id", "$response.body#/id")]),
                         LinkDoc("KeyUsage", .keyUsage, [("account", "$request.path.account"), ("id", "$response.body#/id")]),
                         LinkDoc("DeleteKey", .deleteKey, [("account", "$request.path.account"), ("id", "$response.body#/id")]),
                         LinkDoc("ListKeys", .listKeys, [("account", "$request.path.account")])]),
        Endpoint(.updateKey, .admin, "PATCH", "/v1/accounts/{account}/keys/{id}", role: .manage,
                 summary: "Rename a key or change its IP restriction", description: "Applies to the next request.",
                 request: .json(UpdateKeyRequest.self),
                 success: Success(200, "The key as it is now.", .json(KeyView.self)),
                 errors: [badAccount, ErrorDoc(404, ["not_found"], "No such key in this account."),
                          ErrorDoc(409, ["name_taken"], "Another key of the account has that name."),
                          ErrorDoc(503, ["storage_unavailable"], "The state database could not be written; nothing was changed.")]),
        Endpoint(.deleteKey, .admin, "DELETE", "/v1/accounts/{account}/keys/{id}", role: .manage,
                 summary: "Delete an API key", description: "The key is refused from the moment this is answered.",
                 success: Success(204, "Deleted."),
                 errors: [badAccount, ErrorDoc(404, ["not_found"], "No such key in this account."),
                          ErrorDoc(503, ["storage_unavailable"], "The state database could not be written; nothing was deleted.")]),
        Endpoint(.rollKey, .admin, "POST", "/v1/accounts/{account}/keys/{id}/roll", role: .manage,
                 summary: "Give a key a new secret, with an overlap",
                 description: "Same id, name, restrictions and usage; the new secret is shown this once. The old secret keeps verifying until `grace` ends (default: it stops at once), then is refused REVOKED whether or not the sweep ran. A second roll during a grace ends the older secret's grace at once. Durable before it is answered.",
                 request: .json(RollKeyRequest.self), requestRequired: false,
                 success: Success(201, "The key with its new secret.", .json(RolledKey.self),
                                  headers: [HeaderDoc("Cache-Control", "no-store", required: true)]),
                 errors: [badAccount, ErrorDoc(404, ["not_found"], "No such key in this account."),
                          ErrorDoc(503, ["storage_unavailable"], "The state database could not be written; nothing was changed.")],
                 links: [LinkDoc("ListKeys", .listKeys, [("account", "$request.path.account")]),
                         LinkDoc("KeyUsage", .keyUsage, [("account", "$request.path.account"), ("id", "$response.body#/id")])]),
        Endpoint(.keyUsage, .admin, "GET", "/v1/accounts/{account}/keys/{id}/usage", role: .manage,
                 summary: "A key's verifications per day",
                 description: "Per UTC day for the last 30 days: verifications answered valid, and refused ones by code, summed over every host. Counted in memory on the verification path and written in batches; a count answered on this host before the request is in the answer, another host's within its usage write interval (5 s).",
                 success: Success(200, "The key's usage.", .json(UsageReport.self)),
                 errors: [badAccount, ErrorDoc(404, ["not_found"], "No such key in this account.")]),
        Endpoint(.clientUsage, .admin, "GET", "/v1/accounts/{account}/client/usage", role: .manage,
                 summary: "The client pair's tokens and verifications per day",
                 description: "For the account's current pair, per UTC day for the last 30 days: access tokens issued, and verifications of its tokens (valid, refused by code), summed over every host. A new pair starts with no usage.",
                 success: Success(200, "The pair's usage.", .json(UsageReport.self)),
                 errors: [badAccount, ErrorDoc(404, ["not_found"], "The account has no client credentials.")]),
        Endpoint(.showClient, .admin, "GET", "/v1/accounts/{account}/client", role: .manage,
                 summary: "Show an account's client pair", description: "The client id, never the secret; replaced pairs still in their grace are listed under `retiring`.",
                 success: Success(200, "The current pair.", .json(ClientView.self)),
                 errors: [badAccount, ErrorDoc(404, ["not_found"], "The account has no client credentials.")]),
        Endpoint(.generateClient, .admin, "POST", "/v1/accounts/{account}/client", role: .manage,
                 summary: "Generate the account's client pair",
                 description: "Replaces an existing pair: the previous pair and every token it issued stop working at once, or after `grace`. The secret is shown this once.",
                 request: .json(GenerateClientRequest.self), requestRequired: false,
                 success: Success(201, "The new pair and its secret.", .json(GeneratedClient.self),
                                  headers: [HeaderDoc("Cache-Control", "no-store", required: true)]),
                 errors: [badAccount, ErrorDoc(503, ["storage_unavailable"], "The state database could not be written; nothing was changed.")],
                 links: [LinkDoc("ShowClient", .showClient, [("account", "$request.path.account")]),
                         LinkDoc("DeleteClient", .deleteClient, [("account", "$request.path.account")])]),
        Endpoint(.deleteClient, .admin, "DELETE", "/v1/accounts/{account}/client", role: .manage,
                 summary: "Delete the account's client pair", description: "The pair, any pair in its grace, and their tokens stop working at once.",
                 success: Success(204, "Deleted."),
                 errors: [badAccount, ErrorDoc(404, ["not_found"], "The account has no client credentials."),
                          ErrorDoc(503, ["storage_unavailable"], "The state database could not be written; nothing was deleted.")]),
        Endpoint(.revokeTokens, .admin, "POST", "/v1/accounts/{account}/tokens/revoke", role: .manage,
                 summary: "Revoke every live access token of an account", description: "The pair stays; integrations ask for new tokens.",
                 success: Success(200, "How many were revoked.", .json(TokensRevoked.self)),
                 errors: [badAccount, ErrorDoc(503, ["storage_unavailable"], "The state database could not be written; nothing was revoked.")]),
        Endpoint(.reportLeaks, .admin, "POST", "/v1/leaks", role: .admin,
                 summary: "Report leaked secrets",
                 description: "For each secret: a live API key is deleted, a live access token revoked (so is a rolled key's old secret in its grace), a live client secret reported (its pair is not replaced automatically). The answer names each secret by hint, never more; one audit line per secret acted on. With `dry_run` nothing changes and the answer says what would be done. Any entry that is not a Keygate secret refuses the whole request (400, naming its position only).",
                 request: .json(LeaksRequest.self),
                 success: Success(200, "What was done, per secret, in order.", .json(LeakReport.self), headers: [HeaderDoc("Cache-Control", "no-store", required: true)]),
                 errors: [ErrorDoc(400, ["invalid_request"], "The body is not the object described, has 0 or more than 1000 secrets, or an entry is not a Keygate secret; nothing was changed."),
                          ErrorDoc(503, ["storage_unavailable"], "The state database could not be written; nothing was changed.")]),
        Endpoint(.adminDocument, .admin, "GET", "/openapi.json", role: .manage,
                 summary: "This socket's OpenAPI 3.1 document", description: "The same document as docs/openapi/admin.json and `keygate api-docs admin`.",
                 success: Success(200, "The document.", .openAPI)),
    ]

    public static func endpoint(_ id: OperationID) -> Endpoint {
        guard let e = byID[id] else { preconditionFailure("operation \(id) has no endpoint") }
        return e
    }

    static let byID: [OperationID: Endpoint] = Dictionary(uniqueKeysWithValues: endpoints.map { ($0.id, $0) })
    static let service = endpoints.filter { $0.socket == .service }
    static let admin = endpoints.filter { $0.socket == .admin }

    public static func endpoints(on socket: APISocket) -> [Endpoint] { socket == .service ? service : admin }

    /// The endpoint for `method` and `path` on `socket`, with its path parameters.
    public static func match(socket: APISocket, method: String, path: Substring) -> RouteMatch {
        let candidates = socket == .service ? service : admin
        var allowed: [String] = []
        var parts: [Substring]? = nil
        for e in candidates {
            var params = PathParameters()
            if let lit = e.literal {
                guard path == lit[...] else { continue }
            } else {
                if parts == nil { parts = path.split(separator: "/", omittingEmptySubsequences: false) }
                guard let p = parts, p.count == e.segments.count else { continue }
                var ok = true
                for (seg, want) in zip(p, e.segments) {
                    if want.hasPrefix("{") {
                        // An empty value reaches the handler, which says why it is not a name.
                        params.values.append((String(want.dropFirst().dropLast()), PercentEncoding.decodeSegment(seg)))
                    } else if seg != want {
                        ok = false; break
                    }
                }
                guard ok else { continue }
            }
            if e.method == method || (e.head && method == "HEAD") { return .found(e, params) }
            allowed += e.methods
        }
        return allowed.isEmpty ? .notFound : .methodNotAllowed(allow: allowed.joined(separator: ", "))
    }
}

/// RFC 3986 percent-encoding of path segments.
public enum PercentEncoding {
    /// Unreserved characters and '@' stay; everything else is %XX.
    public static func encodeSegment(_ s: String) -> String {
        var out = ""
        for b in s.utf8 {
            if Base62.isDigit(b) || b == UInt8(ascii: "-") || b == UInt8(ascii: ".") || b == UInt8(ascii: "_")
                || b == UInt8(ascii: "~") || b == UInt8(ascii: "@") {
                out.unicodeScalars.append(Unicode.Scalar(b))
            } else {
                let hex = Array("0123456789ABCDEF".utf8)
                out.unicodeScalars.append("%")
                out.unicodeScalars.append(Unicode.Scalar(hex[Int(b >> 4)]))
                out.unicodeScalars.append(Unicode.Scalar(hex[Int(b & 15)]))
            }
        }
        return out
    }

    /// %XX sequences decoded; a segment with a bad sequence or that decodes to
    /// invalid UTF-8 stays as it was (and then fails the name rules).
    public static func decodeSegment(_ s: Substring) -> String {
        guard s.utf8.contains(UInt8(ascii: "%")) else { return String(s) }
        var out: [UInt8] = []
        let u = Array(s.utf8)
        var i = 0
        while i < u.count {
            if u[i] == UInt8(ascii: "%") {
                guard i + 2 < u.count, let h = FormURLEncoded.hex(u[i + 1]), let l = FormURLEncoded.hex(u[i + 2]) else { return String(s) }
                out.append(h << 4 | l)
                i += 3
            } else {
                out.append(u[i])
                i += 1
            }
        }
        return String(validating: out, as: UTF8.self) ?? String(s)
    }
}
