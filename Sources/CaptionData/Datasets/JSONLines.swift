import Foundation

/// What is wrong with a JSON-lines file; callers add the file name.
public enum JSONLinesError: Error, Equatable, Sendable {
    case notUTF8
    case invalidJSON(line: Int)
    case notAnObject(line: Int)
}

/// A JSON-lines reader for caption files (`caption evaluate`'s references and predictions): one object
/// per line whose fields are strings or lists of strings. Those lines are parsed straight from the
/// bytes, without Foundation's boxing (`JSONSerialization` made loading 5,000 predictions and 25,000
/// references a third of `evaluate`'s time). Any other line — numbers, nesting, `null`, invalid JSON —
/// goes to `JSONSerialization`, so what is accepted and what is refused stay exactly the general
/// parser's.
public enum JSONLines {
    /// Calls `body` with each non-blank line parsed as a JSON object and its 1-based line number.
    public static func forEachObject(in data: Data, _ body: ([String: Any], Int) throws -> Void) throws {
        try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            let bytes = raw.bindMemory(to: UInt8.self)
            guard String(validating: bytes, as: UTF8.self) != nil else { throw JSONLinesError.notUTF8 }
            var lineNumber = 0
            var lineStart = 0
            while lineStart <= bytes.count {
                var lineEnd = lineStart
                while lineEnd < bytes.count && bytes[lineEnd] != 0x0A { lineEnd += 1 }
                lineNumber += 1
                let line = UnsafeBufferPointer(rebasing: bytes[lineStart..<lineEnd])
                lineStart = lineEnd + 1
                if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { continue }
                if let object = FlatObjectParser.parse(line) {
                    try body(object, lineNumber)
                    continue
                }
                let parsed: Any
                do {
                    parsed = try JSONSerialization.jsonObject(with: Data(line))
                } catch {
                    throw JSONLinesError.invalidJSON(line: lineNumber)
                }
                guard let object = parsed as? [String: Any] else { throw JSONLinesError.notAnObject(line: lineNumber) }
                try body(object, lineNumber)
            }
        }
    }
}

/// Parses `{"key": "text", "key": ["text", …], …}` and nothing else: returns nil for any other shape
/// (the caller then asks `JSONSerialization`, which also produces the error for invalid JSON). The
/// bytes are already known to be valid UTF-8. Duplicate keys keep the last value, as Foundation does.
public enum FlatObjectParser {
    public static func parse(_ line: UnsafeBufferPointer<UInt8>) -> [String: Any]? {
        var parser = Cursor(bytes: line)
        parser.skipSpace()
        guard parser.take(UInt8(ascii: "{")) else { return nil }
        var object: [String: Any] = [:]
        parser.skipSpace()
        if parser.take(UInt8(ascii: "}")) { return parser.atEndAfterSpace() ? object : nil }
        while true {
            parser.skipSpace()
            guard let key = parser.string() else { return nil }
            parser.skipSpace()
            guard parser.take(UInt8(ascii: ":")) else { return nil }
            parser.skipSpace()
            if let text = parser.string() {
                object[key] = text
            } else if parser.take(UInt8(ascii: "[")) {
                var items: [String] = []
                parser.skipSpace()
                if !parser.take(UInt8(ascii: "]")) {
                    while true {
                        parser.skipSpace()
                        guard let item = parser.string() else { return nil }
                        items.append(item)
                        parser.skipSpace()
                        if parser.take(UInt8(ascii: "]")) { break }
                        guard parser.take(UInt8(ascii: ",")) else { return nil }
                    }
                }
                object[key] = items
            } else {
                return nil
            }
            parser.skipSpace()
            if parser.take(UInt8(ascii: "}")) { return parser.atEndAfterSpace() ? object : nil }
            guard parser.take(UInt8(ascii: ",")) else { return nil }
        }
    }

    private struct Cursor {
        let bytes: UnsafeBufferPointer<UInt8>
        var position = 0

        mutating func skipSpace() {
            while position < bytes.count {
                let byte = bytes[position]
                guard byte == 0x20 || byte == 0x09 || byte == 0x0D || byte == 0x0A else { return }
                position += 1
            }
        }

        mutating func take(_ byte: UInt8) -> Bool {
            guard position < bytes.count, bytes[position] == byte else { return false }
            position += 1
            return true
        }

        mutating func atEndAfterSpace() -> Bool {
            skipSpace()
            return position == bytes.count
        }

        /// A JSON string at the cursor, escapes decoded; nil (cursor unspecified) if there is none or
        /// it is malformed — raw control characters and lone surrogates included, which JSON forbids.
        mutating func string() -> String? {
            guard take(UInt8(ascii: "\"")) else { return nil }
            let start = position
            while position < bytes.count {
                let byte = bytes[position]
                if byte == UInt8(ascii: "\"") {
                    let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
                    position += 1
                    return text
                }
                if byte == UInt8(ascii: "\\") { return escapedString(from: start) }
                if byte < 0x20 { return nil }
                position += 1
            }
            return nil
        }

        /// The slow path of `string()`, from the opening quote's successor, once a backslash is seen.
        private mutating func escapedString(from start: Int) -> String? {
            var utf8 = Array(bytes[start..<position])
            while position < bytes.count {
                let byte = bytes[position]
                position += 1
                switch byte {
                case UInt8(ascii: "\""):
                    return String(decoding: utf8, as: UTF8.self)
                case UInt8(ascii: "\\"):
                    guard position < bytes.count else { return nil }
                    let escape = bytes[position]
                    position += 1
                    switch escape {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): utf8.append(escape)
                    case UInt8(ascii: "b"): utf8.append(0x08)
                    case UInt8(ascii: "f"): utf8.append(0x0C)
                    case UInt8(ascii: "n"): utf8.append(0x0A)
                    case UInt8(ascii: "r"): utf8.append(0x0D)
                    case UInt8(ascii: "t"): utf8.append(0x09)
                    case UInt8(ascii: "u"):
                        guard var scalar = hex4() else { return nil }
                        if (0xD800..<0xDC00).contains(scalar) {
                            guard take(UInt8(ascii: "\\")), take(UInt8(ascii: "u")), let low = hex4(),
                                  (0xDC00..<0xE000).contains(low) else { return nil }
                            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        } else if (0xDC00..<0xE000).contains(scalar) {
                            return nil
                        }
                        guard let unicode = Unicode.Scalar(scalar) else { return nil }
                        utf8.append(contentsOf: String(Character(unicode)).utf8)
                    default:
                        return nil
                    }
                default:
                    if byte < 0x20 { return nil }
                    utf8.append(byte)
                }
            }
            return nil
        }

        private mutating func hex4() -> UInt32? {
            guard position + 4 <= bytes.count else { return nil }
            var value: UInt32 = 0
            for _ in 0..<4 {
                let byte = bytes[position]
                position += 1
                let digit: UInt8
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
                default: return nil
                }
                value = value << 4 | UInt32(digit)
            }
            return value
        }
    }
}
