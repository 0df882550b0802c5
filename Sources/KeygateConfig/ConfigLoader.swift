#if canImport(Glibc)
import Glibc
#endif
import KeygateCore

/// Looks up user and group names; the system databases by default, a table in tests.
public struct NameResolver: Sendable {
    public var uid: @Sendable (String) -> UInt32?
    public var gid: @Sendable (String) -> UInt32?
    /// The uids of a group's supplementary members.
    public var members: @Sendable (UInt32) -> [UInt32]

    public init(uid: @escaping @Sendable (String) -> UInt32?, gid: @escaping @Sendable (String) -> UInt32?,
                members: @escaping @Sendable (UInt32) -> [UInt32] = { _ in [] }) {
        self.uid = uid
        self.gid = gid
        self.members = members
    }

    public static let system = NameResolver(
        uid: { name in
            if let n = UInt32(name) { return n }
            var pwd = passwd(), result: UnsafeMutablePointer<passwd>? = nil
            var buf = [CChar](repeating: 0, count: 4096)
            guard getpwnam_r(name, &pwd, &buf, buf.count, &result) == 0, result != nil else { return nil }
            return pwd.pw_uid
        },
        gid: { name in
            if let n = UInt32(name) { return n }
            var grp = group(), result: UnsafeMutablePointer<group>? = nil
            var buf = [CChar](repeating: 0, count: 16384)
            guard getgrnam_r(name, &grp, &buf, buf.count, &result) == 0, result != nil else { return nil }
            return grp.gr_gid
        },
        members: { gid in
            var grp = group(), result: UnsafeMutablePointer<group>? = nil
            var buf = [CChar](repeating: 0, count: 65536)
            // A large group does not fit the first buffer: grow it rather than lose its members.
            var rc = getgrgid_r(gid, &grp, &buf, buf.count, &result)
            while rc == ERANGE && buf.count < 64 << 20 {
                buf = [CChar](repeating: 0, count: buf.count * 4)
                rc = getgrgid_r(gid, &grp, &buf, buf.count, &result)
            }
            guard rc == 0, result != nil, var mem = grp.gr_mem else { return [] }
            var uids: [UInt32] = []
            while let name = mem.pointee {
                var pwd = passwd(), pres: UnsafeMutablePointer<passwd>? = nil
                var pbuf = [CChar](repeating: 0, count: 4096)
                if getpwnam_r(name, &pwd, &pbuf, pbuf.count, &pres) == 0, pres != nil { uids.append(pwd.pw_uid) }
                mem += 1
            }
            return uids
        })
}

/// The one loader that the daemon, `keygated --check-config` and
/// `keygate config check` share. Strict: every problem is reported, sorted by
/// position, each with its file, line and column.
public enum ConfigLoader {
    public static let maxFileSize = 1 << 20
    public static let maxKeysLimit = 1000

    /// The path the daemon reads: `--config`, else `KEYGATE_CONFIG`, else the default.
    public static func resolvePath(_ flag: String?) -> String {
        if let f = flag, !f.isEmpty { return f }
        if let e = getenv("KEYGATE_CONFIG"), let s = String(validatingCString: e), !s.isEmpty { return s }
        return KeygateConfiguration.defaultPath
    }

    public static func load(path: String, resolver: NameResolver = .system) -> Result<KeygateConfiguration, ConfigErrors> {
        switch readFile(path) {
        case .failure(let e):
            return .failure(ConfigErrors(diagnostics: [ConfigDiagnostic(file: path, mark: Mark(line: 1, column: 1), message: e.message)]))
        case .success(let bytes):
            return parse(bytes: bytes, path: path, resolver: resolver)
        }
    }

