#if canImport(Glibc)
import Glibc
#endif
import KeygateAPI
import KeygateCore

enum Console {
    static func error(_ s: String) {
        let bytes = Array((s + "\n").utf8)
        bytes.withUnsafeBytes { _ = write(2, $0.baseAddress, $0.count) }
    }

    static var stdinIsTerminal: Bool { isatty(0) == 1 }

    static func prompt(_ s: String) {
        let bytes = Array(s.utf8)
        bytes.withUnsafeBytes { _ = write(2, $0.baseAddress, $0.count) }
    }

    static func printJSON(_ j: JSON) { print(JSONPretty.render(j)) }

    static func secretWarning() {
        error("Store this secret now: keygate keeps only its digest and will not show it again.")
    }
}

/// Aligned columns for human output.
struct Table {
    var header: [String]
    var rows: [[String]] = []

    init(_ header: String...) { self.header = header }

    mutating func add(_ row: String...) { rows.append(row) }

    func render() -> String {
        var widths = header.map(\.count)
        for r in rows { for (i, c) in r.enumerated() where i < widths.count { widths[i] = max(widths[i], c.count) } }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, c in
                i == cells.count - 1 ? c : c + String(repeating: " ", count: widths[i] - c.count)
            }.joined(separator: "  ")
        }
        return ([line(header)] + rows.map(line)).joined(separator: "\n")
    }
}


func describeAllowList(_ ips: [String]) -> String { ips.isEmpty ? "any" : ips.joined(separator: ",") }

func describeTime(_ t: Timestamp?) -> String { t.map(TimeText.format) ?? "never" }
