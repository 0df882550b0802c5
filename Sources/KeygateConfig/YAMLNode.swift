import CYAML

/// A position in the configuration file, 1-based as editors show it.
public struct Mark: Hashable, Sendable, Comparable {
    public var line: Int
    public var column: Int
    public init(line: Int, column: Int) { self.line = line; self.column = column }
    public static func < (a: Mark, b: Mark) -> Bool { (a.line, a.column) < (b.line, b.column) }
}

/// The YAML tree with every node's position, as libyaml reads it.
indirect enum YAMLNode {
    case scalar(String, Mark, quoted: Bool)
    case mapping([(key: String, keyMark: Mark, value: YAMLNode)], Mark)
    case sequence([YAMLNode], Mark)

    var mark: Mark {
        switch self {
        case .scalar(_, let m, _), .mapping(_, let m), .sequence(_, let m): return m
        }
    }

    var typeName: String {
        switch self {
        case .scalar: return "a scalar"
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        }
    }

    /// A plain `~`, `null` or empty scalar, which YAML reads as nothing.
    var isNull: Bool {
        if case .scalar(let s, _, let quoted) = self, !quoted { return s.isEmpty || s == "~" || s == "null" || s == "Null" || s == "NULL" }
        return false
    }
}

struct YAMLReadError: Error {
    var mark: Mark
    var message: String
}

/// Reads a YAML document into `YAMLNode`s with libyaml's event parser. Aliases
/// and anchors are refused: a credential daemon's configuration should say
/// what it means at each place. A second document is refused too.
enum YAMLReader {
    static func read(_ bytes: [UInt8]) -> Result<YAMLNode?, YAMLReadError> {
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else {
            return .failure(YAMLReadError(mark: Mark(line: 1, column: 1), message: "could not start the YAML parser"))
        }
        defer { yaml_parser_delete(&parser) }
        return bytes.withUnsafeBufferPointer { buf -> Result<YAMLNode?, YAMLReadError> in
            yaml_parser_set_input_string(&parser, buf.baseAddress, buf.count)
            var stack: [Frame] = []
            var root: YAMLNode? = nil
            var documents = 0
            while true {
                var event = yaml_event_t()
                guard yaml_parser_parse(&parser, &event) == 1 else {
                    let m = parser.problem_mark
                    var message = parser.problem.map { String(cString: $0) } ?? "invalid YAML"
                    if let ctx = parser.context {
                        let c = parser.context_mark
                        message = "\(message) \(String(cString: ctx)) started at line \(c.line + 1), column \(c.column + 1)"
                    }
                    return .failure(YAMLReadError(mark: Mark(line: Int(m.line) + 1, column: Int(m.column) + 1), message: "YAML syntax error: \(message)"))
                }
                defer { yaml_event_delete(&event) }
                let mark = Mark(line: Int(event.start_mark.line) + 1, column: Int(event.start_mark.column) + 1)
                var finished: YAMLNode? = nil
                switch event.type {
                case YAML_STREAM_END_EVENT:
                    return .success(root)
                case YAML_DOCUMENT_START_EVENT:
                    documents += 1
                    if documents > 1 {
                        return .failure(YAMLReadError(mark: mark, message: "only one YAML document is allowed; remove the second '---'"))
                    }
                case YAML_ALIAS_EVENT:
                    return .failure(YAMLReadError(mark: mark, message: "YAML anchors and aliases (&name, *name) are not allowed; write each value out in full"))
                case YAML_SCALAR_EVENT:
                    if event.data.scalar.anchor != nil {
                        return .failure(YAMLReadError(mark: mark, message: "YAML anchors and aliases (&name, *name) are not allowed; write each value out in full"))
                    }
                    let s = event.data.scalar
                    let text = String(decoding: UnsafeBufferPointer(start: s.value, count: s.length), as: UTF8.self)
                    finished = .scalar(text, mark, quoted: s.style != YAML_PLAIN_SCALAR_STYLE)
                case YAML_SEQUENCE_START_EVENT:
                    if event.data.sequence_start.anchor != nil {
                        return .failure(YAMLReadError(mark: mark, message: "YAML anchors and aliases (&name, *name) are not allowed; write each value out in full"))
                    }
                    stack.append(Frame(kind: .sequence, mark: mark))
                case YAML_MAPPING_START_EVENT:
                    if event.data.mapping_start.anchor != nil {
                        return .failure(YAMLReadError(mark: mark, message: "YAML anchors and aliases (&name, *name) are not allowed; write each value out in full"))
                    }
                    stack.append(Frame(kind: .mapping, mark: mark))
                case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
                    let f = stack.removeLast()
                    finished = f.kind == .sequence ? .sequence(f.items, f.mark) : .mapping(f.pairs, f.mark)
                default:
                    break
                }
                if let node = finished {
                    if stack.isEmpty {
                        root = node
                    } else if let err = stack[stack.count - 1].add(node) {
                        return .failure(err)
                    }
                }
            }
        }
    }

    private struct Frame {
        enum Kind { case sequence, mapping }
        var kind: Kind
        var mark: Mark
        var items: [YAMLNode] = []
        var pairs: [(key: String, keyMark: Mark, value: YAMLNode)] = []
        var pendingKey: (String, Mark)? = nil

        init(kind: Kind, mark: Mark) { self.kind = kind; self.mark = mark }

        mutating func add(_ node: YAMLNode) -> YAMLReadError? {
            if kind == .sequence { items.append(node); return nil }
            if let (k, m) = pendingKey {
                pairs.append((k, m, node))
                pendingKey = nil
                return nil
            }
            guard case .scalar(let k, let m, _) = node else {
                return YAMLReadError(mark: node.mark, message: "a mapping key must be a plain name, not \(node.typeName)")
            }
            pendingKey = (k, m)
            return nil
        }
    }
}