    public static func parse(bytes: [UInt8], path: String, resolver: NameResolver = .system) -> Result<KeygateConfiguration, ConfigErrors> {
        if bytes.count > maxFileSize {
            return .failure(ConfigErrors(diagnostics: [ConfigDiagnostic(
                file: path, mark: Mark(line: 1, column: 1),
                message: "the file is \(bytes.count) bytes; a configuration may be at most \(maxFileSize) bytes (1 MiB)")]))
        }
        var config = KeygateConfiguration(path: path, digest: hexDigest(bytes))
        switch YAMLReader.read(bytes) {
        case .failure(let e):
            return .failure(ConfigErrors(diagnostics: [ConfigDiagnostic(file: path, mark: e.mark, message: e.message)]))
        case .success(nil):
            return .success(config)  // an empty file: all defaults
        case .success(let root?):
            var d = SchemaDecoder(file: path, resolver: resolver)
            d.decodeRoot(root, into: &config)
            if d.diagnostics.isEmpty { return .success(config) }
            return .failure(ConfigErrors(diagnostics: d.diagnostics.sorted()))
        }
    }

    static func readFile(_ path: String) -> Result<[UInt8], SystemError> {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return .failure(SystemError("cannot open the configuration", errno: errno)) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { return .failure(SystemError("cannot read the configuration", errno: errno)) }
        if (st.st_mode & S_IFMT) == S_IFDIR { return .failure(SystemError("is a directory, not a configuration file")) }
        var out = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = read(fd, &chunk, chunk.count)
            if n < 0 {
                if errno == EINTR { continue }
                return .failure(SystemError("cannot read the configuration", errno: errno))
            }
            if n == 0 { break }
            out.append(contentsOf: chunk[0..<n])
            if out.count > maxFileSize { break }  // parse() reports the size; no need to read more
        }
        return .success(out)
    }

    static func hexDigest(_ bytes: [UInt8]) -> String {
        let d = SecretDigest(of: bytes).bytes
        let hex = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        for b in d { out.append(hex[Int(b >> 4)]); out.append(hex[Int(b & 15)]) }
        return String(decoding: out, as: UTF8.self)
    }
}

/// Walks the YAML tree against the schema, collecting every problem.
struct SchemaDecoder {
    let file: String
    let resolver: NameResolver
    var diagnostics: [ConfigDiagnostic] = []

    init(file: String, resolver: NameResolver) { self.file = file; self.resolver = resolver }

    mutating func error(_ mark: Mark, _ message: String) {
        diagnostics.append(ConfigDiagnostic(file: file, mark: mark, message: message))
    }

    // MARK: the schema

    static let rootKeys = ["listen", "storage", "access", "tokens", "verify", "ip_lists", "policies", "accounts"]

    mutating func decodeRoot(_ root: YAMLNode, into c: inout KeygateConfiguration) {
        guard let top = mapping(root, "the top level", allowed: Self.rootKeys) else { return }
        var policiesNode: YAMLNode? = nil, accountsNode: YAMLNode? = nil, listsNode: YAMLNode? = nil
        for (key, _, value) in top where !value.isNull {
            switch key {
            case "listen": decodeListen(value, &c.listen)
            case "storage": decodeStorage(value, &c)
            case "access": decodeAccess(value, &c.access)
            case "tokens":
                for (k, _, v) in mapping(value, "tokens", allowed: ["sweep_interval", "max_live_per_client"]) ?? [] {
                    if k == "sweep_interval", let d = duration(v, "tokens.sweep_interval", max: 86400) { c.tokens.sweepInterval = d }
                    if k == "max_live_per_client", let n = integer(v, "tokens.max_live_per_client", 1...100_000) { c.tokens.maxLivePerClient = n }
                }
            case "verify":
                for (k, _, v) in mapping(value, "verify", allowed: ["ip_header", "failures_per_ip"]) ?? [] {
                    if k == "ip_header", let h = string(v, "verify.ip_header") {
                        if isHeaderName(h) { c.verify.ipHeader = h } else {
                            error(v.mark, "verify.ip_header: '\(h)' is not an HTTP header name (letters, digits and '-')")
                        }
                    }
                    if k == "failures_per_ip", let n = integer(v, "verify.failures_per_ip", 1...1_000_000) { c.verify.failuresPerIP = n }
                }
            case "ip_lists": listsNode = value
            case "policies": policiesNode = value
            case "accounts": accountsNode = value
            default: break
            }
        }
        if let l = listsNode { c.ipLists = decodeIPLists(l) }
        var policies: [String: Policy] = ["default": .builtinDefault]
        if let p = policiesNode { policies = decodePolicies(p, lists: c.ipLists) }
        var rules: [AccountRule] = []
        if let a = accountsNode { rules = decodeAccounts(a, policies: policies) }
        c.policies = PolicyBook(policies: policies, rules: rules)
    }

