import Captioner
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

    init(_ caption: Caption, attention: Bool, timing: Timing) {
        self.caption = caption.text
        score = Self.score(caption.score)
        alternatives = caption.alternatives.map { Alternative(caption: $0.text, score: Self.score($0.score)) }
        self.attention = attention ? caption.attention.map { maps in
            Attention(rows: maps.rows, columns: maps.columns, cropFraction: maps.cropFraction,
                      words: maps.words.map { Attention.Word(word: $0.word, grid: $0.grid, sentinel: $0.sentinel) })
        } : nil
        self.timing = timing
    }

    /// Nil for a score that is not a finite number (JSON has no infinity).
    static func score(_ value: Float) -> Double? { value.isFinite ? Double(value) : nil }

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        return encoder
    }()
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
