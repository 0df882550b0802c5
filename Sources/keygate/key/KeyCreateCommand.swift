import ArgumentParser
import KeygateAPI
import KeygateCore

struct KeyCreateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "create", abstract: "Create an API key; its secret is printed once.")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The account that owns the key.") var account: String
    @Option(name: .long, help: "A name for the key, unique within the account (1-100 characters).") var name: String
    @Option(name: .customLong("allow-ip"), help: ArgumentHelp("Restrict the key to this address or CIDR block (repeatable).", valueName: "addr"))
    var allowIPs: [String] = []
    @Option(name: .long, help: ArgumentHelp("Expire the key after this long, e.g. 90d, 12h.", valueName: "duration")) var expires: String?

    func validate() throws {
        try validateAccount(account)
    }

    func run() throws {
        var body: JSONObject = ["name": .string(name)]
        if !allowIPs.isEmpty { body["allow_ips"] = .array(allowIPs.map(JSON.string)) }
        if let e = expires { body["expires_in"] = .string(e) }
        let (_, reply) = try global.admin.call("POST", Route.keys(account), body: .object(body), expect: [201])
        guard let j = reply, let key = KeyView(json: j), let secret = j["key"]?.stringValue else { throw Exit.refused }
        if global.json {
            Console.printJSON(j)
        } else {
            print("""
                Created API key "\(key.name)" for \(account)
                  id       \(key.id)
                  key      \(secret)
                  allowed  \(describeAllowList(key.allowIPs))
                  expires  \(describeTime(key.expiresAt))
                """)
        }
        Console.secretWarning()
    }
}