    mutating func decodeListen(_ node: YAMLNode, _ l: inout ListenSettings) {
        let allowed = ["service_socket", "admin_socket", "group", "service_mode", "admin_mode",
                       "max_service_connections", "max_admin_connections"]
        for (k, _, v) in mapping(node, "listen", allowed: allowed) ?? [] {
            switch k {
            case "service_socket": if let p = socketPath(v, "listen.service_socket") { l.serviceSocket = p }
            case "admin_socket": if let p = socketPath(v, "listen.admin_socket") { l.adminSocket = p }
            case "group":
                guard let name = string(v, "listen.group") else { continue }
                if let gid = resolver.gid(name) { l.group = (name, gid) } else {
                    error(v.mark, "listen.group: unknown group '\(name)' (not in the group database)")
                }
            case "service_mode": if let m = mode(v, "listen.service_mode") { l.serviceMode = m }
            case "admin_mode": if let m = mode(v, "listen.admin_mode") { l.adminMode = m }
            case "max_service_connections":
                if let n = integer(v, "listen.max_service_connections", 1...15_000) { l.maxServiceConnections = n }
            case "max_admin_connections":
                if let n = integer(v, "listen.max_admin_connections", 1...1_000) { l.maxAdminConnections = n }
            default: break
            }
        }
    }

    mutating func decodeAccess(_ node: YAMLNode, _ a: inout AccessSettings) {
        for (k, _, v) in mapping(node, "access", allowed: ["admin", "manage", "verify"]) ?? [] {
            let list = principals(v, "access.\(k)")
            switch k {
            case "admin": a.admin = list
            case "manage": a.manage = list
            case "verify": a.verify = list
            default: break
            }
        }
    }

    mutating func principals(_ node: YAMLNode, _ where_: String) -> [Principal] {
        var out: [Principal] = []
        for item in list(node, where_) ?? [] {
            guard let s = string(item, where_) else { continue }
            if s.hasPrefix("group:") {
                let name = String(s.dropFirst(6))
                if let gid = resolver.gid(name), !name.isEmpty { out.append(.group(name: name, gid: gid, members: resolver.members(gid))) } else {
                    error(item.mark, "\(where_): unknown group '\(name)' (not in the group database)")
                }
            } else {
                let name = s.hasPrefix("user:") ? String(s.dropFirst(5)) : s
                if let uid = resolver.uid(name), !name.isEmpty { out.append(.user(name: name, uid: uid)) } else {
                    error(item.mark, "\(where_): unknown user '\(name)' (not in the passwd database); write 'group:NAME' for a group")
                }
            }
        }
        return out
    }

    mutating func decodeIPLists(_ node: YAMLNode) -> [String: [IPNetwork]] {
        var out: [String: [IPNetwork]] = [:]
        for (name, keyMark, v) in mapping(node, "ip_lists", allowed: nil) ?? [] {
            guard isName(name) else {
                error(keyMark, "ip_lists: '\(name)' is not a valid list name (letters, digits, '_' and '-')")
                continue
            }
            var nets: [IPNetwork] = []
            for item in list(v, "ip_lists.\(name)") ?? [] {
                guard let s = string(item, "ip_lists.\(name)") else { continue }
                if s.hasPrefix("@") {
                    error(item.mark, "ip_lists.\(name): '\(s)': a list cannot include another list; write its addresses here")
                    continue
                }
                switch IPNetwork.parse(s) {
                case .success(let n): nets.append(n)
                case .failure(let e): error(item.mark, "ip_lists.\(name): \(e)")
                }
            }
            out[name] = nets
        }
        return out
    }

    static let policyKeys = ["max_keys", "token_ttl", "allow_ips", "scopes"]

