#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import KeygateAPI
import KeygateConfig
import KeygateServer
import Logging

/// sysexits(3): the configuration is wrong.
let exitConfig: Int32 = 78

struct Keygated: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keygated",
        abstract: "Keygate credential daemon: verifies API keys and OAuth 2.0 tokens over Unix sockets.",
        version: KeygateVersion.string)

    @Option(name: .long, help: ArgumentHelp("Configuration file (default: $KEYGATE_CONFIG, else \(KeygateConfiguration.defaultPath)).", valueName: "path"))
    var config: String?

    @Flag(name: .long, help: "Validate the configuration and exit: 0 when valid, 78 with the errors otherwise.")
    var checkConfig = false

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .info

    @Option(name: .long, help: ArgumentHelp("Copy this SQLite state database into the (empty) PostgreSQL database of the configuration, then exit.", valueName: "path"))
    var importSqlite: String?

    func run() throws {
        // Everything keygated creates (database, WAL, socket directories) is private
        // unless it says otherwise; socket files get their configured modes explicitly.
        umask(0o077)
        let path = Self.absolute(ConfigLoader.resolvePath(config))
        let loaded = ConfigLoader.load(path: path)
        if checkConfig {
            switch loaded {
            case .success(let c):
                print("\(path): OK (sha256 \(c.digest.prefix(12)))")
                throw ExitCode.success
            case .failure(let e):
                FileHandleStderr.write(e.description + "\n")
                throw ExitCode(exitConfig)
            }
        }
        let level = logLevel
        LoggingSystem.bootstrap { label in
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = level
            return h
        }
        let logger = Logger(label: "keygated")
        let cfg: KeygateConfiguration
        switch loaded {
        case .success(let c): cfg = c
        case .failure(let e):
            FileHandleStderr.write(e.description + "\n")
            logger.critical("the configuration is invalid; not starting", metadata: ["config": "\(path)", "errors": "\(e.diagnostics.count)"])
            throw ExitCode(exitConfig)
        }
        if let source = importSqlite {
            do {
                let n = try StateImport.run(config: cfg, sqlitePath: Self.absolute(source), logger: logger)
                logger.notice("copied \(n.keys) keys, \(n.clients) client pairs, \(n.tokens) tokens from \(source) into PostgreSQL")
                throw ExitCode.success
            } catch let e as ExitCode {
                throw e
            } catch {
                logger.critical("cannot copy the SQLite state: \(error)")
                throw ExitCode.failure
            }
        }
        var env: [String: String] = [:]
        for (k, v) in ProcessEnvironment.all() { env[k] = v }
        for k in ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"] { unsetenv(k) }
        // Secrets pass through this process's memory: it never goes to disk as a core dump.
        var noCore = rlimit(rlim_cur: 0, rlim_max: 0)
        _ = setrlimit(__rlimit_resource_t(RLIMIT_CORE.rawValue), &noCore)
        let daemon = Daemon(config: cfg, logger: logger, environment: env)
        do {
            try daemon.run()
        } catch {
            logger.critical("cannot start: \(error)")
            throw ExitCode.failure
        }
    }
}

extension Keygated {
    /// The configuration path as status and errors should show it: absolute,
    /// so that it means the same file to every reader.
    static func absolute(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        var buf = [CChar](repeating: 0, count: Int(PATH_MAX))
        guard getcwd(&buf, buf.count) != nil else { return path }
        let cwd = String(cString: buf)
        return cwd + "/" + (path.hasPrefix("./") ? String(path.dropFirst(2)) : path)
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

enum FileHandleStderr {
    static func write(_ s: String) {
        let bytes = Array(s.utf8)
        bytes.withUnsafeBytes { _ = Glibc.write(2, $0.baseAddress, $0.count) }
    }
}

enum ProcessEnvironment {
    static func all() -> [(String, String)] {
        var out: [(String, String)] = []
        var p = environ
        while let entry = p.pointee {
            let s = String(cString: entry)
            if let eq = s.firstIndex(of: "=") { out.append((String(s[..<eq]), String(s[s.index(after: eq)...]))) }
            p += 1
        }
        return out
    }
}

Keygated.main()
