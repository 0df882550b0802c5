import ArgumentParser
import KeygateAPI
import KeygateCore

struct ClientCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "client", abstract: "OAuth 2.0 client credentials: one pair per account.",
        subcommands: [ClientShowCommand.self, ClientGenerateCommand.self, ClientDeleteCommand.self, ClientUsageCommand.self])
}

struct TokensCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokens", abstract: "Access tokens.", subcommands: [TokensRevokeCommand.self])
}

/// Asks on the terminal before something that breaks integrations; without a
/// terminal, refuses unless --yes was given.
enum Confirm {
    static func orRefuse(_ question: String, yes: Bool) throws {
        if yes { return }
        guard Console.stdinIsTerminal else {
            Console.error("keygate: \(question)")
            Console.error("keygate: refusing without --yes (no terminal to ask on)")
            throw Exit.refused
        }
        Console.prompt("\(question) Type 'yes' to continue: ")
        guard readLine()?.trimmed(" \t") == "yes" else {
            Console.error("keygate: cancelled; nothing was changed")
            throw Exit.refused
        }
    }
}


