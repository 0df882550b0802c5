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
        let (existing, current) = try admin.call("GET", Route.client(account), expect: [200, 404])
        if existing.status == 200, let old = current?["client_id"]?.stringValue {
            let when = grace.map { "after \($0)" } ?? "at once"
            try Confirm.orRefuse("Replace the client credentials of \(account)? Client \(old) and every token it issued stop working \(when).", yes: yes)
        }
        var body = JSONObject()
        if !allowIPs.isEmpty { body["allow_ips"] = .array(allowIPs.map(JSON.string)) }
        if let g = grace { body["grace"] = .string(g) }
        let (_, reply) = try admin.call("POST", Route.client(account), body: .object(body), expect: [201])
        guard let j = reply, let id = j["client_id"]?.stringValue, let secret = j["client_secret"]?.stringValue else { throw Exit.refused }
        if global.json {
            Console.printJSON(j)
        } else {
            print("""
                Client credentials for \(account)
                  client id      \(id)
                  client secret  \(secret)
                  allowed        \(describeAllowList(j["allow_ips"]?.arrayValue?.compactMap(\.stringValue) ?? []))
                """)
            if let prev = j["previous_client_id"]?.stringValue {
                print("  replaced       \(prev) (stops working \(j["previous_retires_at"]?.stringValue ?? "now"))")
            }
        }
        Console.secretWarning()
    }
}
