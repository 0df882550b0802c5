import Dispatch
import Foundation
import KeygateAPI
import KeygateCore
import Logging
import MCP

public struct MCPOptions: Sendable {
    public var adminSocket: String
    public var accounts: [String]
    public var allowWrite: Bool
    public var revealSecrets: Bool
    public var secretDir: String

    public init(adminSocket: String, accounts: [String], allowWrite: Bool, revealSecrets: Bool, secretDir: String) {
        self.adminSocket = adminSocket; self.accounts = accounts; self.allowWrite = allowWrite
        self.revealSecrets = revealSecrets; self.secretDir = secretDir
    }
}

/// `keygate mcp`: a Model Context Protocol server on standard input and
/// output (SPEC 10), a client of the admin socket with the caller's own Unix
/// credentials. Protocol messages only on stdout; diagnostics on stderr.
public enum KeygateMCPServer {
    public static let resources: [(uri: String, socket: APISocket)] = [
        ("keygate://openapi/service", .service), ("keygate://openapi/admin", .admin),
    ]

    public static func run(_ options: MCPOptions) async throws {
        var logger = Logger(label: "keygate.mcp") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = .warning
        let context = ToolContext(admin: AdminClient(socketPath: options.adminSocket), confinement: Confinement(accounts: options.accounts),
                                  vault: options.revealSecrets ? nil : SecretVault(directory: options.secretDir))
        let tools = ToolTable.available(allowWrite: options.allowWrite)
        let server = Server(
            name: "keygate", version: KeygateVersion.string, title: "Keygate",
            instructions: "Manage API keys and OAuth 2.0 client credentials of "
                + (options.accounts.isEmpty ? "the accounts the caller's Unix user may manage" : "the account(s) \(options.accounts.joined(separator: ", "))")
                + " through keygated. Created secrets are " + (options.revealSecrets ? "returned in results." : "written to files (mode 0600); results name the file and the secret's hint."),
            capabilities: .init(resources: .init(subscribe: false, listChanged: false), tools: .init(listChanged: false)))

        await server.withMethodHandler(ListTools.self) { _ in
            ListTools.Result(tools: tools.map(mcpTool))
        }
        await server.withMethodHandler(CallTool.self) { params in
            guard let tool = tools.first(where: { $0.name == params.name }) else {
                let hidden = ToolTable.tools.contains { $0.name == params.name }
                throw MCPError.invalidParams("Unknown tool: \(Redact.echo(params.name, max: 64))" + (hidden ? " (write tools need keygate mcp --allow-write)" : ""))
            }
            let raw = (params.arguments ?? [:]).mapValues { JSON($0) }
            return await call(tool, raw, context)
        }
        await server.withMethodHandler(ListResources.self) { _ in
            ListResources.Result(resources: resources.map { r in
                Resource(name: "openapi-\(r.socket.rawValue)", uri: r.uri, title: "OpenAPI document of the \(r.socket.rawValue) socket",
                         description: "The \(r.socket.rawValue) socket's REST API (OpenAPI 3.1), as keygated serves it at GET /openapi.json.",
                         mimeType: "application/json")
            })
        }
        await server.withMethodHandler(ReadResource.self) { params in
            guard let r = resources.first(where: { $0.uri == params.uri }) else {
                throw MCPError.serverError(code: -32002, message: "Resource not found: \(Redact.echo(params.uri, max: 100))")
            }
            return ReadResource.Result(contents: [.text(OpenAPIDocument.text(for: r.socket), uri: r.uri, mimeType: "application/json")])
        }

        let transport = DrainingTransport(inner: StdioTransport(logger: logger))
        try await server.start(transport: transport)
        await server.waitUntilCompleted()
        // Input closed: answer every request already received, then exit.
        await transport.waitForInFlight(timeout: .seconds(60))
        await server.stop()
    }