    mutating func decodePolicies(_ node: YAMLNode, lists: [String: [IPNetwork]]) -> [String: Policy] {
        var out: [String: Policy] = [:]
        guard let entries = mapping(node, "policies", allowed: nil) else { return ["default": .builtinDefault] }
        for (name, keyMark, v) in entries {
            guard isName(name) else {
                error(keyMark, "policies: '\(name)' is not a valid policy name (letters, digits, '_' and '-')")
                continue
            }
            var p = Policy(name: name)
            let w = "policies.\(name)"
            for (k, _, pv) in mapping(v, w, allowed: Self.policyKeys) ?? [] where !pv.isNull {
                switch k {
                case "max_keys": if let n = integer(pv, "\(w).max_keys", 1...ConfigLoader.maxKeysLimit) { p.maxKeys = n }
                case "token_ttl": if let d = duration(pv, "\(w).token_ttl", max: 30 * 86400) { p.tokenTTL = d }
                case "allow_ips": if let a = allowList(pv, "\(w).allow_ips", lists: lists) { p.allowIPs = a }
                case "scopes":
                    var scopes: [String] = []
                    for item in list(pv, "\(w).scopes") ?? [] {
                        guard let s = string(item, "\(w).scopes") else { continue }
                        if isScopeToken(s) {
                            if !scopes.contains(s) { scopes.append(s) }
                        } else {
                            error(item.mark, "\(w).scopes: '\(s)' is not a valid OAuth scope (printable ASCII without spaces, '\"' or '\\')")
                        }
                    }
                    p.scopes = scopes
                default: break
                }
            }
            out[name] = p
        }
        if out["default"] == nil {
            error(node.mark, "policies: a 'default' policy is required when policies are given; it applies to every account no rule matches")
            out["default"] = .builtinDefault
        }
        return out
    }

    mutating func decodeAccounts(_ node: YAMLNode, policies: [String: Policy]) -> [AccountRule] {
        var rules: [AccountRule] = []
        for (i, item) in (list(node, "accounts") ?? []).enumerated() {
            let w = "accounts[\(i)]"
            guard let entry = mapping(item, w, allowed: ["match", "policy"]) else { continue }
            var pattern: String? = nil, policy: String? = nil
            var policyMark = item.mark
            for (k, _, v) in entry {
                if k == "match", let s = string(v, "\(w).match") {
                    if isAccountPattern(s) { pattern = s } else {
                        error(v.mark, "\(w).match: '\(s)' is not an account pattern (1-64 of A-Z a-z 0-9 . _ @ - with * and ? as wildcards)")
                    }
                }
                if k == "policy", let s = string(v, "\(w).policy") {
                    policyMark = v.mark
                    if policies[s] != nil { policy = s } else {
                        error(v.mark, "\(w).policy: unknown policy '\(s)'\(suggestion(s, among: Array(policies.keys), parenthesised: true)); known policies: \(policies.keys.sorted().joined(separator: ", "))")
                    }
                }
            }
            if entry.first(where: { $0.key == "match" }) == nil { error(item.mark, "\(w): 'match' is required") }
            if entry.first(where: { $0.key == "policy" }) == nil { error(policyMark, "\(w): 'policy' is required") }
            if let p = pattern, let pol = policy { rules.append(AccountRule(pattern: p, policy: pol)) }
        }
        return rules
    }

    mutating func allowList(_ node: YAMLNode, _ w: String, lists: [String: [IPNetwork]]) -> IPAllowList? {
        if case .scalar(let s, _, let quoted) = node, !quoted, s == "any" { return .any }
        guard case .sequence = node else {
            error(node.mark, "\(w): expected 'any' or a list of addresses, CIDR blocks and @lists, got \(describe(node))")
            return nil
        }
        var nets: [IPNetwork] = []
        var ok = true
        for item in list(node, w) ?? [] {
            guard let s = string(item, w) else { ok = false; continue }
            if s.hasPrefix("@") {
                let name = String(s.dropFirst())
                if let l = lists[name] { nets += l } else {
                    ok = false
                    let known = lists.keys.sorted()
                    error(item.mark, "\(w): unknown IP list '\(s)'\(suggestion(name, among: known, prefix: "@", parenthesised: true))" +
                        (known.isEmpty ? "; no ip_lists are defined" : "; known lists: \(known.map { "@" + $0 }.joined(separator: ", "))"))
                }
                continue
            }
            switch IPNetwork.parse(s) {
            case .success(let n): nets.append(n)
            case .failure(let e): ok = false; error(item.mark, "\(w): \(e)")
            }
        }
        return ok ? .only(nets) : nil
    }

