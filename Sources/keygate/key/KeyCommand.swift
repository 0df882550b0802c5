import ArgumentParser

struct KeyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "key", abstract: "Create, list, update, delete and roll static API keys; see their usage.",
        subcommands: [KeyCreateCommand.self, KeyListCommand.self, KeyUpdateCommand.self, KeyDeleteCommand.self,
                      KeyRollCommand.self, KeyUsageCommand.self])
}
