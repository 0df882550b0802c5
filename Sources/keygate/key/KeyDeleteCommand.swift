import ArgumentParser
import KeygateAPI
import KeygateCore

struct KeyDeleteCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "delete", abstract: "Delete an API key; it stops working at once.")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The account.") var account: String
    @Argument(help: "The key id (key_…).") var keyID: String

    func validate() throws {
        guard AccountName.isValid(account) else { throw ValidationError("'\(Redact.echo(account))' is not an account name: 1-64 characters from A-Z a-z 0-9 . _ @ -") }
        guard Identifier.isKeyID(keyID) else {
            throw ValidationError("'\(Redact.echo(keyID))' is not a key id: key ids are key_ and 16 letters or digits (see 'keygate key list \(account)')")
        }
    }

    func run() throws {
        _ = try global.admin.call("DELETE", Route.key(account, keyID), expect: [204])
        if global.json { Console.printJSON(["deleted": true, "id": .string(keyID)]); return }
        print("Deleted \(keyID) from \(account)")
    }
}
