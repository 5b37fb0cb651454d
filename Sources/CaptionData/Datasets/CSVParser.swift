/// An RFC 4180 reader: fields separated by a delimiter, optionally wrapped in double quotes,
/// inside which the delimiter, line breaks and doubled quotes (`""`) are literal.
/// Records remember the line they start on, so errors can name it.
struct CSVRecord {
    var line: Int
    var fields: [String]
    /// The line the record ends on: later than `line` when a quoted field runs over line breaks.
    var endLine: Int

    init(line: Int, fields: [String], endLine: Int? = nil) {
        self.line = line
        self.fields = fields
        self.endLine = endLine ?? line
    }
}

enum CSVParser {
    /// Parses the whole file. Blank lines are skipped.
    static func records(of file: TextFile, delimiter: UInt8 = UInt8(ascii: ",")) throws -> [CSVRecord] {
        let bytes = file.bytes
        let quote = UInt8(ascii: "\""), newline = UInt8(ascii: "\n"), carriageReturn = UInt8(ascii: "\r")
        var records: [CSVRecord] = []
        var fields: [String] = []
        var field: [UInt8] = []
        var line = 1
        var recordLine = 1
        var index = 0
        var recordHasContent = false

        func finishField() throws {
            guard let text = String(validating: field, as: UTF8.self) else {
                throw file.error(line: line, "the line is not valid UTF-8 text", fix: "re-save the file as UTF-8")
            }
            fields.append(text)
            field.removeAll(keepingCapacity: true)
        }
        func finishRecord() throws {
            try finishField()
            if recordHasContent || fields.count > 1 {
                records.append(CSVRecord(line: recordLine, fields: fields, endLine: line))
            }
            fields.removeAll(keepingCapacity: true)
            recordHasContent = false
        }

        while index < bytes.count {
            let byte = bytes[index]
            if byte == quote && field.isEmpty {
                // A quoted field: runs to the next quote that is not doubled.
                let openingLine = line
                recordHasContent = true
                index += 1
                var closed = false
                while index < bytes.count {
                    let inner = bytes[index]
                    if inner == quote {
                        if index + 1 < bytes.count && bytes[index + 1] == quote {
                            field.append(quote)
                            index += 2
                            continue
                        }
                        closed = true
                        index += 1
                        break
                    }
                    if inner == newline { line += 1 }
                    field.append(inner)
                    index += 1
                }
                guard closed else {
                    throw file.error(line: openingLine, "unterminated quoted field (a '\"' opens here and is never closed)",
                                     fix: "close the quote, and write any quote inside a caption as two quotes (\"\")")
                }
                // Only a delimiter or the end of the line may follow a closing quote.
                if index < bytes.count {
                    let next = bytes[index]
                    let endsLine = next == newline || (next == carriageReturn && (index + 1 == bytes.count || bytes[index + 1] == newline))
                    if next != delimiter && !endsLine {
                        // A quote that runs over line breaks and is then followed by text is almost
                        // always an unbalanced quote that swallowed the next lines: name the line where
                        // it opened, not the line where it happened to meet another quote.
                        if line != openingLine {
                            throw file.error(line: openingLine,
                                             "unbalanced quote (a '\"' opens a field here and the next quote, on line \(line), is followed by more text)",
                                             fix: "close the quote on this line, and write any quote inside a caption as two quotes (\"\")")
                        }
                        throw file.error(line: line, "unexpected text after a closing quote",
                                         fix: "quote the whole field, writing a quote inside it as two quotes (\"\")")
                    }
                }
                continue
            }
            if byte == delimiter {
                recordHasContent = true
                try finishField()
                index += 1
                continue
            }
            if byte == newline || (byte == carriageReturn && index + 1 < bytes.count && bytes[index + 1] == newline) {
                try finishRecord()
                index += byte == carriageReturn ? 2 : 1
                line += 1
                recordLine = line
                continue
            }
            recordHasContent = true
            field.append(byte)
            index += 1
        }
        if recordHasContent || !field.isEmpty || !fields.isEmpty {
            try finishRecord()
        }
        return records
    }
}
