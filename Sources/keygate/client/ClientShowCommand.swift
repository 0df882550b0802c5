import ArgumentParser
import KeygateAPI

struct ClientShowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Show an account's client id (never its secret).")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The account.") var account: String

    func validate() throws { try validateAccount(account) }

    func run() throws {
        let c = try global.call { try global.admin.client.call(.showClient, ["account": account], as: ClientView.self) }
        if global.json { Console.printJSON(c.json); return }
        print("""
            client of \(account)
              client id    \(c.clientID)
              created      \(TimeText.format(c.createdAt))
              allowed      \(describeAllowList(c.allowIPs))
              live tokens  \(c.liveTokens ?? 0)
            """)
        for r in c.retiring ?? [] {
            print("  retiring     \(r.clientID) until \(r.retiresAt.map(TimeText.format) ?? "?")")
        }
    }
}
