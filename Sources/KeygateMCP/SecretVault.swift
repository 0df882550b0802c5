#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Where a created secret goes instead of the model's context: a new file,
/// mode 0600, in a directory of mode 0700 (SPEC 10).
public struct SecretVault: Sendable {
    public let directory: String

    public init(directory: String) { self.directory = directory }

    /// `--secret-dir`, else `$XDG_RUNTIME_DIR/keygate`, else `~/.cache/keygate`.
    public static func defaultDirectory(environment: [String: String]) -> String {
        if let run = environment["XDG_RUNTIME_DIR"], !run.isEmpty { return run + "/keygate" }
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        return home + "/.cache/keygate"
    }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// Creates the directory (0700) when missing and checks it can be written,
    /// before anything is created that could not be stored.
    public func prepare() throws {
        var path = ""
        for part in directory.split(separator: "/", omittingEmptySubsequences: true) {
            path += "/" + part
            var st = stat()
            if stat(path, &st) == 0 { continue }
            if mkdir(path, 0o700) != 0 && errno != EEXIST {
                throw Failure(description: "cannot create \(path): \(String(cString: strerror(errno)))")
            }
        }
        guard access(directory, W_OK | X_OK) == 0 else {
            throw Failure(description: "cannot write to \(directory): \(String(cString: strerror(errno)))")
        }
    }

    /// Writes `secret` to a new file named after `label`; returns its path.
    public func store(_ secret: String, label: String) throws -> String {
        try prepare()
        let safe = String(label.map { $0.isLetter || $0.isNumber || "._-".contains($0) ? $0 : "_" })
        let stamp = Int(Date().timeIntervalSince1970)
        for attempt in 0..<100 {
            let path = "\(directory)/\(safe)-\(stamp)\(attempt == 0 ? "" : "-\(attempt)").secret"
            let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
            if fd < 0 {
                if errno == EEXIST { continue }
                throw Failure(description: "cannot create \(path): \(String(cString: strerror(errno)))")
            }
            defer { close(fd) }
            fchmod(fd, 0o600)
            let bytes = Array((secret + "\n").utf8)
            let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            guard written == bytes.count, fsync(fd) == 0 else {
                unlink(path)
                throw Failure(description: "cannot write \(path): \(String(cString: strerror(errno)))")
            }
            return path
        }
        throw Failure(description: "cannot find a free file name in \(directory)")
    }
}
