import ArgumentParser
import KeygateAPI

struct ReloadCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reload",
        abstract: "Re-read the daemon's configuration file; a file with errors changes nothing (exit 1).")

    @OptionGroup var global: GlobalOptions

    func run() throws {
        let (_, reply) = try global.admin.call("POST", Route.reload)
        guard let j = reply else { throw Exit.refused }
        if global.json { Console.printJSON(j); return }
        print("Configuration reloaded (sha256 \(j["sha256"]?.stringValue?.prefix(12) ?? "?"))")
        let later = j["takes_effect_at_restart"]?.arrayValue?.compactMap(\.stringValue) ?? []
        if !later.isEmpty {
            print("Takes effect at the next restart: \(later.joined(separator: ", "))")
        }
    }
}
