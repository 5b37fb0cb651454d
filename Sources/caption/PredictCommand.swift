import ArgumentParser
import Captioning
import Foundation
import TensorCore

/// Options shared by every command that decodes captions.
struct DecodingOptions: ParsableArguments {
    @Option(help: "Beam width; 1 decodes greedily.") var beam = 3
    @Option(name: .customLong("max-words"), help: "Longest caption, in words.") var maxWords = 30
    @Option(name: .customLong("length-penalty"), help: "α in score = log p / length^α (0 ranks by log-probability).")
    var lengthPenalty: Float = 0
    @Flag(name: .customLong("block-trigrams"), help: "Never repeat a trigram within a caption.") var blockTrigrams = false

    func validate() throws {
        guard beam >= 1 else { throw ValidationError("--beam must be at least 1, not \(beam).") }
        guard maxWords >= 1 else { throw ValidationError("--max-words must be at least 1, not \(maxWords).") }
    }

    var search: SearchOptions {
        SearchOptions(beamSize: beam, maxWords: maxWords, lengthPenalty: lengthPenalty, blockRepeatedTrigrams: blockTrigrams)
    }

    /// Up to `beam` captions per image, best first (greedy gives one).
    func decode(_ decoder: CaptionDecoder, _ features: ImageFeatures) -> [[DecodedCaption]] {
        beam == 1 ? greedyDecode(decoder, features, maxWords: maxWords).map { [$0] }
                  : beamSearch(decoder, features, options: search)
    }
}

extension CaptionModel {
    /// The words of a decoded caption, joined by spaces.
    func sentence(_ caption: DecodedCaption) -> String {
        caption.tokens.map { Int($0) < metadata.vocabulary.count ? metadata.vocabulary[Int($0)] : "<unk>" }.joined(separator: " ")
    }
}

struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Caption images from a feature file written by `caption features`.",
        discussion: """
        Prints one line per image, `image<TAB>caption`, or with --json one JSON object per line:
        {"image": …, "caption": …, "score": …, "alternatives": [{"caption": …, "score": …}, …]}.
        """)

    @OptionGroup var runtime: RuntimeOptions
    @OptionGroup var decoding: DecodingOptions
    @Option(help: "The model file (from caption train or caption import).") var model: String
    @Option(help: "Precomputed features (safetensors from caption features).") var features: String
    @Option(name: .customLong("image"), help: "Only these images of the feature file (repeatable).") var images: [String] = []
    @Flag(help: "JSON lines instead of text.") var json = false
    @Option(name: .customLong("batch-size"), help: "Images decoded together.") var batchSize = 32

    func run() throws {
        try runtime.apply()
        let model = try CaptionModel.load(URL(fileURLWithPath: self.model))
        let store = try FeatureStore(URL(fileURLWithPath: features))
        guard store.featureSize == model.metadata.decoder.featureSize else {
            throw ValidationError("\(features) holds \(store.featureSize)-channel features but \(self.model) expects \(model.metadata.decoder.featureSize): extract them with the model's encoder (\(model.metadata.encoder.name)).")
        }
        if model.metadata.decoder.architecture.usesGrid && !store.hasGrid {
            throw ValidationError("\(features) has no grid features, which \(model.metadata.decoder.architecture.rawValue) needs: re-run caption features.")
        }
        var rows: [Int] = []
        for name in images {
            guard let row = store.row(of: name) else { throw ValidationError("\(features) has no features for image \(name).") }
            rows.append(row)
        }
        if images.isEmpty { rows = Array(0..<store.count) }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]      // fields in declaration order: image, caption, score, alternatives
        for start in stride(from: 0, to: rows.count, by: max(batchSize, 1)) {
            let batch = Array(rows[start..<min(rows.count, start + max(batchSize, 1))])
            let results = decoding.decode(model.decoder, store.features(rows: batch))
            for (row, hypotheses) in zip(batch, results) {
                let best = hypotheses[0]
                if json {
                    let line = PredictionLine(image: store.images[row], caption: model.sentence(best), score: best.score,
                                              alternatives: hypotheses.map { .init(caption: model.sentence($0), score: $0.score) })
                    print(String(decoding: try encoder.encode(line), as: UTF8.self))
                } else {
                    print("\(store.images[row])\t\(model.sentence(best))")
                }
            }
        }
    }
}

struct PredictionLine: Encodable {
    struct Alternative: Encodable { var caption: String; var score: Float }
    var image: String
    var caption: String
    var score: Float
    var alternatives: [Alternative]
}
