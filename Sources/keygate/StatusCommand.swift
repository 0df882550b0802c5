import ArgumentParser
import KeygateAPI

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "Show the daemon's version, uptime, configuration and counts.")

    @OptionGroup var global: GlobalOptions

    func run() throws {
        let s = try global.call { try global.admin.status() }
        if global.json { Console.printJSON(s.json); return }
        print("""
            keygated \(s.version), up \(s.uptimeSeconds)s (since \(TimeText.format(s.startedAt)))
            configuration  \(s.configPath)
              sha256       \(s.configDigest)
              loaded at    \(TimeText.format(s.loadedAt))
            accounts       \(s.accounts)
            api keys       \(s.keys)
            clients        \(s.clients)
            live tokens    \(s.liveTokens)
            storage        \(s.storage.backend)\(s.storage.feedPosition.map { ", change feed at \($0)" } ?? "")\(s.storage.feedLagSeconds.map { ", read \($0)s ago" } ?? "")\(s.storage.stale == true ? ", STALE: verifications refused" : "")
            """)
    }
}

struct AccountsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "accounts", abstract: "List accounts with their key count, client id and live tokens.")

    @OptionGroup var global: GlobalOptions

    func run() throws {
        let list = try global.call { try global.admin.accounts() }
        if global.json { Console.printJSON(list.json); return }
        var t = Table("ACCOUNT", "POLICY", "KEYS", "CLIENT ID", "LIVE TOKENS")
        for a in list.accounts {
            t.add(a.account, a.policy, String(a.keys), a.clientID ?? "-", String(a.liveTokens))
        }
        print(t.render())
    }
}
