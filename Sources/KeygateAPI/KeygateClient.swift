/// A typed client of either socket: each call names an operation of the route
/// table, which gives its method, path and success status; answers come back
/// as wire types and failures as `ClientError` (transport, or `.refused` with
/// the daemon's `APIError`).
public struct KeygateClient: Sendable {
    public let http: UnixHTTPClient

    public init(socketPath: String, timeoutSeconds: Int = 30) { http = UnixHTTPClient(path: socketPath, timeoutSeconds: timeoutSeconds) }

    public var socketPath: String { http.path }

    /// Sends the operation and returns the answer when it is the endpoint's success status.
    @discardableResult
    public func send(_ op: OperationID, _ parameters: [String: String] = [:], body: JSON? = nil) throws -> HTTPReply {
        let e = RouteTable.endpoint(op)
        let reply = try http.request(e.method, e.path(parameters), json: body)
        guard reply.status == e.success.status else {
            let json = reply.body.isEmpty ? nil : try? reply.json()
            throw ClientError.refused(json.flatMap { APIError(json: $0, status: reply.status) }
                                      ?? APIError(reply.status, "http_\(reply.status)", "keygated answered \(reply.status)"))
        }
        return reply
    }

    public func call<T: WireType>(_ op: OperationID, _ parameters: [String: String] = [:], body: JSON? = nil, as: T.Type = T.self) throws -> T {
        let reply = try send(op, parameters, body: body)
        do {
            return try T(json: try reply.json())
        } catch {
            throw ClientError.badResponse("\(op.rawValue): \(error)")
        }
    }
}

/// The admin socket's operations (SPEC 6).
public struct AdminClient: Sendable {
    public let client: KeygateClient
    public init(socketPath: String, timeoutSeconds: Int = 30) { client = KeygateClient(socketPath: socketPath, timeoutSeconds: timeoutSeconds) }

    public func status() throws -> StatusView { try client.call(.status) }
    public func reload() throws -> ReloadResult { try client.call(.reload) }
    public func accounts() throws -> AccountList { try client.call(.listAccounts) }
    public func keys(account: String) throws -> KeyList { try client.call(.listKeys, ["account": account]) }
    public func createKey(account: String, _ request: CreateKeyRequest) throws -> CreatedKey {
        try client.call(.createKey, ["account": account], body: request.json)
    }
    public func updateKey(account: String, id: String, _ request: UpdateKeyRequest) throws -> KeyView {
        try client.call(.updateKey, ["account": account, "id": id], body: request.json)
    }
    public func deleteKey(account: String, id: String) throws { try client.send(.deleteKey, ["account": account, "id": id]) }
    /// The account's pair, or nil when it has none.
    public func client(account: String) throws -> ClientView? {
        do {
            return try client.call(.showClient, ["account": account])
        } catch ClientError.refused(let e) where e.status == 404 {
            return nil
        }
    }
    public func generateClient(account: String, _ request: GenerateClientRequest) throws -> GeneratedClient {
        try client.call(.generateClient, ["account": account], body: request.json)
    }
    public func deleteClient(account: String) throws { try client.send(.deleteClient, ["account": account]) }
    public func revokeTokens(account: String) throws -> TokensRevoked { try client.call(.revokeTokens, ["account": account]) }
    public func rollKey(account: String, id: String, _ request: RollKeyRequest) throws -> RolledKey {
        try client.call(.rollKey, ["account": account, "id": id], body: request.json)
    }
    public func keyUsage(account: String, id: String) throws -> UsageReport { try client.call(.keyUsage, ["account": account, "id": id]) }
    public func clientUsage(account: String) throws -> UsageReport { try client.call(.clientUsage, ["account": account]) }
    public func leaks(_ request: LeaksRequest) throws -> LeakReport { try client.call(.reportLeaks, body: request.json) }
    public func document() throws -> JSON { try client.send(.adminDocument).json() }
}

/// The service socket's JSON operations (SPEC 5).
public struct ServiceClient: Sendable {
    public let client: KeygateClient
    public init(socketPath: String, timeoutSeconds: Int = 30) { client = KeygateClient(socketPath: socketPath, timeoutSeconds: timeoutSeconds) }

    public func verify(_ request: VerifyRequest) throws -> VerifyResponse { try client.call(.verify, body: request.json) }
    /// RFC 7662 introspection of an API key or access token.
    public func introspect(_ secret: String) throws -> IntrospectionResponse {
        let e = RouteTable.endpoint(.introspect)
        let body = Array(("token=" + PercentEncoding.encodeSegment(secret)).utf8)
        let reply = try client.http.request(e.method, e.path([:]), body: body, headers: [("Content-Type", "application/x-www-form-urlencoded")])
        guard reply.status == 200 else {
            throw ClientError.refused((try? reply.json()).flatMap { APIError(json: $0, status: reply.status) }
                                      ?? APIError(reply.status, "http_\(reply.status)", "keygated answered \(reply.status)"))
        }
        do { return try IntrospectionResponse(json: try reply.json()) } catch { throw ClientError.badResponse("introspect: \(error)") }
    }
    public func health() throws -> HealthResponse { try client.call(.healthz) }
    public func document() throws -> JSON { try client.send(.serviceDocument).json() }
}
