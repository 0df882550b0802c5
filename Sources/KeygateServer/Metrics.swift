#if canImport(Glibc)
import Glibc
#endif
import KeygateCore

/// Counters one event loop keeps for itself: plain integers, no atomics and no
/// locks on the request path. A scrape of /metrics sums every loop's copy.
struct LoopStats: Sendable {
    /// Verifications by outcome, indexed by `LoopStats.outcomeIndex`.
    var verifications = [Int](repeating: 0, count: LoopStats.outcomes.count)
    /// Request latency histograms per socket (0 service, 1 admin): bucket counts, sum, count.
    var buckets = [[Int]](repeating: [Int](repeating: 0, count: LoopStats.bounds.count + 1), count: 2)
    var sum = [Double](repeating: 0, count: 2)
    var count = [Int](repeating: 0, count: 2)

    static let outcomes: [(result: String, kind: String)] = [
        ("valid", "api_key"), ("valid", "access_token"), ("MALFORMED", ""), ("UNKNOWN", ""),
        ("EXPIRED", ""), ("REVOKED", ""), ("IP_NOT_ALLOWED", ""), ("RATE_LIMITED", ""),
    ]

    /// Upper bounds of the latency buckets, in seconds.
    static let bounds: [Double] = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1]

    @inline(__always)
    static func outcomeIndex(_ v: Verdict) -> Int {
        switch v {
        case .apiKey: return 0
        case .accessToken: return 1
        case .refused(.malformed): return 2
        case .refused(.unknown): return 3
        case .refused(.expired): return 4
        case .refused(.revoked): return 5
        case .refused(.ipNotAllowed): return 6
        case .refused(.rateLimited): return 7
        }
    }

    @inline(__always)
    mutating func observe(socket: Int, seconds: Double) {
        var i = 0
        while i < Self.bounds.count && seconds > Self.bounds[i] { i += 1 }
        buckets[socket][i] += 1
        sum[socket] += seconds
        count[socket] += 1
    }

    mutating func add(_ o: LoopStats) {
        for i in verifications.indices { verifications[i] += o.verifications[i] }
        for s in 0..<2 {
            for b in buckets[s].indices { buckets[s][b] += o.buckets[s][b] }
            sum[s] += o.sum[s]
            count[s] += o.count[s]
        }
    }
}

enum MonotonicClock {
    @inline(__always)
    static func seconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}

/// Everything /metrics shows, rendered in the Prometheus text format 0.0.4.
struct MetricsSnapshot {
    var loops = LoopStats()
    var tokensIssued = 0
    var reloadsOK = 0
    var reloadsFailed = 0
    var lastReloadSuccess: Timestamp = 0
    var liveTokens = 0
    var keys = 0
    var clients = 0
    var accounts = 0
    var startedAt: Timestamp = 0
    var feed: Engine.FeedStatus? = nil

    func render() -> String {
        var out = ""
        func family(_ name: String, _ type: String, _ help: String) { out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n" }
        family("keygate_verifications_total", "counter", "Credential checks (POST /v1/verify, GET /v1/auth) by result.")
        for (i, o) in LoopStats.outcomes.enumerated() {
            let kind = o.kind.isEmpty ? "" : ",kind=\"\(o.kind)\""
            out += "keygate_verifications_total{result=\"\(o.result)\"\(kind)} \(loops.verifications[i])\n"
        }
        func single(_ name: String, _ type: String, _ help: String, _ value: Int64) {
            family(name, type, help)
            out += "\(name) \(value)\n"
        }
        single("keygate_tokens_issued_total", "counter", "Access tokens issued.", Int64(tokensIssued))
        single("keygate_live_tokens", "gauge", "Access tokens neither expired nor revoked.", Int64(liveTokens))
        single("keygate_api_keys", "gauge", "Static API keys.", Int64(keys))
        single("keygate_clients", "gauge", "Accounts with OAuth client credentials.", Int64(clients))
        single("keygate_accounts", "gauge", "Accounts holding any credential.", Int64(accounts))
        if let f = feed, let lag = f.lag {
            single("keygate_feed_position", "gauge", "The change feed's sequence number this host has read up to (PostgreSQL).", f.position)
            single("keygate_feed_lag_seconds", "gauge", "Seconds since this host last read the change feed (PostgreSQL).", lag)
            single("keygate_feed_stale", "gauge", "1 while verifications are refused for storage.max_staleness.", f.stale ? 1 : 0)
            family("keygate_lookups_total", "counter", "Database lookups of secrets this host did not know, by result.")
            out += "keygate_lookups_total{result=\"found\"} \(f.lookupsFound)\n"
            out += "keygate_lookups_total{result=\"not_found\"} \(f.lookups - f.lookupsFound)\n"
            out += "keygate_lookups_total{result=\"shed\"} \(f.lookupsShed)\n"
        }
        family("keygate_request_duration_seconds", "histogram", "Time from a complete request to its answer, by socket.")
        for (s, socket) in ["service", "admin"].enumerated() {
            var cumulative = 0
            for (b, bound) in LoopStats.bounds.enumerated() {
                cumulative += loops.buckets[s][b]
                out += "keygate_request_duration_seconds_bucket{socket=\"\(socket)\",le=\"\(bound)\"} \(cumulative)\n"
            }
            cumulative += loops.buckets[s][LoopStats.bounds.count]
            out += "keygate_request_duration_seconds_bucket{socket=\"\(socket)\",le=\"+Inf\"} \(cumulative)\n"
            out += "keygate_request_duration_seconds_sum{socket=\"\(socket)\"} \(loops.sum[s])\n"
            out += "keygate_request_duration_seconds_count{socket=\"\(socket)\"} \(loops.count[s])\n"
        }
        family("keygate_reloads_total", "counter", "Configuration reloads by result.")
        out += "keygate_reloads_total{result=\"success\"} \(reloadsOK)\nkeygate_reloads_total{result=\"failure\"} \(reloadsFailed)\n"
        single("keygate_last_reload_success_timestamp_seconds", "gauge", "When the running configuration was loaded (Unix time).", lastReloadSuccess)
        single("keygate_start_time_seconds", "gauge", "When keygated started (Unix time).", startedAt)
        return out
    }
}
