import ArgumentParser
import KeygateAPI

struct ClientShowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Show an account's client id (never its secret).")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The account.") var account: String

    func validate() throws { try validateAccount(account) }

    func run() throws {
        let (_, reply) = try global.admin.call("GET", Route.client(account))
        guard let j = reply else { throw Exit.refused }
        if global.json { Console.printJSON(j); return }
        print("""
            client of \(account)
              client id    \(j["client_id"]?.stringValue ?? "?")
              created      \(j["created_at"]?.stringValue ?? "?")
              allowed      \(describeAllowList(j["allow_ips"]?.arrayValue?.compactMap(\.stringValue) ?? []))
              live tokens  \(j["live_tokens"]?.intValue ?? 0)
            """)
        for r in j["retiring"]?.arrayValue ?? [] {
            print("  retiring     \(r["client_id"]?.stringValue ?? "?") until \(r["retires_at"]?.stringValue ?? "?")")
        }
    }
}
