import ArgumentParser
import Foundation
import KeygateAPI
import KeygateCore
import KeygateMCP

struct MCPCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mcp",
        abstract: "Run a Model Context Protocol server on standard input/output, for an AI assistant.",
        discussion: """
            The server is a client of the admin socket with your own Unix credentials: the assistant can do exactly \
            what you may do, and with --account only to those accounts. Without --allow-write it can only look. \
            A created secret is written to a new file (mode 0600) in --secret-dir and never enters the assistant's \
            context, unless --reveal-secrets. It exits 0 when its input closes, after answering every request received.
            """)

    @Option(name: .long, help: ArgumentHelp("Admin socket (env KEYGATE_ADMIN_SOCKET).", valueName: "path"))
    var adminSocket: String?
    @Option(name: .customLong("account"), help: ArgumentHelp("Confine every tool to this account (repeatable).", valueName: "account"))
    var accounts: [String] = []
    @Flag(name: .long, help: "Offer the tools that change credentials (create, update, delete, generate, revoke).")
    var allowWrite = false
    @Flag(name: .long, help: "Put created secrets into the results, and so into the assistant's context.")
    var revealSecrets = false
    @Option(name: .long, help: ArgumentHelp("Where created secrets are written (default $XDG_RUNTIME_DIR/keygate, else ~/.cache/keygate).", valueName: "dir"))
    var secretDir: String?

    func validate() throws {
        for a in accounts { try validateAccount(a) }
    }

    func run() throws {
        let env = ProcessInfo.processInfo.environment
        let options = MCPOptions(adminSocket: adminSocket ?? Env.get("KEYGATE_ADMIN_SOCKET") ?? "/run/keygate/admin.sock",
                                 accounts: accounts, allowWrite: allowWrite, revealSecrets: revealSecrets,
                                 secretDir: secretDir ?? SecretVault.defaultDirectory(environment: env))
        // The server runs on Swift concurrency's pool; the main thread waits for it.
        final class Outcome: @unchecked Sendable { var error: Error? }
        let outcome = Outcome()
        let done = DispatchSemaphore(value: 0)
        Task {
            do { try await KeygateMCPServer.run(options) } catch { outcome.error = error }
            done.signal()
        }
        done.wait()
        if let e = outcome.error {
            Console.error("keygate mcp: \(e)")
            throw Exit.refused
        }
    }
}