    static func mcpTool(_ t: ToolSpec) -> Tool {
        Tool(name: t.name, title: t.title, description: t.description, inputSchema: Value(t.inputSchema),
             annotations: .init(title: t.title, readOnlyHint: t.readOnly, destructiveHint: t.destructive,
                                idempotentHint: t.idempotent, openWorldHint: false),
             outputSchema: Value(t.outputSchema))
    }

    /// Runs a tool off the cooperative pool (the admin client blocks on its
    /// socket); a refusal of any kind is an `isError` result with its message.
    static func call(_ tool: ToolSpec, _ raw: [String: JSON], _ ctx: ToolContext) async -> CallTool.Result {
        let outcome: Result<JSON, Error> = await withCheckedContinuation { c in
            DispatchQueue.global().async {
                c.resume(returning: Result { try tool.run(try Arguments(raw, tool: tool), ctx) })
            }
        }
        switch outcome {
        case .success(let json):
            do {
                return try CallTool.Result(content: [.text(text: json.text, annotations: nil, _meta: nil)], structuredContent: Value(json), isError: false)
            } catch {
                return refusal("\(error)")
            }
        case .failure(let e as ClientError):
            switch e {
            case .refused(let api):
                return refusal(([api.message] + api.configurationErrors).joined(separator: "\n") + " (\(api.code))")
            default:
                return refusal("\(e)" + (e.advice.map { "; \($0)" } ?? ""))
            }
        case .failure(let e):
            return refusal("\(e)")
        }
    }

    static func refusal(_ message: String) -> CallTool.Result {
        CallTool.Result(content: [.text(text: message, annotations: nil, _meta: nil)], isError: true)
    }
}

/// The SDK answers each request in a task of its own and stops reading at
/// the end of input without waiting for them. This transport notes every
/// request id before the server sees it and forgets it once its answer was
/// written, so that `waitForInFlight` can hold the exit until all are answered.
actor DrainingTransport: Transport {
    private let inner: StdioTransport
    nonisolated let logger: Logger
    private let stream: AsyncThrowingStream<Data, Swift.Error>
    private let continuation: AsyncThrowingStream<Data, Swift.Error>.Continuation
    private var pump: Task<Void, Never>?
    private var inFlight: Set<String> = []

    init(inner: StdioTransport) {
        self.inner = inner
        self.logger = inner.logger
        (stream, continuation) = AsyncThrowingStream<Data, Swift.Error>.makeStream()
    }

    func connect() async throws {
        try await inner.connect()
        let upstream = await inner.receive()
        pump = Task {
            do {
                for try await data in upstream {
                    noteIncoming(data)
                    continuation.yield(data)
                }
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
    }

    func disconnect() async { await inner.disconnect() }

    func send(_ data: Data) async throws {
        try await inner.send(data)
        for obj in Self.objects(in: data) where obj["method"] == nil {
            if let key = Self.key(obj["id"]) { inFlight.remove(key) }
        }
    }

    func receive() -> AsyncThrowingStream<Data, Swift.Error> { stream }

    func waitForInFlight(timeout: Duration) async {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while !inFlight.isEmpty && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(5))
        }
    }

    private func noteIncoming(_ data: Data) {
        for obj in Self.objects(in: data) {
            guard let method = obj["method"]?.stringValue else { continue }
            if method == "notifications/cancelled" {
                // A cancelled request gets no answer.
                if let key = Self.key(obj["params"]?.objectValue?["requestId"]) { inFlight.remove(key) }
            } else if let key = Self.key(obj["id"]) {
                inFlight.insert(key)
            }
        }
    }

    private static func objects(in data: Data) -> [[String: Value]] {
        guard let v = try? JSONDecoder().decode(Value.self, from: data) else { return [] }
        switch v {
        case .object(let o): return [o]
        case .array(let a): return a.compactMap(\.objectValue)
        default: return []
        }
    }

    private static func key(_ id: Value?) -> String? {
        switch id {
        case .int(let i)?: return "n:\(i)"
        case .string(let s)?: return "s:\(s)"
        default: return nil
        }
    }
}
