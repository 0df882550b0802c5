import ArgumentParser
import KeygateAPI
import KeygateCore

struct KeyRollCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "roll", abstract: "Give a key a new secret (printed once); the old one works until --grace ends.",
        discussion: "Same key id, name and restrictions. Without --grace the old secret stops the moment this returns. Rolling again during a grace ends the older secret's grace at once.")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The account.") var account: String
    @Argument(help: "The key id (key_…).") var keyID: String
    @Option(name: .long, help: ArgumentHelp("Keep accepting the old secret this long (1s to 30d), e.g. 24h.", valueName: "duration")) var grace: String?

    func validate() throws {
        try validateAccount(account)
        try validateKeyID(keyID, account: account)
    }

    func run() throws {
        let rolled = try global.call { try global.admin.rollKey(account: account, id: keyID, RollKeyRequest(grace: grace)) }
        if global.json {
            Console.printJSON(rolled.json)
        } else {
            let old = rolled.key.rollingUntil.map { "accepted until \(TimeText.format($0))" } ?? "refused from now on"
            print("""
                Rolled API key "\(rolled.key.name)" of \(account)
                  id       \(rolled.key.id)
                  key      \(rolled.secret)
                  old key  \(rolled.previousHint)… \(old)
                """)
        }
        Console.secretWarning()
    }
}

struct KeyUsageCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "usage", abstract: "A key's verifications per UTC day, last 30 days, summed over every host.")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The account.") var account: String
    @Argument(help: "The key id (key_…).") var keyID: String

    func validate() throws {
        try validateAccount(account)
        try validateKeyID(keyID, account: account)
    }

    func run() throws {
        let report = try global.call { try global.admin.keyUsage(account: account, id: keyID) }
        if global.json { Console.printJSON(report.json); return }
        printUsage(report, subject: "key \(keyID) of \(account)", tokens: false)
    }
}

/// The usage table: one row per day with any use; refusals by code.
func printUsage(_ report: UsageReport, subject: String, tokens: Bool) {
    guard !report.days.isEmpty else {
        print("no use of \(subject) from \(report.from) to \(report.to)")
        return
    }
    var t = tokens ? Table("DATE", "TOKENS", "VALID", "REFUSED") : Table("DATE", "VALID", "REFUSED")
    for d in report.days {
        let refused = d.refused.isEmpty ? "0" : d.refused.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        if tokens { t.add(d.date, String(d.tokensIssued ?? 0), String(d.valid), refused) } else { t.add(d.date, String(d.valid), refused) }
    }
    print("usage of \(subject), \(report.from) to \(report.to) (UTC)")
    print(t.render())
}
