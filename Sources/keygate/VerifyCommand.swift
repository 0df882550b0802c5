import ArgumentParser
import KeygateAPI

struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify", abstract: "Check a key or access token over the service socket (exit 0 valid, 1 invalid).",
        discussion: "Prefer - as SECRET and the secret on standard input: a command-line argument shows in `ps`, shell history and sudo's log.")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The API key or access token, or - for standard input.") var secret: String
    @Option(name: .long, help: ArgumentHelp("The caller's address, checked against IP rules.", valueName: "addr")) var ip: String?

    func run() throws {
        var key = secret
        if secret == "-" {
            key = (readLine(strippingNewline: true) ?? "").trimmed(" \t\r")
        }
        let v = try global.call { try global.service.verify(VerifyRequest(key: key, ip: ip)) }
        if global.json { Console.printJSON(v.json) }
        switch v {
        case .apiKey(let account, let id, let name, let policy):
            if !global.json { print("valid: API key \(id) \"\(name)\" of \(account) (policy \(policy))") }
        case .accessToken(let account, let cid, let scope, let exp):
            if !global.json { print("valid: access token of \(account) (client \(cid)\(scope.map { ", scope \($0)" } ?? ""), expires in \(exp)s)") }
        case .refused(let code):
            if !global.json { print("invalid: \(code)") }
            throw Exit.refused
        }
    }
}

