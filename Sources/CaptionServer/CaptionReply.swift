import Captioning
import Foundation

/// The JSON body of a successful `POST /v1/captions` (keys in snake_case).
struct CaptionReply: Encodable {
    struct Alternative: Encodable {
        var caption: String
        /// Nil only if the score is not a finite number (JSON has no infinity).
        var score: Double?
    }

    /// Where the model looked for each word: a rows × columns grid of weights over the center crop
    /// the encoder saw (that crop is `crop_fraction` of the image's shorter side, centred).
    struct Attention: Encodable {
        struct Word: Encodable {
            var word: String
            var grid: [[Float]]
            /// Adaptive attention's β: how much the word came from the language model instead of the image.
            var sentinel: Float?
        }
        var rows, columns: Int
        var cropFraction: Double
        var words: [Word]
    }

    /// Milliseconds spent reading the body, decoding the image, queued, encoding, decoding and in all;
    /// and how many images shared the model run.
    struct Timing: Encodable {
        var readMs, imageMs, queueMs, encodeMs, decodeMs, totalMs: Double
        var batchSize: Int
    }

    var caption: String
    var score: Double?
    var alternatives: [Alternative]
    var attention: Attention?
    var timing: Timing

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        return encoder
    }()
}

/// Renders decoded captions as words of the model's vocabulary.
struct CaptionWording {
    let vocabulary: [String]
    let cropFraction: Double
    let modelAttends: Bool

    func word(_ token: Int32) -> String {
        Int(token) < vocabulary.count ? vocabulary[Int(token)] : "<unk>"
    }

    func sentence(_ caption: DecodedCaption) -> String {
        caption.tokens.map(word).joined(separator: " ")
    }

    /// Nil when the model has no attention (show-tell); `cells` is the encoder grid's L.
    func attention(of caption: DecodedCaption, cells: Int) -> CaptionReply.Attention? {
        guard modelAttends, cells > 0 else { return nil }
        // The encoders' grids are square (7×7 at 224 px); anything else is shown as one row.
        let side = Int(Double(cells).squareRoot().rounded())
        let (rows, columns) = side * side == cells ? (side, side) : (1, cells)
        let words = zip(caption.tokens, caption.attention).enumerated().map { index, pair in
            CaptionReply.Attention.Word(
                word: word(pair.0),
                grid: (0..<rows).map { r in Array(pair.1[(r * columns)..<((r + 1) * columns)]) },
                sentinel: index < caption.sentinel.count ? caption.sentinel[index] : nil)
        }
        return CaptionReply.Attention(rows: rows, columns: columns, cropFraction: cropFraction, words: words)
    }

    static func score(_ value: Float) -> Double? { value.isFinite ? Double(value) : nil }
}

extension Duration {
    var milliseconds: Double {
        let (seconds, attoseconds) = components
        return (Double(seconds) * 1e3 + Double(attoseconds) * 1e-15).rounded(toPlaces: 3)
    }
}

extension Double {
    func rounded(toPlaces places: Int) -> Double {
        let scale = Foundation.pow(10, Double(places))
        return (self * scale).rounded() / scale
    }
}
