import KeygateCore
import NIOConcurrencyHelpers

/// Failed checks per caller address per minute (`verify.failures_per_ip`).
/// Shared by all event loops, striped so that two loops rarely meet on one
/// lock; the writer never touches it. A fixed one-minute window per address:
/// once an address has failed `limit` times in its window, every check from
/// it is RATE_LIMITED until the window ends.
final class FailureLimiter: @unchecked Sendable {
    private struct Window { var start: Timestamp; var failures: Int }
    private final class Stripe {
        let lock = NIOLock()
        var windows: [IPAddress: Window] = [:]
    }

    static let windowSeconds: Timestamp = 60
    static let maxTracked = 8192  // per stripe; old windows are dropped first
    private let stripes: [Stripe] = (0..<16).map { _ in Stripe() }

    @inline(__always)
    private func stripe(_ ip: IPAddress) -> Stripe { stripes[Int(truncatingIfNeeded: (ip.lo ^ ip.hi ^ (ip.lo >> 17)) & 15)] }

    /// Whether `ip` has used up its failures for the current window.
    func isLimited(_ ip: IPAddress, limit: Int, now: Timestamp) -> Bool {
        let s = stripe(ip)
        return s.lock.withLock {
            guard let w = s.windows[ip] else { return false }
            return now - w.start < Self.windowSeconds && w.failures >= limit
        }
    }

    func recordFailure(_ ip: IPAddress, now: Timestamp) {
        let s = stripe(ip)
        s.lock.withLock {
            if var w = s.windows[ip], now - w.start < Self.windowSeconds {
                w.failures += 1
                s.windows[ip] = w
                return
            }
            if s.windows.count >= Self.maxTracked {
                s.windows = s.windows.filter { now - $0.value.start < Self.windowSeconds }
                if s.windows.count >= Self.maxTracked { s.windows.removeAll(keepingCapacity: true) }
            }
            s.windows[ip] = Window(start: now, failures: 1)
        }
    }
}
