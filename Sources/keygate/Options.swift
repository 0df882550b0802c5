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

    var admin: AdminClient { AdminClient(socketPath: adminPath) }
    var service: ServiceClient { ServiceClient(socketPath: servicePath) }

    /// Runs one or more typed calls, turning transport failures and refusals
    /// into messages an operator can act on and the exit codes of SPEC 7.
    /// With --json, a refusal's JSON goes to standard output too.
    func call<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let e as ClientError {
            switch e {
            case .refused(let api):
                if json { Console.printJSON(api.json) }
                Console.error("keygate: \(api.message)")
                for line in api.configurationErrors { Console.error("  \(line)") }
                throw Exit.refused
            case .unreachable:
                Console.error("keygate: \(e)")
                if let advice = e.advice { Console.error("hint: \(advice)") }
                throw Exit.unreachable
            case .io, .badResponse:
                Console.error("keygate: \(e)")
                throw Exit.refused
            }
        }
    }
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

func validateAccount(_ account: String) throws {
    guard AccountName.isValid(account) else { throw ValidationError("'\(Redact.echo(account))' is not an account name: 1-64 characters from A-Z a-z 0-9 . _ @ -") }
}

func validateKeyID(_ keyID: String, account: String) throws {
    guard Identifier.isKeyID(keyID) else {
        throw ValidationError("'\(Redact.echo(keyID))' is not a key id: key ids are key_ and 16 letters or digits (see 'keygate key list \(account)')")
    }
}
