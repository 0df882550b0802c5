/// `postgresql://user[:password]@host[:port]/database[?host=/socket/dir]`,
/// as storage.url takes it. A password in the URL is refused: it belongs in
/// storage.password_file, never in the YAML.
public struct PostgresURL: Hashable, Sendable {
    public var user: String
    public var host: String?
    public var port: Int
    public var database: String
    /// A Unix-socket directory (`?host=/run/postgresql`), used instead of TCP.
    public var socketDirectory: String?

    /// The socket file PostgreSQL listens on in `socketDirectory`.
    public var socketPath: String? { socketDirectory.map { "\($0)/.s.PGSQL.\(port)" } }

    public static func parse(_ text: String) -> Result<PostgresURL, ParseError> {
        var rest = Substring(text)
        guard let scheme = ["postgresql://", "postgres://"].first(where: { rest.hasPrefix($0) }) else {
            return .failure(ParseError("it does not start with postgresql:// (the URL is not shown: it may hold a password)"))
        }
        rest = rest.dropFirst(scheme.count)
        var query: Substring = ""
        if let q = rest.firstIndex(of: "?") { query = rest[rest.index(after: q)...]; rest = rest[..<q] }
        guard let slash = rest.firstIndex(of: "/") else { return .failure(ParseError("it names no database (postgresql://user@host/DATABASE)")) }
        let authority = rest[..<slash]
        let database = String(rest[rest.index(after: slash)...])
        guard !database.isEmpty, !database.contains("/") else { return .failure(ParseError("it names no database (postgresql://user@host/DATABASE)")) }
        guard let at = authority.lastIndex(of: "@") else { return .failure(ParseError("it names no user (postgresql://USER@host/database)")) }
        let userinfo = authority[..<at]
        if userinfo.contains(":") {
            return .failure(ParseError("the URL holds a password; put it in storage.password_file instead"))
        }
        let user = String(userinfo)
        guard !user.isEmpty else { return .failure(ParseError("it names no user (postgresql://USER@host/database)")) }
        var hostPort = authority[authority.index(after: at)...]
        var port = 5432
        if let colon = hostPort.lastIndex(of: ":"), !hostPort.hasPrefix("[") || hostPort[..<colon].hasSuffix("]") {
            guard let p = Int(hostPort[hostPort.index(after: colon)...]), (1...65535).contains(p) else {
                return .failure(ParseError("its port is not a number from 1 to 65535"))
            }
            port = p
            hostPort = hostPort[..<colon]
        }
        var socketDirectory: String? = nil
        for pair in query.split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1)
            guard kv.count == 2 else { return .failure(ParseError("'\(pair)' in the URL's query is not name=value")) }
            switch kv[0] {
            case "host":
                guard kv[1].hasPrefix("/") else { return .failure(ParseError("?host= must be an absolute socket directory, got '\(kv[1])'")) }
                socketDirectory = String(kv[1])
            case "port":
                guard let p = Int(kv[1]), (1...65535).contains(p) else { return .failure(ParseError("'\(kv[1])' is not a port")) }
                port = p
            default:
                return .failure(ParseError("unknown URL parameter '\(kv[0])'; expected host or port"))
            }
        }
        let host = hostPort.isEmpty ? nil : String(hostPort.trimmingBrackets)
        guard host != nil || socketDirectory != nil else { return .failure(ParseError("it names no host and no ?host=/socket/directory")) }
        return .success(PostgresURL(user: user, host: host, port: port, database: database, socketDirectory: socketDirectory))
    }

    public struct ParseError: Error, CustomStringConvertible, Sendable {
        public var description: String
        init(_ d: String) { description = d }
    }
}

extension Substring {
    var trimmingBrackets: Substring { hasPrefix("[") && hasSuffix("]") ? dropFirst().dropLast() : self }
}
