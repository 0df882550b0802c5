import KeygateConfig
import KeygateCore
import KeygatePostgres
import KeygateStore
import Logging

/// `keygated --import-sqlite PATH`: copies one host's SQLite state into the
/// PostgreSQL database of the configuration, digests as they are, so that no
/// secret changes and every key, pair and token keeps working.
public enum StateImport {
    public static func run(config: KeygateConfiguration, sqlitePath: String, logger: Logger) throws -> (keys: Int, clients: Int, tokens: Int) {
        guard config.storage.backend == .postgres else {
            throw SystemError("\(config.path): storage.backend is sqlite; --import-sqlite copies into the PostgreSQL database that storage.url names")
        }
        let source = try Store(path: sqlitePath)
        let snapshot = try source.loadAll()
        guard let target = try Daemon.openStore(config, logger: logger) as? PostgresStore else {
            throw SystemError("storage.url does not name a PostgreSQL database")
        }
        do {
            return try target.importSnapshot(snapshot)
        } catch {
            throw SystemError("\(error)")
        }
    }
}
