import ArgumentParser

struct KeyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "key", abstract: "Create, list, update and delete static API keys.",
        subcommands: [KeyCreateCommand.self, KeyListCommand.self, KeyUpdateCommand.self, KeyDeleteCommand.self])
}