    // MARK: typed values

    /// The entries of a mapping, after reporting duplicate and unknown keys.
    /// `allowed` nil: any key (names chosen by the operator).
    mutating func mapping(_ node: YAMLNode, _ w: String, allowed: [String]?) -> [(key: String, keyMark: Mark, value: YAMLNode)]? {
        guard case .mapping(let pairs, _) = node else {
            if node.isNull { return [] }
            error(node.mark, "\(w): expected a mapping of keys to values, got \(describe(node))")
            return nil
        }
        var seen: [String: Mark] = [:]
        var out: [(key: String, keyMark: Mark, value: YAMLNode)] = []
        for p in pairs {
            if let first = seen[p.key] {
                error(p.keyMark, "duplicate key '\(p.key)' in \(w) (first given at line \(first.line))")
                continue
            }
            seen[p.key] = p.keyMark
            if let allowed, !allowed.contains(p.key) {
                let hint = suggestion(p.key, among: allowed)
                error(p.keyMark, "unknown key '\(p.key)' in \(w)\(hint.isEmpty ? "; expected one of: \(allowed.joined(separator: ", "))" : hint)")
                continue
            }
            out.append(p)
        }
        return out
    }

    mutating func list(_ node: YAMLNode, _ w: String) -> [YAMLNode]? {
        guard case .sequence(let items, _) = node else {
            if node.isNull { return [] }
            error(node.mark, "\(w): expected a list, got \(describe(node))")
            return nil
        }
        return items
    }

    mutating func string(_ node: YAMLNode, _ w: String) -> String? {
        guard case .scalar(let s, _, _) = node, !node.isNull else {
            error(node.mark, "\(w): expected a string, got \(describe(node))")
            return nil
        }
        return s
    }

