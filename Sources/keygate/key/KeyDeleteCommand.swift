import ArgumentParser
import KeygateAPI
import KeygateCore

struct KeyDeleteCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "delete", abstract: "Delete an API key; it stops working at once.")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The account.") var account: String
    @Argument(help: "The key id (key_…).") var keyID: String

    func validate() throws {
        try validateAccount(account)
        try validateKeyID(keyID, account: account)
    }

    func run() throws {
        try global.call { try global.admin.deleteKey(account: account, id: keyID) }
        if global.json { Console.printJSON(["deleted": true, "id": .string(keyID)]); return }
        print("Deleted \(keyID) from \(account)")
    }
}
