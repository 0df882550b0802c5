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
        let request = CreateKeyRequest(name: name, allowIPs: allowIPs.isEmpty ? nil : allowIPs, expiresIn: expires)
        let created = try global.call { try global.admin.createKey(account: account, request) }
        if global.json {
            Console.printJSON(created.json)
        } else {
            let key = created.key
            print("""
                Created API key "\(key.name)" for \(account)
                  id       \(key.id)
                  key      \(created.secret)
                  allowed  \(describeAllowList(key.allowIPs))
                  expires  \(describeTime(key.expiresAt))
                """)
        }
        Console.secretWarning()
    }
}
