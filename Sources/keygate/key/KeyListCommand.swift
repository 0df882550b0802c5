import ArgumentParser
import KeygateAPI
import KeygateCore

struct KeyListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List an account's API keys (hints only, never secrets).")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The account.") var account: String

    func validate() throws {
        try validateAccount(account)
    }

    func run() throws {
        let list = try global.call { try global.admin.keys(account: account) }
        if global.json { Console.printJSON(list.json); return }
        if list.keys.isEmpty { print("\(account) has no API keys"); return }
        var t = Table("ID", "NAME", "HINT", "ALLOWED IPS", "CREATED", "EXPIRES", "LAST USED")
        for k in list.keys {
            let used = k.lastUsedAt.map { TimeText.format($0) + (k.lastUsedIP.map { " from \($0)" } ?? "") } ?? "never"
            t.add(k.id, k.name, k.hint + "…", describeAllowList(k.allowIPs), TimeText.format(k.createdAt), describeTime(k.expiresAt), used)
        }
        print(t.render())
    }
}
