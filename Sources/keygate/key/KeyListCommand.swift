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
        // The column appears only while a rolled key's old secret is still accepted.
        let rolling = list.keys.contains { $0.rollingUntil != nil }
        var t = Table("ID", "NAME", "HINT", "ALLOWED IPS", "CREATED", "EXPIRES", "LAST USED")
        if rolling { t.header.append("OLD SECRET UNTIL") }
        for k in list.keys {
            let used = k.lastUsedAt.map { TimeText.format($0) + (k.lastUsedIP.map { " from \($0)" } ?? "") } ?? "never"
            var row = [k.id, k.name, k.hint + "…", describeAllowList(k.allowIPs), TimeText.format(k.createdAt), describeTime(k.expiresAt), used]
            if rolling { row.append(k.rollingUntil.map(TimeText.format) ?? "-") }
            t.rows.append(row)
        }
        print(t.render())
    }
}
