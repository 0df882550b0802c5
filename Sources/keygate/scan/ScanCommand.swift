#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import KeygateAPI
import KeygateCore

/// `keygate scan [PATH]... [--revoke]` (SPEC 12): finds Keygate secrets in
/// files, asks the daemon which still work, and with --revoke ends them.
struct ScanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scan", abstract: "Find Keygate secrets in files; say which are live; --revoke ends the live ones.",
        discussion: """
            Walks files and directories (default: the current directory), skipping .git, symbolic links met while \
            walking, binary files (a NUL byte in the first 8 KiB) and files over 10 MiB. A secret is reported only when \
            its prefix, length, alphabet and checksum all match. Prints `file:line: kind hint live|dead|unknown`, never \
            the secret. Liveness comes from POST /v1/leaks with dry_run when the admin socket admits you, else from \
            /oauth/introspect on the service socket (client secrets are then `unknown`); --offline asks neither and \
            reports every secret found as `unknown`. Exit 1 when a live secret was found (with --offline: when any \
            was), 0 otherwise, 2 for a path that cannot be read, 3 when the daemon cannot be reached.
            """)

    @OptionGroup var global: GlobalOptions
    @Argument(help: "Files and directories to scan (default: .).") var paths: [String] = []
    @Flag(name: .long, help: "Report the live secrets to POST /v1/leaks: keys are deleted, tokens revoked, client secrets reported.")
    var revoke = false
    @Flag(name: .long, help: "Do not ask the daemon; every secret found is `unknown`.") var offline = false

    func validate() throws {
        if revoke && offline { throw ValidationError("--revoke needs the daemon; it cannot be combined with --offline") }
    }

    struct Located {
        var file: String
        var finding: SecretScanner.Finding
    }

    func run() throws {
        var found: [Located] = []
        var walker = Walker()
        // Every path is scanned; one that cannot be read makes the exit code 2 at the end.
        var unreadable = false
        for p in paths.isEmpty ? ["."] : paths where !walker.scan(p, top: true, into: &found) {
            unreadable = true
        }
        let unique = Array(Set(found.map(\.finding.secret))).sorted()
        var status: [String: String] = [:]
        var source = "offline"
        if !offline && !unique.isEmpty {
            (status, source) = try liveness(unique)
        }
        var live: [String] = []
        var rows: [JSON] = []
        for f in found {
            let s = offline ? "unknown" : (status[f.finding.secret] ?? "unknown")
            if s == "live" && !live.contains(f.finding.secret) { live.append(f.finding.secret) }
            let hint = SecretFormat.hint(f.finding.secret)
            if global.json {
                rows.append(["file": .string(f.file), "line": .int(Int64(f.finding.line)), "kind": .string(f.finding.kind.name),
                             "hint": .string(hint), "status": .string(s)])
            } else {
                print("\(f.file):\(f.finding.line): \(f.finding.kind.name) \(hint) \(s)")
            }
        }
        var reported: [LeakResult] = []
        if revoke && !live.isEmpty {
            for chunk in stride(from: 0, to: live.count, by: LeaksRequest.maxSecrets).map({ Array(live[$0..<min($0 + LeaksRequest.maxSecrets, live.count)]) }) {
                reported += try global.call { try global.admin.leaks(LeaksRequest(secrets: chunk)) }.results
            }
        }
        if global.json {
            var o: JSONObject = ["findings": .array(rows), "liveness": .string(source)]
            if revoke { o["reported"] = .array(reported.map(\.json)) }
            Console.printJSON(.object(o))
        } else {
            for r in reported {
                print("reported \(r.kind) \(r.hint) of \(r.account ?? "?"): \(r.action)")
            }
            if !found.isEmpty {
                Console.error("keygate scan: \(found.count) occurrence(s) of \(unique.count) secret(s), \(live.count) of them live (liveness from \(source))")
            }
        }
        if unreadable { throw ExitCode(2) }
        let failed = offline ? !found.isEmpty : !live.isEmpty
        if failed { throw Exit.refused }
    }

    /// Secret to live|dead|unknown, and where it came from.
    func liveness(_ secrets: [String]) throws -> ([String: String], String) {
        var out: [String: String] = [:]
        do {
            for start in stride(from: 0, to: secrets.count, by: LeaksRequest.maxSecrets) {
                let chunk = Array(secrets[start..<min(start + LeaksRequest.maxSecrets, secrets.count)])
                let report = try global.admin.leaks(LeaksRequest(secrets: chunk, dryRun: true))
                for (s, r) in zip(chunk, report.results) { out[s] = r.action == "none" ? "dead" : "live" }
            }
            return (out, "the admin socket")
        } catch let e as ClientError {
            // Not admitted (403) or not there: the service socket's introspection.
            switch e {
            case .refused(let api) where api.status == 403: break
            case .unreachable: break
            default: _ = try global.call { throw e }
            }
            if revoke, case .unreachable = e {
                Console.error("keygate: --revoke needs the admin socket (\(global.adminPath)), which is unreachable: \(e)")
                throw Exit.unreachable
            }
            // Refused (403) with --revoke: the findings are printed from
            // introspection, then the report to /v1/leaks is refused (exit 1).
        }
        let service = global.service
        for s in secrets {
            if SecretFormat.classify(s) == .clientSecret { out[s] = "unknown"; continue }
            let answer = try global.call { try service.introspect(s) }
            out[s] = answer == .inactive ? "dead" : "live"
        }
        return (out, "/oauth/introspect")
    }
}

/// The file walk: directories recursively, .git and symbolic links skipped.
struct Walker {
    var visited = Set<String>()

    /// False when a path named on the command line cannot be read.
    mutating func scan(_ path: String, top: Bool, into found: inout [ScanCommand.Located]) -> Bool {
        var st = stat()
        let r = top ? stat(path, &st) : lstat(path, &st)
        guard r == 0 else {
            Console.error("keygate scan: cannot read \(path): \(String(cString: strerror(errno)))")
            return !top
        }
        switch st.st_mode & S_IFMT {
        case S_IFDIR:
            guard let dir = opendir(path) else {
                Console.error("keygate scan: cannot read the directory \(path): \(String(cString: strerror(errno)))")
                return !top
            }
            var names: [String] = []
            while let e = readdir(dir) {
                let name = withUnsafeBytes(of: e.pointee.d_name) { raw in String(cString: raw.bindMemory(to: CChar.self).baseAddress!) }
                if name == "." || name == ".." || name == ".git" { continue }
                names.append(name)
            }
            closedir(dir)
            for name in names.sorted() {
                let child = path.hasSuffix("/") ? path + name : path + "/" + name
                _ = scan(child, top: false, into: &found)
            }
            return true
        case S_IFREG:
            guard Int(st.st_size) <= SecretScanner.maxFileSize else { return true }
            guard let bytes = readFile(path) else {
                Console.error("keygate scan: cannot read \(path): \(String(cString: strerror(errno)))")
                return !top
            }
            if SecretScanner.looksBinary(bytes) { return true }
            let display = path.hasPrefix("./") ? String(path.dropFirst(2)) : path
            for f in SecretScanner.findings(in: bytes) { found.append(ScanCommand.Located(file: display, finding: f)) }
            return true
        default:
            return true  // symbolic links met while walking, sockets, devices
        }
    }

    func readFile(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, 65536) }
            if n < 0 { if errno == EINTR { continue }; return nil }
            if n == 0 { break }
            out += buf[0..<n]
            if out.count > SecretScanner.maxFileSize { return [] }
        }
        return out
    }
}
