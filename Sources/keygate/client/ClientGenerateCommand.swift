import ArgumentParser
import KeygateAPI

struct ClientGenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Create the account's client id and secret; replaces (revokes) an existing pair and its tokens.")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The account.") var account: String
    @Option(name: .customLong("allow-ip"), help: ArgumentHelp("Restrict token requests and token use to this address or CIDR block (repeatable).", valueName: "addr"))
    var allowIPs: [String] = []
    @Option(name: .long, help: ArgumentHelp("Keep the old pair and its tokens working this long, e.g. 1h.", valueName: "duration"))
    var grace: String?
    @Flag(name: .long, help: "Replace an existing pair without asking.") var yes = false

    func validate() throws { try validateAccount(account) }

    func run() throws {
        let admin = global.admin
        if let old = try global.call({ try admin.client(account: account) })?.clientID {
            let when = grace.map { "after \($0)" } ?? "at once"
            try Confirm.orRefuse("Replace the client credentials of \(account)? Client \(old) and every token it issued stop working \(when).", yes: yes)
        }
        let request = GenerateClientRequest(allowIPs: allowIPs.isEmpty ? nil : allowIPs, grace: grace)
        let g = try global.call { try admin.generateClient(account: account, request) }
        if global.json {
            Console.printJSON(g.json)
        } else {
            print("""
                Client credentials for \(account)
                  client id      \(g.client.clientID)
                  client secret  \(g.secret)
                  allowed        \(describeAllowList(g.client.allowIPs))
                """)
            if let prev = g.previousClientID {
                print("  replaced       \(prev) (stops working \(g.previousRetiresAt.map(TimeText.format) ?? "now"))")
            }
        }
        Console.secretWarning()
    }
}
