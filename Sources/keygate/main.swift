#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import KeygateAPI

struct Keygate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keygate",
        abstract: "Control tool for keygated: API keys, OAuth 2.0 clients, configuration.",
        discussion: """
            Exit codes: 0 success, 1 refused or failed (message on stderr), 2 usage, 3 daemon unreachable.
            """,
        version: KeygateVersion.string,
        subcommands: [StatusCommand.self, ReloadCommand.self, ConfigCommand.self, KeyCommand.self,
                      ClientCommand.self, TokensCommand.self, AccountsCommand.self, VerifyCommand.self, ScanCommand.self,
                      APIDocsCommand.self, MCPCommand.self])
}

// SPEC 7 exit codes: ArgumentParser's own usage code (64) becomes 2.
/// Global options may come before the subcommand too (`keygate --json key list acme`):
/// move them after it, where ArgumentParser reads them.
func reorderGlobalOptions(_ args: [String]) -> [String] {
    var leading: [String] = [], rest = args[...]
    while let first = rest.first, first.hasPrefix("--") {
        let name = first.split(separator: "=", maxSplits: 1).first.map(String.init) ?? first
        if name == "--json" {
            leading.append(first); rest = rest.dropFirst()
        } else if name == "--admin-socket" || name == "--service-socket" {
            leading.append(first); rest = rest.dropFirst()
            if !first.contains("="), let v = rest.first { leading.append(v); rest = rest.dropFirst() }
        } else {
            break
        }
    }
    return Array(rest) + leading
}

do {
    var command = try Keygate.parseAsRoot(reorderGlobalOptions(Array(CommandLine.arguments.dropFirst())))
    try command.run()
} catch {
    let code = Keygate.exitCode(for: error)
    let message = Keygate.fullMessage(for: error)
    if code == .success {
        if !message.isEmpty { print(message) }
        exit(0)
    }
    if !message.isEmpty { Console.error(message) }
    exit(code == .validationFailure ? 2 : code.rawValue)
}
