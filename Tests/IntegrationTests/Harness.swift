import Foundation
import XCTest
import KeygateAPI

/// Where the built binaries are: $KEYGATE_BIN_DIR, else next to this test bundle.
enum Binaries {
    static let dir: URL = {
        if let d = ProcessInfo.processInfo.environment["KEYGATE_BIN_DIR"], !d.isEmpty { return URL(fileURLWithPath: d) }
        var u = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        for _ in 0..<6 {
            u = u.deletingLastPathComponent()
            if FileManager.default.isExecutableFile(atPath: u.appendingPathComponent("keygated").path) { return u }
        }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return root.appendingPathComponent(".build/debug")
    }()
    static var keygated: String { dir.appendingPathComponent("keygated").path }
    static var keygate: String { dir.appendingPathComponent("keygate").path }
}

struct Run {
    var status: Int32
    var out: String
    var err: String
}

/// Runs a program to completion, feeding `stdin`, collecting both outputs.
@discardableResult
func runProgram(_ path: String, _ args: [String], env: [String: String] = [:], stdin: String? = nil, timeout: TimeInterval = 30) throws -> Run {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: path)
    p.arguments = args
    var environment = ProcessInfo.processInfo.environment
    for (k, v) in env { environment[k] = v }
    p.environment = environment
    let out = Pipe(), err = Pipe(), input = Pipe()
    p.standardOutput = out
    p.standardError = err
    p.standardInput = input
    try p.run()
    if let s = stdin { input.fileHandleForWriting.write(Data(s.utf8)) }
    try input.fileHandleForWriting.close()
    final class Box: @unchecked Sendable { var data = Data() }
    let outData = Box(), errData = Box()
    let group = DispatchGroup()
    group.enter()
    DispatchQueue.global().async { outData.data = out.fileHandleForReading.readDataToEndOfFile(); group.leave() }
    group.enter()
    DispatchQueue.global().async { errData.data = err.fileHandleForReading.readDataToEndOfFile(); group.leave() }
    if group.wait(timeout: .now() + timeout) == .timedOut {
        p.terminate()
        throw NSError(domain: "run", code: 1, userInfo: [NSLocalizedDescriptionKey: "\(path) \(args) timed out"])
    }
    p.waitUntilExit()
    return Run(status: p.terminationStatus, out: String(decoding: outData.data, as: UTF8.self), err: String(decoding: errData.data, as: UTF8.self))
}

/// A real keygated on temporary sockets, with its own database and log.
final class DaemonUnderTest {
    let dir: URL
    let configPath: String
    var process: Process?
    var serviceSocket: String { dir.appendingPathComponent("s.sock").path }
    var adminSocket: String { dir.appendingPathComponent("a.sock").path }
    var dbPath: String { dir.appendingPathComponent("state/keygate.db").path }
    var logPath: String { dir.appendingPathComponent("keygated.log").path }
    var extraEnv: [String: String] = [:]

    /// `yaml` is added after the listen and storage sections.
    init(yaml: String = "") throws {
        // Short paths: a Unix socket path may hold 107 bytes.
        let template = "/tmp/kg-XXXXXX"
        var buf = Array(template.utf8CString)
        guard mkdtemp(&buf) != nil else { throw NSError(domain: "mkdtemp", code: Int(errno)) }
        dir = URL(fileURLWithPath: String(cString: buf))
        configPath = dir.appendingPathComponent("keygate.yaml").path
        try writeConfig(yaml)
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
    }

    func writeConfig(_ yaml: String) throws {
        let text = """
            listen:
              service_socket: \(serviceSocket)
              admin_socket: \(adminSocket)
            storage:
              path: \(dbPath)

            """ + yaml
        try text.write(toFile: configPath, atomically: true, encoding: .utf8)
    }

    deinit {
        if let p = process, p.isRunning { kill(p.processIdentifier, SIGKILL); p.waitUntilExit() }
        if ProcessInfo.processInfo.environment["KEYGATE_KEEP_TEST_DIRS"] == nil { try? FileManager.default.removeItem(at: dir) }
    }

    func start(waitUntilReady: Bool = true) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Binaries.keygated)
        p.arguments = ["--config", configPath]
        var env = ProcessInfo.processInfo.environment
        for (k, v) in extraEnv { env[k] = v }
        p.environment = env
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        log.seekToEndOfFile()
        p.standardOutput = log
        p.standardError = log
        try p.run()
        process = p
        if waitUntilReady { try waitForSockets() }
    }

    func waitForSockets(timeout: TimeInterval = 20) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let p = process, !p.isRunning {
                throw NSError(domain: "keygated", code: Int(p.terminationStatus), userInfo: [NSLocalizedDescriptionKey: "keygated exited \(p.terminationStatus): \(log)"])
            }
            if (try? UnixHTTPClient(path: serviceSocket, timeoutSeconds: 2).request("GET", "/healthz"))?.status == 200,
               (try? UnixHTTPClient(path: adminSocket, timeoutSeconds: 2).request("GET", "/v1/status"))?.status == 200 {
                return
            }
            usleep(50_000)
        }
        throw NSError(domain: "keygated", code: 1, userInfo: [NSLocalizedDescriptionKey: "keygated not ready: \(log)"])
    }

    /// Sends `sig` and waits for the exit status.
    @discardableResult
    func stop(_ sig: Int32 = SIGTERM, timeout: TimeInterval = 20) -> Int32 {
        guard let p = process else { return -1 }
        kill(p.processIdentifier, sig)
        let deadline = Date().addingTimeInterval(timeout)
        while p.isRunning && Date() < deadline { usleep(20_000) }
        if p.isRunning { kill(p.processIdentifier, SIGKILL); p.waitUntilExit(); return -9 }
        return p.terminationStatus
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// The real control tool against this daemon's sockets.
    @discardableResult
    func cli(_ args: [String], stdin: String? = nil) throws -> Run {
        try runProgram(Binaries.keygate, args,
                env: ["KEYGATE_ADMIN_SOCKET": adminSocket, "KEYGATE_SOCKET": serviceSocket], stdin: stdin)
    }

    /// curl over the service socket (or `socket`), returning status code and body.
    func curl(_ method: String, _ path: String, body: String? = nil, headers: [String] = [], socket: String? = nil) throws -> (code: Int, body: String, headers: String) {
        var args = ["-s", "-S", "--unix-socket", socket ?? serviceSocket, "-X", method, "-D", "-", "-o", "-", "http://keygate\(path)"]
        if method == "HEAD" { args = ["-s", "-S", "--unix-socket", socket ?? serviceSocket, "-I", "http://keygate\(path)"] }
        for h in headers { args += ["-H", h] }
        if let b = body { args += ["--data-binary", b, "-H", "Content-Type: application/json"] }
        let r = try runProgram("/usr/bin/curl", args)
        let parts = r.out.components(separatedBy: "\r\n\r\n")
        let head = parts.first ?? ""
        let code = Int(head.split(separator: " ").dropFirst().first ?? "") ?? 0
        return (code, parts.dropFirst().joined(separator: "\r\n\r\n"), head)
    }

    func json(_ s: String) throws -> JSON { try JSON.parse(Array(s.utf8)) }

    /// Every file the daemon wrote, as bytes: database, WAL, log.
    func allWrittenBytes() -> Data {
        var d = Data()
        for f in [dbPath, dbPath + "-wal", dbPath + "-shm", logPath] {
            if let x = FileManager.default.contents(atPath: f) { d.append(x) }
        }
        return d
    }
}
