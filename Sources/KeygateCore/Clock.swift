#if canImport(Glibc)
import Glibc
#endif

/// Where "now" comes from; tests inject a fixed or stepping clock.
public struct Clock: Sendable {
    public var now: @Sendable () -> Timestamp

    public init(now: @escaping @Sendable () -> Timestamp) { self.now = now }

    public static let system = Clock {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Timestamp(ts.tv_sec)
    }
}
