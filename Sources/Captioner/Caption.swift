import Captioning
import Foundation

/// What a captioner wrote for one image.
public struct Caption: Sendable {
    /// One hypothesis of the beam search.
    public struct Alternative: Sendable {
        /// The words, joined by spaces.
        public var text: String
        /// The ranking score: log-probability / (words + 1)^lengthPenalty.
        public var score: Float
        /// The search's raw result: word ids, log-probability, attention weights.
        public var decoded: DecodedCaption
    }

    /// Where an attention model looked for each word of `text`.
    public struct Attention: Sendable {
        /// One word and its weights.
        public struct Word: Sendable {
            /// The word of the caption.
            public var word: String
            /// `rows` × `columns` weights over the encoder's grid: they sum to 1 for soft attention,
            /// and to 1 − `sentinel` for adaptive attention.
            public var grid: [[Float]]
            /// Adaptive attention's β: how much the word came from the language model rather than the image.
            public var sentinel: Float?
        }
        /// The grid's height, in cells.
        public var rows: Int
        /// The grid's width, in cells.
        public var columns: Int
        /// The grid covers the centre crop the encoder saw: this fraction of the image's shorter side.
        public var cropFraction: Double
        /// One entry per word of the caption, in order.
        public var words: [Word]
    }

    /// Where the time went, and how many images shared the model run.
    public struct Timing: Sendable {
        /// Decoding and resizing the image.
        public var image: Duration
        /// Waiting for the model and for other images to share the batch.
        public var queue: Duration
        /// Running the encoder over the batch.
        public var encode: Duration
        /// The beam search over the batch.
        public var decode: Duration
        /// How many images shared the model run.
        public var batchSize: Int
    }

    /// The best caption.
    public var text: String
    /// Its ranking score (see `Alternative.score`).
    public var score: Float
    /// Every hypothesis the beam kept, best first, so `alternatives[0]` is the caption itself.
    public var alternatives: [Alternative]
    /// Nil for show-tell models, which do not attend.
    public var attention: Attention?
    /// Where the time went for this image.
    public var timing: Timing
}

/// Renders decoded captions in the words of a model's vocabulary.
struct CaptionWording: Sendable {
    let vocabulary: [String]
    let cropFraction: Double
    let modelAttends: Bool

    func sentence(_ caption: DecodedCaption) -> String {
        caption.words(in: vocabulary).joined(separator: " ")
    }

    func caption(_ hypotheses: [DecodedCaption], gridCells: Int, timing: Caption.Timing) -> Caption {
        let alternatives = hypotheses.map { Caption.Alternative(text: sentence($0), score: $0.score, decoded: $0) }
        return Caption(text: alternatives[0].text, score: alternatives[0].score, alternatives: alternatives,
                       attention: attention(of: hypotheses[0], cells: gridCells), timing: timing)
    }

    /// Nil when the model has no attention (show-tell); `cells` is the encoder grid's L.
    func attention(of caption: DecodedCaption, cells: Int) -> Caption.Attention? {
        guard modelAttends, cells > 0 else { return nil }
        // The encoders' grids are square (7×7 at 224 px); anything else is shown as one row.
        let side = Int(Double(cells).squareRoot().rounded())
        let (rows, columns) = side * side == cells ? (side, side) : (1, cells)
        let words = zip(caption.words(in: vocabulary), caption.attention).enumerated().map { index, pair in
            Caption.Attention.Word(
                word: pair.0,
                grid: (0..<rows).map { r in Array(pair.1[(r * columns)..<((r + 1) * columns)]) },
                sentinel: index < caption.sentinel.count ? caption.sentinel[index] : nil)
        }
        return Caption.Attention(rows: rows, columns: columns, cropFraction: cropFraction, words: words)
    }
}
