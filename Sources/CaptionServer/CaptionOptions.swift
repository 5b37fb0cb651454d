import Foundation

/// What a client may ask of one caption: beam width, caption length, and whether to return the
/// attention maps. Given in the query string (`?beam=3&max_words=20&attention=true`) or, in a
/// multipart upload, as an `options` part holding a JSON object or as one form field per option.
public struct CaptionOptions: Sendable, Equatable, Hashable {
    public var beam: Int
    public var maxWords: Int
    public var attention: Bool

    public init(beam: Int, maxWords: Int, attention: Bool) {
        self.beam = beam
        self.maxWords = maxWords
        self.attention = attention
    }

    static let names = ["beam", "max_words", "attention"]

    /// Applies string-valued options (query parameters or form fields) over `self`.
    func applying(_ fields: [(name: String, value: String)], limits: ServerConfiguration) throws -> CaptionOptions {
        var options = self
        for (name, value) in fields {
            switch name {
            case "beam": options.beam = try Self.integer(name, value, limit: limits.beamLimit)
            case "max_words": options.maxWords = try Self.integer(name, value, limit: limits.maxWordsLimit)
            case "attention": options.attention = try Self.boolean(name, value)
            default: throw Self.unknown(name)
            }
        }
        return options
    }

    /// Applies a JSON object such as `{"beam": 5, "max_words": 20, "attention": true}` over `self`.
    func applying(json: Data, limits: ServerConfiguration) throws -> CaptionOptions {
        guard let fields = try? JSONDecoder().decode([String: OptionValue].self, from: json) else {
            throw ServerError.badOption("The options part is not a JSON object of numbers, booleans or strings: send e.g. {\"beam\": 3, \"max_words\": 20, \"attention\": true}.")
        }
        return try applying(fields.sorted { $0.key < $1.key }.map { ($0.key, $0.value.text) }, limits: limits)
    }

    /// One value of the options JSON, kept as the text the query-string parser reads.
    private struct OptionValue: Decodable {
        let text: String
        init(from decoder: Decoder) throws {
            let value = try decoder.singleValueContainer()
            if let flag = try? value.decode(Bool.self) { text = flag ? "true" : "false" }
            else if let number = try? value.decode(Int.self) { text = String(number) }
            else if let number = try? value.decode(Double.self) { text = String(number) }
            else { text = try value.decode(String.self) }
        }
    }

    private static func integer(_ name: String, _ value: String, limit: Int) throws -> Int {
        guard let number = Int(value.trimmingCharacters(in: .whitespaces)), (1...limit).contains(number) else {
            throw ServerError.badOption("Option \(name) must be a whole number from 1 to \(limit), not \"\(value.prefix(40))\".")
        }
        return number
    }

    private static func boolean(_ name: String, _ value: String) throws -> Bool {
        switch value.trimmingCharacters(in: .whitespaces).lowercased() {
        case "true", "1", "yes", "on", "": return true
        case "false", "0", "no", "off": return false
        default: throw ServerError.badOption("Option \(name) must be true or false, not \"\(value.prefix(40))\".")
        }
    }

    private static func unknown(_ name: String) -> ServerError {
        ServerError.badOption("Unknown option \"\(name.prefix(40))\": the options are \(names.joined(separator: ", ")).")
    }
}
