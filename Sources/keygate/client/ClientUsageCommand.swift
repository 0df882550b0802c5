import ArgumentParser
import KeygateAPI

struct ClientUsageCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "usage", abstract: "The client pair's tokens issued and verifications per UTC day, last 30 days.")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The account.") var account: String

    func validate() throws { try validateAccount(account) }

    func run() throws {
        let report = try global.call { try global.admin.clientUsage(account: account) }
        if global.json { Console.printJSON(report.json); return }
        printUsage(report, subject: "client \(report.clientID ?? "?") of \(account)", tokens: true)
    }
}
