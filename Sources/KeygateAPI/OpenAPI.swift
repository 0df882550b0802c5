/// The OpenAPI 3.1 document of each socket, built from the route table and the
/// wire types' schemas (SPEC 9). The daemon serves it, `keygate api-docs`
/// prints it, and docs/openapi/ holds the same bytes.
public enum OpenAPIDocument {
    /// Every wire type whose schema a document may reference.
    static let types: [any WireType.Type] = [
        APIErrorWire.self, VerifyRequest.self, VerifyResponse.self, HealthResponse.self, TokenResponse.self, IntrospectionResponse.self,
        KeyView.self, KeyList.self, CreatedKey.self, CreateKeyRequest.self, UpdateKeyRequest.self, ClientView.self,
        GenerateClientRequest.self, GeneratedClient.self, TokensRevoked.self, AccountSummary.self, AccountList.self,
        StatusView.self, ReloadResult.self, RollKeyRequest.self, RolledKey.self, UsageDayView.self, UsageReport.self,
        LeaksRequest.self, LeakResult.self, LeakReport.self,
    ]
    public static let schemas: [String: JSON] = Dictionary(uniqueKeysWithValues: types.map { ($0.schemaName, $0.schema) })

    static let socketPaths: [APISocket: String] = [.service: "/run/keygate/keygate.sock", .admin: "/run/keygate/admin.sock"]

    /// The document as pretty-printed bytes, ending in a newline.
    public static func text(for socket: APISocket) -> String { JSONPretty.render(document(for: socket)) + "\n" }

    public static func document(for socket: APISocket) -> JSON {
        let endpoints = RouteTable.endpoints(on: socket)
        var paths = JSONObject()
        for e in endpoints {
            var item = paths[e.path]?.objectValue ?? JSONObject()
            item[e.method.lowercased()] = operation(e, head: false)
            if e.head { item["head"] = operation(e, head: true) }
            paths[e.path] = .object(item)
        }
        let path = socketPaths[socket] ?? ""
        let title = socket == .service ? "Keygate service socket" : "Keygate admin socket"
        let about = socket == .service
            ? "Verification, nginx auth_request, OAuth 2.0 (client credentials, introspection, revocation), health and metrics, for local services. Peers are checked against access.verify (SO_PEERCRED)."
            : "Credential management for keygate and the application's backend. Peers are checked against access.admin and access.manage (SO_PEERCRED); reload needs admin. Every mutation is durable before it is answered."
        return [
            "openapi": "3.1.0",
            "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
            "info": ["title": .string(title), "version": .string(KeygateVersion.string),
                     "description": .string(about + " Errors are {\"error\":code,\"error_description\":text}; codes never change once shipped.")],
            "servers": [["url": "http://keygate",
                         "description": .string("The transport is a Unix domain socket, not TCP: curl --unix-socket \(path) http://keygate/...")]],
            "paths": .object(paths),
            "components": ["schemas": .object(referencedSchemas(from: .object(paths)))],
        ]
    }

    static func operation(_ e: Endpoint, head: Bool) -> JSON {
        var op: JSONObject = [
            "operationId": .string(head ? e.id.rawValue + "Head" : e.id.rawValue),
            "summary": .string(head ? e.summary + " (headers only)" : e.summary),
            "description": .string(e.description + " Role: \(e.role.rawValue)."),
            "x-keygate-role": .string(e.role.rawValue),
        ]
        var parameters: [JSON] = e.parameterNames.map { name in
            ["name": .string(name), "in": "path", "required": true, "schema": name == "id" ? Schema.keyID : Schema.account]
        }
        parameters += e.requestHeaders.map { h in
            ["name": .string(h.name), "in": "header", "required": .bool(h.required), "description": .string(h.description),
             "schema": h.schema]
        }
        if !parameters.isEmpty { op["parameters"] = .array(parameters) }
        if let r = e.request, !head {
            op["requestBody"] = ["required": .bool(e.requestRequired), "content": content(r)]
        }
        var responses = JSONObject()
        var success: JSONObject = ["description": .string(e.success.description)]
        if !e.success.headers.isEmpty { success["headers"] = headers(e.success.headers) }
        if let p = e.success.payload, !head { success["content"] = content(p) }
        if !e.links.isEmpty {
            var links = JSONObject()
            for l in e.links {
                links[l.name] = ["operationId": .string(l.target.rawValue),
                                 "parameters": .object(JSONObject(l.parameters.map { ($0.0, JSON.string($0.1)) }))]
            }
            success["links"] = .object(links)
        }
        responses[String(e.success.status)] = .object(success)
        for err in errors(e) {
            var r: JSONObject = ["description": .string(err.description + " Codes: " + err.codes.joined(separator: ", ") + ".")]
            if !err.headers.isEmpty { r["headers"] = headers(err.headers) }
            if !head {
                var examples = JSONObject()
                for code in err.codes {
                    examples[code] = ["value": ["error": .string(code), "error_description": .string(err.description)]]
                }
                r["content"] = ["application/json": [
                    "schema": ["allOf": [Schema.ref(APIError.schemaName),
                                         ["properties": ["error": ["enum": .array(err.codes.map(JSON.string))]]]]],
                    "examples": .object(examples)]]
            }
            responses[String(err.status)] = .object(r)
        }
        op["responses"] = .object(responses)
        return .object(op)
    }

