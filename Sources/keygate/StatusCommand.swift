import ArgumentParser
import KeygateAPI

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "Show the daemon's version, uptime, configuration and counts.")

    @OptionGroup var global: GlobalOptions

    func run() throws {
        let (_, body) = try global.admin.call("GET", Route.status)
        guard let j = body else { throw Exit.refused }
        if global.json { Console.printJSON(j); return }
        let c = j["config"], n = j["counts"]
        print("""
            keygated \(j["version"]?.stringValue ?? "?"), up \(j["uptime_seconds"]?.intValue ?? 0)s (since \(j["started_at"]?.stringValue ?? "?"))
            configuration  \(c?["path"]?.stringValue ?? "?")
              sha256       \(c?["sha256"]?.stringValue ?? "?")
              loaded at    \(c?["loaded_at"]?.stringValue ?? "?")
            accounts       \(n?["accounts"]?.intValue ?? 0)
            api keys       \(n?["keys"]?.intValue ?? 0)
            clients        \(n?["clients"]?.intValue ?? 0)
            live tokens    \(n?["live_tokens"]?.intValue ?? 0)
            """)
    }
}

struct AccountsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "accounts", abstract: "List accounts with their key count, client id and live tokens.")

    @OptionGroup var global: GlobalOptions

    func run() throws {
        let (_, body) = try global.admin.call("GET", Route.accounts)
        guard let j = body else { throw Exit.refused }
        if global.json { Console.printJSON(j); return }
        var t = Table("ACCOUNT", "POLICY", "KEYS", "CLIENT ID", "LIVE TOKENS")
        for a in j["accounts"]?.arrayValue ?? [] {
            t.add(a["account"]?.stringValue ?? "", a["policy"]?.stringValue ?? "", String(a["keys"]?.intValue ?? 0),
                  a["client_id"]?.stringValue ?? "-", String(a["live_tokens"]?.intValue ?? 0))
        }
        print(t.render())
    }
}
