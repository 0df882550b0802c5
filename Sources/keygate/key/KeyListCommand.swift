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
        let (_, reply) = try global.admin.call("GET", Route.keys(account))
        guard let j = reply else { throw Exit.refused }
        if global.json { Console.printJSON(j); return }
        let keys = (j["keys"]?.arrayValue ?? []).compactMap(KeyView.init(json:))
        if keys.isEmpty { print("\(account) has no API keys"); return }
        var t = Table("ID", "NAME", "HINT", "ALLOWED IPS", "CREATED", "EXPIRES", "LAST USED")
        for k in keys {
            let used = k.lastUsedAt.map { TimeText.format($0) + (k.lastUsedIP.map { " from \($0)" } ?? "") } ?? "never"
            t.add(k.id, k.name, k.hint + "…", describeAllowList(k.allowIPs), TimeText.format(k.createdAt), describeTime(k.expiresAt), used)
        }
        print(t.render())
    }
}
