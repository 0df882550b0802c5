import ArgumentParser
import KeygateAPI

struct ClientDeleteCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "delete", abstract: "Delete the account's client pair; it and its tokens stop working at once.")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The account.") var account: String
    @Flag(name: .long, help: "Delete without asking.") var yes = false

    func validate() throws { try validateAccount(account) }

    func run() throws {
        // Nothing to ask about when there is nothing to delete.
        _ = try global.call { try global.admin.client.call(.showClient, ["account": account], as: ClientView.self) }
        try Confirm.orRefuse("Delete the client credentials of \(account)? Every integration using them stops working at once.", yes: yes)
        try global.call { try global.admin.deleteClient(account: account) }
        if global.json { Console.printJSON(["deleted": true, "account": .string(account)]); return }
        print("Deleted the client credentials of \(account)")
    }
}

struct TokensRevokeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "revoke", abstract: "Revoke every live access token of an account.")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The account.") var account: String

    func validate() throws { try validateAccount(account) }

    func run() throws {
        let r = try global.call { try global.admin.revokeTokens(account: account) }
        if global.json { Console.printJSON(r.json); return }
        print("Revoked \(r.revoked) token(s) of \(account)")
    }
}
