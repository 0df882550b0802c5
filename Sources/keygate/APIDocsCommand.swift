import ArgumentParser
import KeygateAPI

struct APIDocsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "api-docs",
        abstract: "Print a socket's OpenAPI 3.1 document (the one keygated serves at GET /openapi.json).",
        discussion: "Built into this binary from the same route table as the daemon: no daemon is needed.")

    enum Which: String, ExpressibleByArgument, CaseIterable { case service, admin }

    @Argument(help: "service or admin.") var socket: Which = .service

    func run() throws {
        print(OpenAPIDocument.text(for: socket == .service ? .service : .admin), terminator: "")
    }
}