    /// The endpoint's own errors, merged by status, plus those every endpoint
    /// can answer: 403 for a refused peer, 413 for a body over the limit.
    static func errors(_ e: Endpoint) -> [ErrorDoc] {
        var all = e.errors + [RouteTable.forbidden]
        if e.request != nil {
            all.append(ErrorDoc(413, ["request_too_large"], "The body is over the limit of 64 KiB."))
        } else {
            all.append(ErrorDoc(400, ["invalid_request"], "The request has a body; this operation takes none."))
        }
        var merged: [ErrorDoc] = []
        for err in all {
            if let i = merged.firstIndex(where: { $0.status == err.status }) {
                let m = merged[i]
                let codes = m.codes + err.codes.filter { !m.codes.contains($0) }
                let names = Set(m.headers.map(\.name))
                merged[i] = ErrorDoc(m.status, codes, m.description + " " + err.description,
                                     headers: m.headers + err.headers.filter { !names.contains($0.name) })
            } else {
                merged.append(err)
            }
        }
        return merged.sorted { $0.status < $1.status }
    }

    static func content(_ p: Payload) -> JSON {
        var media: JSONObject = ["schema": p.schema]
        if let ex = p.example { media["example"] = ex }
        return [p.contentType: .object(media)]
    }

    static func headers(_ hs: [HeaderDoc]) -> JSON {
        .object(JSONObject(hs.map { h in
            (h.name, ["description": .string(h.description), "required": .bool(h.required), "schema": ["type": "string"]])
        }))
    }

    /// The component schemas `root` refers to, and those they refer to, by name.
    public static func referencedSchemas(from root: JSON) -> JSONObject {
        var names: [String] = []
        var queue = [root]
        while let j = queue.popLast() {
            switch j {
            case .object(let o):
                if let r = o["$ref"]?.stringValue, r.hasPrefix("#/components/schemas/") {
                    let name = String(r.dropFirst("#/components/schemas/".count))
                    if !names.contains(name), let s = schemas[name] { names.append(name); queue.append(s) }
                }
                queue += o.members.map(\.1)
            case .array(let a):
                queue += a
            default:
                break
            }
        }
        return JSONObject(names.sorted().compactMap { n in schemas[n].map { (n, $0) } })
    }
}

/// `APIError` as a wire type, so that its schema sits in the registry with the others.
struct APIErrorWire: WireType {
    var error: APIError
    var json: JSON { error.json }
    init(json: JSON) throws {
        guard let e = APIError(json: json, status: 0) else { throw WireDecodingError(type: "Error", field: "error") }
        error = e
    }
    init(_ e: APIError) { error = e }
    static let schemaName = APIError.schemaName
    static let schema = APIError.schema
    static let example = APIErrorWire(APIError.invalidRequest("create key: 'name' is required"))
}

/// Indented JSON for people: two spaces, members in order.
public enum JSONPretty {
    public static func render(_ j: JSON, indent: String = "") -> String {
        let inner = indent + "  "
        switch j {
        case .array(let a) where !a.isEmpty:
            return "[\n" + a.map { inner + render($0, indent: inner) }.joined(separator: ",\n") + "\n\(indent)]"
        case .object(let o) where !o.members.isEmpty:
            return "{\n" + o.members.map { k, v in inner + JSON.string(k).text + ": " + render(v, indent: inner) }.joined(separator: ",\n") + "\n\(indent)}"
        default:
            return j.text
        }
    }
}
