#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import KeygateAPI
import KeygateCore

/// Options every command that talks to the daemon takes.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Admin socket (env KEYGATE_ADMIN_SOCKET).", valueName: "path"))
    var adminSocket: String?

    @Option(name: .long, help: ArgumentHelp("Service socket (env KEYGATE_SOCKET).", valueName: "path"))
    var serviceSocket: String?

    @Flag(name: .long, help: "Print the admin API's JSON instead of a table.")
    var json = false

    var adminPath: String { adminSocket ?? Env.get("KEYGATE_ADMIN_SOCKET") ?? "/run/keygate/admin.sock" }
    var servicePath: String { serviceSocket ?? Env.get("KEYGATE_SOCKET") ?? "/run/keygate/keygate.sock" }

    var admin: Daemon { Daemon(client: UnixHTTPClient(path: adminPath), json: json) }
    var service: Daemon { Daemon(client: UnixHTTPClient(path: servicePath), json: json) }
}

enum Env {
    static func get(_ name: String) -> String? {
        guard let v = getenv(name) else { return nil }
        let s = String(cString: v)
        return s.isEmpty ? nil : s
    }
}

/// Exit codes of SPEC section 7.
enum Exit {
    static let refused = ExitCode(1)
    static let unreachable = ExitCode(3)
}

/// One call to the daemon, with transport failures and API errors turned
/// into messages an operator can act on and the right exit code.
struct Daemon {
    let client: UnixHTTPClient
    /// With --json, an error answer's JSON goes to standard output too.
    var json = false

    func call(_ method: String, _ path: String, body: JSON? = nil, headers: [(String, String)] = [], expect: Set<Int> = [200]) throws -> (HTTPReply, JSON?) {
        let reply: HTTPReply
        do {
            reply = try client.request(method, path, json: body, headers: headers)
        } catch let e as ClientError {
            Console.error("keygate: \(e)")
            if let advice = e.advice { Console.error("hint: \(advice)") }
            if case .unreachable = e { throw Exit.unreachable }
            throw Exit.refused
        }
        let json = reply.body.isEmpty ? nil : try? reply.json()
        guard expect.contains(reply.status) else {
            if self.json, let j = json { Console.printJSON(j) }
            if let j = json, let e = APIError(json: j, status: reply.status) {
                Console.error("keygate: \(e.message)")
                for line in e.extra["errors"]?.arrayValue?.compactMap(\.stringValue) ?? [] { Console.error("  \(line)") }
            } else {
                Console.error("keygate: keygated answered \(reply.status)")
            }
            throw Exit.refused
        }
        return (reply, json)
    }
}

func validateAccount(_ account: String) throws {
    guard AccountName.isValid(account) else { throw ValidationError("'\(Redact.echo(account))' is not an account name: 1-64 characters from A-Z a-z 0-9 . _ @ -") }
}

func validateKeyID(_ keyID: String, account: String) throws {
    guard Identifier.isKeyID(keyID) else {
        throw ValidationError("'\(Redact.echo(keyID))' is not a key id: key ids are key_ and 16 letters or digits (see 'keygate key list \(account)')")
    }
}
