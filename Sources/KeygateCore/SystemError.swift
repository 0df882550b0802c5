#if canImport(Glibc)
import Glibc
#endif

/// A failed system call, with the words an operator needs: what, where, why.
public struct SystemError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public init(_ what: String, errno code: Int32) {
        self.message = "\(what): \(String(cString: strerror(code)))"
    }
    public var description: String { message }
}
