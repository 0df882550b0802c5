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
        let request = UpdateKeyRequest(name: name, allowIPs: unrestricted ? [] : (allowIPs.isEmpty ? nil : allowIPs))
        let k = try global.call { try global.admin.updateKey(account: account, id: keyID, request) }
        if global.json { Console.printJSON(k.json); return }
        print("Updated \(k.id): name \"\(k.name)\", allowed \(describeAllowList(k.allowIPs))")
    }
}