    mutating func integer(_ node: YAMLNode, _ w: String, _ range: ClosedRange<Int>) -> Int? {
        guard case .scalar(let s, _, let quoted) = node, !quoted, let n = Int(s), s.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 || $0 == UInt8(ascii: "-") }) else {
            error(node.mark, "\(w): expected a whole number from \(range.lowerBound) to \(range.upperBound), got \(describe(node))")
            return nil
        }
        guard range.contains(n) else {
            error(node.mark, "\(w): \(n) is out of range; expected a whole number from \(range.lowerBound) to \(range.upperBound)")
            return nil
        }
        return n
    }

    mutating func duration(_ node: YAMLNode, _ w: String, max: Int64) -> Int64? {
        guard case .scalar(let s, _, _) = node, !node.isNull, let d = DurationText.parse(s) else {
            error(node.mark, "\(w): expected a duration such as 45s, 15m, 1h, 7d or whole seconds, got \(describe(node))")
            return nil
        }
        guard d >= 1 && d <= max else {
            error(node.mark, "\(w): \(s) is out of range; expected from 1s to \(DurationText.format(max))")
            return nil
        }
        return d
    }

    mutating func decodeStorage(_ value: YAMLNode, _ c: inout KeygateConfiguration) {
        var urlMark: Mark? = nil
        var urlGiven = false
        for (k, keyMark, v) in mapping(value, "storage", allowed: ["backend", "path", "url", "password_file", "max_staleness"]) ?? [] {
            switch k {
            case "backend":
                guard let s = string(v, "storage.backend") else { continue }
                if let b = StorageSettings.Backend(rawValue: s) { c.storage.backend = b } else {
                    error(v.mark, "storage.backend: '\(s)' is not a backend; expected sqlite or postgres")
                }
            case "path": if let p = path(v, "storage.path") { c.storagePath = p }
            case "url":
                urlGiven = true
                guard let u = string(v, "storage.url") else { continue }
                switch PostgresURL.parse(u) {
                case .success: c.storage.url = u; urlMark = keyMark
                case .failure(let e): error(v.mark, "storage.url: \(e)")
                }
            case "password_file": if let p = path(v, "storage.password_file") { c.storage.passwordFile = p }
            case "max_staleness":
                if case .scalar(let s, _, _) = v, s == "0" { c.storage.maxStaleness = 0 } else if let d = duration(v, "storage.max_staleness", max: 86400) {
                    c.storage.maxStaleness = d
                }
            default: break
            }
        }
        if c.storage.backend == .postgres && !urlGiven {
            error(value.mark, "storage: backend postgres needs storage.url (postgresql://user@host:port/database)")
        }
        if c.storage.backend == .sqlite, c.storage.url != nil, let m = urlMark {
            error(m, "storage.url is set but storage.backend is sqlite; add backend: postgres, or remove url")
        }
    }

    mutating func mode(_ node: YAMLNode, _ w: String) -> UInt32? {
        guard case .scalar(let s, _, _) = node, (3...4).contains(s.utf8.count),
              s.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x37 }), let m = UInt32(s, radix: 8), m <= 0o777 else {
            error(node.mark, "\(w): expected an octal file mode such as \"0660\", got \(describe(node))")
            return nil
        }
        return m
    }

    mutating func path(_ node: YAMLNode, _ w: String) -> String? {
        guard let s = string(node, w) else { return nil }
        guard !s.isEmpty, !s.utf8.contains(0) else {
            error(node.mark, "\(w): expected a file path, got an empty string")
            return nil
        }
        return s
    }

    mutating func socketPath(_ node: YAMLNode, _ w: String) -> String? {
        guard let s = path(node, w) else { return nil }
        // sun_path holds 108 bytes including the terminating NUL.
        if s.utf8.count > 107 {
            error(node.mark, "\(w): '\(s)' is \(s.utf8.count) bytes; a Unix socket path may be at most 107")
            return nil
        }
        return s
    }

    func describe(_ node: YAMLNode) -> String {
        switch node {
        case .scalar(let s, _, _): return node.isNull ? "nothing" : "'\(s)'"
        default: return node.typeName
        }
    }

    func isName(_ s: String) -> Bool {
        !s.isEmpty && s.utf8.count <= 64 && s.utf8.allSatisfy { Base62.isDigit($0) || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") }
    }

    func isHeaderName(_ s: String) -> Bool {
        !s.isEmpty && s.utf8.count <= 64 && s.utf8.allSatisfy { Base62.isDigit($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") }
    }

    func isScopeToken(_ s: String) -> Bool {
        !s.isEmpty && s.utf8.allSatisfy { $0 == 0x21 || ($0 >= 0x23 && $0 <= 0x5B) || ($0 >= 0x5D && $0 <= 0x7E) }
    }

    func isAccountPattern(_ s: String) -> Bool {
        AccountName.isValid(String(decoding: s.utf8.map { $0 == UInt8(ascii: "*") || $0 == UInt8(ascii: "?") ? UInt8(ascii: "a") : $0 }, as: UTF8.self))
    }

    func suggestion(_ word: String, among candidates: [String], prefix: String = "", parenthesised: Bool = false) -> String {
        var best: (String, Int)? = nil
        for c in candidates {
            let d = editDistance(word.lowercased(), c.lowercased())
            if d <= max(1, min(3, c.count / 3)), best == nil || d < best!.1 { best = (c, d) }
        }
        guard let b = best else { return "" }
        return parenthesised ? " (did you mean '\(prefix)\(b.0)'?)" : "; did you mean '\(prefix)\(b.0)'?"
    }
}

func editDistance(_ a: String, _ b: String) -> Int {
    let x = Array(a.utf8), y = Array(b.utf8)
    if x.isEmpty { return y.count }
    if y.isEmpty { return x.count }
    var prev = Array(0...y.count)
    var cur = [Int](repeating: 0, count: y.count + 1)
    for i in 1...x.count {
        cur[0] = i
        for j in 1...y.count {
            cur[j] = Swift.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x[i - 1] == y[j - 1] ? 0 : 1))
        }
        swap(&prev, &cur)
    }
    return prev[y.count]
}
