import ArgumentParser
import KeygateAPI
import KeygateCore

struct KeyUpdateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "update", abstract: "Rename a key or change its IP restriction.")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The account.") var account: String
    @Argument(help: "The key id (key_…).") var keyID: String
    @Option(name: .long, help: "A new name.") var name: String?
    @Option(name: .customLong("allow-ip"), help: ArgumentHelp("Restrict the key to this address or CIDR block (repeatable; replaces the list).", valueName: "addr"))
    var allowIPs: [String] = []
    @Flag(name: .long, help: "Remove the key's IP restriction.") var unrestricted = false

    func validate() throws {
        try validateAccount(account)
        try validateKeyID(keyID, account: account)
        if unrestricted && !allowIPs.isEmpty { throw ValidationError("--unrestricted and --allow-ip contradict each other; give one") }
        if name == nil && allowIPs.isEmpty && !unrestricted { throw ValidationError("nothing to change: give --name, --allow-ip or --unrestricted") }
    }

    func run() throws {
        var body = JSONObject()
        if let n = name { body["name"] = .string(n) }
        if unrestricted { body["allow_ips"] = .array([]) }
        if !allowIPs.isEmpty { body["allow_ips"] = .array(allowIPs.map(JSON.string)) }
        let (_, reply) = try global.admin.call("PATCH", Route.key(account, keyID), body: .object(body))
        guard let j = reply, let k = KeyView(json: j) else { throw Exit.refused }
        if global.json { Console.printJSON(j); return }
        print("Updated \(k.id): name \"\(k.name)\", allowed \(describeAllowList(k.allowIPs))")
    }
}
