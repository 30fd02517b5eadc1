import CYAML

/// A composed YAML node: what the config's readers walk. Every scalar stays text (no implicit types: the reader
/// says what is wrong with a value), and every node keeps where it starts in the file.
public enum Node: Sendable {
    case scalar(Scalar)
    case mapping(Mapping)
    case sequence(Sequence)

    /// Where a node starts: line and column, both from 1.
    public struct Mark: Sendable, Equatable {
        public var line: Int
        public var column: Int
        public init(line: Int, column: Int) {
            self.line = line
            self.column = column
        }
    }

    public struct Scalar: Sendable {
        public var string: String
        public var mark: Mark?
        public init(_ string: String, mark: Mark? = nil) {
            self.string = string
            self.mark = mark
        }
    }

    /// A mapping's entries in file order; duplicate keys are kept (the reader reports them).
    public struct Mapping: Sendable, RandomAccessCollection {
        public var pairs: [(key: Node, value: Node)]
        public var mark: Mark?
        public init(_ pairs: [(Node, Node)], mark: Mark? = nil) {
            self.pairs = pairs.map { (key: $0.0, value: $0.1) }
            self.mark = mark
        }
        public var startIndex: Int { 0 }
        public var endIndex: Int { pairs.count }
        public subscript(i: Int) -> (key: Node, value: Node) { pairs[i] }
    }

    public struct Sequence: Sendable, RandomAccessCollection {
        public var nodes: [Node]
        public var mark: Mark?
        public init(_ nodes: [Node], mark: Mark? = nil) {
            self.nodes = nodes
            self.mark = mark
        }
        public var startIndex: Int { 0 }
        public var endIndex: Int { nodes.count }
        public subscript(i: Int) -> Node { nodes[i] }
    }

    public var mark: Mark? {
        switch self {
        case .scalar(let s): s.mark
        case .mapping(let m): m.mark
        case .sequence(let s): s.mark
        }
    }

    public var scalar: Scalar? {
        if case .scalar(let s) = self { return s }
        return nil
    }

    /// The text of a scalar; nil for a mapping or a list.
    public var string: String? { scalar?.string }
}

/// Why a YAML text could not be composed: libyaml's reader, scanner or parser refused it (`syntax`), or the
/// events do not make one tree (`structure`: a second document, an alias to no anchor).
public struct YAMLError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        case syntax
        case structure
    }
    public var kind: Kind
    /// The line of the problem, from 1 (nil when libyaml gives none).
    public var line: Int?
    public var problem: String
    public var description: String { (line.map { "line \($0): " } ?? "") + problem }
}

extension Node {
    /// The first and only document of `text` as a tree, or nil when the text holds no document (empty, or
    /// comments only). Built from libyaml's event parser with a stack, not recursion: nesting depth costs heap,
    /// not the thread's stack. Anchors and aliases are resolved (an alias shares the anchored node's value).
    public static func compose(_ text: String) throws(YAMLError) -> Node? {
        var bytes = Array(text.utf8)
        if bytes.isEmpty { bytes.append(0) }  // libyaml reads a length, but wants a valid pointer
        let count = text.utf8.count
        return try bytes.withUnsafeBufferPointer { (buf) throws(YAMLError) -> Node? in
            var parser = yaml_parser_t()
            guard yaml_parser_initialize(&parser) == 1 else {
                throw YAMLError(kind: .syntax, line: nil, problem: "out of memory")
            }
            defer { yaml_parser_delete(&parser) }
            yaml_parser_set_input_string(&parser, buf.baseAddress, count)
            yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING)
            var composer = Composer()
            while true {
                var event = yaml_event_t()
                guard yaml_parser_parse(&parser, &event) == 1 else { throw Composer.parserError(parser) }
                defer { yaml_event_delete(&event) }
                if try composer.take(event) { return composer.root }
            }
        }
    }
}

/// Turns libyaml's events into nodes: open collections on a stack, finished nodes handed to their parent.
private struct Composer {
    enum Open {
        case sequence([Node], Node.Mark, String?)
        case mapping([(Node, Node)], Node?, Node.Mark, String?)
    }
    var stack: [Open] = []
    var anchors: [String: Node] = [:]
    var root: Node?
    var documents = 0

    static func mark(_ m: yaml_mark_t) -> Node.Mark { Node.Mark(line: Int(m.line) + 1, column: Int(m.column) + 1) }

    static func text(_ p: UnsafeMutablePointer<yaml_char_t>?, _ length: Int? = nil) -> String? {
        guard let p else { return nil }
        if let length { return String(decoding: UnsafeBufferPointer(start: p, count: length), as: UTF8.self) }
        return String(cString: p)
    }

    static func parserError(_ p: yaml_parser_t) -> YAMLError {
        let problem = p.problem.map { String(cString: $0) } ?? "not valid YAML"
        let context = p.context.map { String(cString: $0) }
        // libyaml reports a reader (encoding) problem at an offset, the others at a mark.
        let line = p.error == YAML_READER_ERROR ? nil : Int(p.problem_mark.line) + 1
        return YAMLError(kind: .syntax, line: line, problem: context.map { "\(problem) (\($0))" } ?? problem)
    }

    /// Takes one event; true when the stream has ended.
    mutating func take(_ e: yaml_event_t) throws(YAMLError) -> Bool {
        let at = Self.mark(e.start_mark)
        switch e.type {
        case YAML_STREAM_END_EVENT:
            return true
        case YAML_DOCUMENT_START_EVENT:
            documents += 1
            if documents > 1 {
                throw YAMLError(
                    kind: .structure,
                    line: at.line,
                    problem: "a second document starts here (a config file holds one)"
                )
            }
        case YAML_SCALAR_EVENT:
            let s = e.data.scalar
            let node = Node.scalar(Node.Scalar(Self.text(s.value, Int(s.length)) ?? "", mark: at))
            try finish(node, anchor: Self.text(s.anchor))
        case YAML_ALIAS_EVENT:
            let name = Self.text(e.data.alias.anchor) ?? ""
            guard let node = anchors[name] else {
                throw YAMLError(kind: .structure, line: at.line, problem: "alias *\(name) names no anchor before it")
            }
            try finish(node, anchor: nil)
        case YAML_SEQUENCE_START_EVENT:
            stack.append(.sequence([], at, Self.text(e.data.sequence_start.anchor)))
        case YAML_MAPPING_START_EVENT:
            stack.append(.mapping([], nil, at, Self.text(e.data.mapping_start.anchor)))
        case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
            switch stack.popLast() {
            case .sequence(let items, let m, let anchor)?:
                try finish(.sequence(Node.Sequence(items, mark: m)), anchor: anchor)
            case .mapping(let pairs, _, let m, let anchor)?:
                try finish(.mapping(Node.Mapping(pairs, mark: m)), anchor: anchor)
            case nil:
                break  // libyaml balances its events; nothing to close
            }
        default:
            break  // stream start, document end, no-op events
        }
        return false
    }

    mutating func finish(_ node: Node, anchor: String?) throws(YAMLError) {
        if let anchor { anchors[anchor] = node }
        guard let top = stack.popLast() else {
            root = node
            return
        }
        switch top {
        case .sequence(var items, let m, let a):
            items.append(node)
            stack.append(.sequence(items, m, a))
        case .mapping(var pairs, let key, let m, let a):
            if let key {
                pairs.append((key, node))
                stack.append(.mapping(pairs, nil, m, a))
            } else {
                stack.append(.mapping(pairs, node, m, a))
            }
        }
    }
}
