import KeygateCore

/// Who may use a socket, by the peer's SO_PEERCRED identity.
/// Group members are resolved when the file is loaded, so that checking a
/// peer never consults the user database on an event loop.
public enum Principal: Hashable, Sendable, CustomStringConvertible {
    case user(name: String, uid: UInt32)
    /// `members`: uids listed as supplementary members of the group.
    case group(name: String, gid: UInt32, members: [UInt32])

    public var description: String {
        switch self {
        case .user(let n, _): return "user:\(n)"
        case .group(let n, _, _): return "group:\(n)"
        }
    }

    /// Whether a peer with this uid and (effective) gid is named here.
    public func admits(uid: UInt32, gid: UInt32) -> Bool {
        switch self {
        case .user(_, let u): return u == uid
        case .group(_, let g, let members): return g == gid || members.contains(uid)
        }
    }
}

public struct ListenSettings: Hashable, Sendable {
    public var serviceSocket = "/run/keygate/keygate.sock"
    public var adminSocket = "/run/keygate/admin.sock"
    /// Group owner of both sockets, by name and resolved id.
    public var group: (name: String, gid: UInt32)? {
        get { groupName.map { ($0, groupID) } }
        set { groupName = newValue?.name; groupID = newValue?.gid ?? 0 }
    }
    public var groupName: String? = nil
    public var groupID: UInt32 = 0
    public var serviceMode: UInt32 = 0o660
    public var adminMode: UInt32 = 0o660
    /// Open connections each socket accepts; past it a new one is closed at once.
    public var maxServiceConnections = 8192
    public var maxAdminConnections = 256
    public init() {}
}

public struct AccessSettings: Hashable, Sendable {
    public var admin: [Principal] = [.user(name: "root", uid: 0)]
    public var manage: [Principal] = []
    /// nil: any peer may use the service socket.
    public var verify: [Principal]? = nil
    public init() {}
}

public struct TokenSettings: Hashable, Sendable {
    public var sweepInterval: Int64 = 30
    public var maxLivePerClient = 50
    public init() {}
}

/// Where the state lives: one host's SQLite file, or a PostgreSQL database
/// that several hosts share (SPEC 11).
public struct StorageSettings: Hashable, Sendable {
    public enum Backend: String, Hashable, Sendable { case sqlite, postgres }
    public var backend = Backend.sqlite
    /// postgres: `postgresql://user@host:port/database?host=/run/postgresql`.
    public var url: String? = nil
    /// A file holding the PostgreSQL password (never the YAML itself).
    public var passwordFile: String? = nil
    /// > 0: refuse verifications when the change feed is older than this (seconds).
    public var maxStaleness: Int64 = 0
    public init() {}
}

public struct VerifySettings: Hashable, Sendable {
    public var ipHeader = "X-Real-IP"
    public var failuresPerIP = 20
    public init() {}
}

/// One validated configuration: an immutable snapshot that reload swaps whole.
public struct KeygateConfiguration: Sendable {
    public var path: String
    /// SHA-256 of the file's bytes, hex, so an operator can tell which file is live.
    public var digest: String
    public var listen = ListenSettings()
    public var storagePath = "/var/lib/keygate/keygate.db"
    public var storage = StorageSettings()
    public var access = AccessSettings()
    public var tokens = TokenSettings()
    public var verify = VerifySettings()
    public var ipLists: [String: [IPNetwork]] = [:]
    public var policies = PolicyBook()

    public init(path: String, digest: String) { self.path = path; self.digest = digest }

    public static let defaultPath = "/etc/keygate/keygate.yaml"

    /// What differs in settings that only a restart applies.
    public func restartOnlyChanges(from old: KeygateConfiguration) -> [String] {
        var out: [String] = []
        if listen.serviceSocket != old.listen.serviceSocket { out.append("listen.service_socket") }
        if listen.adminSocket != old.listen.adminSocket { out.append("listen.admin_socket") }
        if listen.groupName != old.listen.groupName { out.append("listen.group") }
        if listen.serviceMode != old.listen.serviceMode { out.append("listen.service_mode") }
        if listen.adminMode != old.listen.adminMode { out.append("listen.admin_mode") }
        if listen.maxServiceConnections != old.listen.maxServiceConnections { out.append("listen.max_service_connections") }
        if listen.maxAdminConnections != old.listen.maxAdminConnections { out.append("listen.max_admin_connections") }
        if storagePath != old.storagePath { out.append("storage.path") }
        if storage.backend != old.storage.backend { out.append("storage.backend") }
        if storage.url != old.storage.url { out.append("storage.url") }
        if storage.passwordFile != old.storage.passwordFile { out.append("storage.password_file") }
        if storage.maxStaleness != old.storage.maxStaleness { out.append("storage.max_staleness") }
        return out
    }
}

/// One problem in a configuration file, rendered `file:line:column: message`.
public struct ConfigDiagnostic: Hashable, Sendable, CustomStringConvertible, Comparable {
    public var file: String
    public var mark: Mark
    public var message: String

    public var description: String { "\(file):\(mark.line):\(mark.column): \(message)" }

    public static func < (a: ConfigDiagnostic, b: ConfigDiagnostic) -> Bool { a.mark < b.mark }
}

public struct ConfigErrors: Error, Sendable, CustomStringConvertible {
    public var diagnostics: [ConfigDiagnostic]
    public var description: String { diagnostics.map(\.description).joined(separator: "\n") }
}
