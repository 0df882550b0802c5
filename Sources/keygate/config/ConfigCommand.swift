import ArgumentParser
import KeygateConfig

struct ConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config", abstract: "Work with configuration files offline.",
        subcommands: [ConfigCheckCommand.self])
}

struct ConfigCheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Validate a configuration file with the daemon's own loader (exit 0 valid, 1 with the errors).")

    @Argument(help: "The file (default: $KEYGATE_CONFIG, else /etc/keygate/keygate.yaml).") var file: String?
    @Flag(name: .long, help: "Print {\"valid\":…,\"path\":…,\"sha256\"|\"errors\":…} instead of text.") var json = false

    func run() throws {
        let path = ConfigLoader.resolvePath(file)
        switch ConfigLoader.load(path: path) {
        case .success(let c):
            if json { Console.printJSON(["valid": true, "path": .string(path), "sha256": .string(c.digest)]); return }
            print("\(path): OK (sha256 \(c.digest.prefix(12)))")
        case .failure(let e):
            if json {
                Console.printJSON(["valid": false, "path": .string(path), "errors": .array(e.diagnostics.map { .string($0.description) })])
            }
            Console.error(e.description)
            Console.error("\(path): \(e.diagnostics.count) error(s)")
            throw Exit.refused
        }
    }
}
