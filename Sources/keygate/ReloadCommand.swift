import ArgumentParser
import KeygateAPI

struct ReloadCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reload",
        abstract: "Re-read the daemon's configuration file; a file with errors changes nothing (exit 1).")

    @OptionGroup var global: GlobalOptions

    func run() throws {
        let r = try global.call { try global.admin.reload() }
        if global.json { Console.printJSON(r.json); return }
        print("Configuration reloaded (sha256 \(r.digest.prefix(12)))")
        let later = r.takesEffectAtRestart
        if !later.isEmpty {
            print("Takes effect at the next restart: \(later.joined(separator: ", "))")
        }
    }
}
