import ArgumentParser
import Captioning
import Foundation
import TensorCore
import Vision

/// Options shared by every command that decodes captions.
struct DecodingOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: "Beam width; 1 decodes greedily (a beam of one while trigrams are blocked).") var beam = 3
    @Option(name: .customLong("max-words"), parsing: .unconditional, help: "Longest caption, in words.") var maxWords = 30
    @Option(name: .customLong("length-penalty"), parsing: .unconditional, help: "α in score = log p / length^α (0 ranks by log-probability).")
    var lengthPenalty: Float = 0
    @Flag(name: .customLong("block-trigrams"), inversion: .prefixedNo, help: "Never repeat a trigram within a caption (off: as the PyTorch twin searches).")
    var blockTrigrams = true

    func validate() throws {
        try OptionCheck.integer(beam, "--beam", 1...OptionCheck.maximumBeam)
        try OptionCheck.integer(maxWords, "--max-words", 1...1_000)
        try OptionCheck.number(lengthPenalty, "--length-penalty", atLeast: 0, atMost: 10)
    }

    var search: SearchOptions {
        SearchOptions(beamSize: beam, maxWords: maxWords, lengthPenalty: lengthPenalty, blockRepeatedTrigrams: blockTrigrams)
    }

    /// Up to `beam` captions per image, best first (greedy gives one).
    func decode(_ decoder: CaptionDecoder, _ features: ImageFeatures) -> [[DecodedCaption]] {
        decodeCaptions(decoder, features, options: search)
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
        abstract: "Caption images: image files, folders of images, a list on standard input (-), or a feature file.",
        discussion: """
        End to end: each image is decoded, run through the model's encoder (its weights from --encoder-weights, or \
        the file scripts/bootstrap downloads for EfficientNet-Lite0) and captioned. With --features, the \
        captions come from precomputed features (caption features) instead. Prints one line per image, \
        `image<TAB>caption`, or with --json one JSON object per line:
        {"image": …, "caption": …, "score": …, "alternatives": [{"caption": …, "score": …}, …]}. \
        Unreadable images are reported one line each on standard error, and the exit status is then 1.
        """)

    @OptionGroup var runtime: RuntimeOptions
    @OptionGroup var decoding: DecodingOptions
    @Option(help: "The model file (from caption train or caption import; default: the shipped Flickr8k captioner).") var model: String?
    @Argument(help: "Image files, folders of images, or - to read paths from standard input.") var inputs: [String] = []
    @Option(help: "Precomputed features (safetensors from caption features) instead of images.") var features: String?
    @Option(name: .customLong("image"), help: "With --features: only these images of the feature file (repeatable).") var images: [String] = []
    @Option(name: .customLong("encoder-weights"), help: "Weights of the model's encoder (default: the bootstrap download for efficientnet-lite0).")
    var encoderWeights: String?
    @Option(name: .customLong("max-pixels"), parsing: .unconditional, help: "Refuse images larger than this many pixels.") var maxPixels = ImageDecoder.defaultMaxPixels
    @Flag(help: "JSON lines instead of text.") var json = false
    @Option(name: .customLong("batch-size"), parsing: .unconditional, help: "Images decoded together.") var batchSize = 16

    func validate() throws {
        guard (features == nil) != inputs.isEmpty else {
            throw ValidationError("give images (files, folders or -) or --features, one of the two.")
        }
        try OptionCheck.integer(batchSize, "--batch-size", 1...4_096)
        try OptionCheck.integer(maxPixels, "--max-pixels", 1...OptionCheck.maximumPixels)
    }

    func run() throws {
        try runtime.apply()
        let modelPath = try ShippedModel.path(self.model)
        let model = try CaptionModel.load(URL(fileURLWithPath: modelPath))
        let printer = PredictionPrinter(model: model, json: json)
        if let features {
            try predictFromFeatures(model, modelPath: modelPath, features: features, printer: printer)
            return
        }
        let files = try imageFiles(inputs)
        let encoder = try ConvNetEncoder.loadFor(model, modelPath: modelPath, weights: encoderWeights)
        var failures = 0
        for start in stride(from: 0, to: files.count, by: batchSize) {
            let urls = Array(files[start..<min(files.count, start + batchSize)])
            let batch = try encoder.features(of: urls, maxPixels: maxPixels)
            for failure in batch.failures { warn(failure.reason) }
            failures += batch.failures.count
            guard let features = batch.features else { continue }
            for (index, hypotheses) in zip(batch.decoded, decoding.decode(model.decoder, features)) {
                try printer.print(urls[index].lastPathComponent, hypotheses)
            }
        }
        if failures > 0 { throw CommandFailure("\(failures) of \(files.count) images could not be captioned (reasons above).") }
    }

    func predictFromFeatures(_ model: CaptionModel, modelPath: String, features: String, printer: PredictionPrinter) throws {
        let store = try FeatureStore(URL(fileURLWithPath: features))
        try store.checkFits(model, modelPath: modelPath)
        var rows: [Int] = []
        for name in images {
            guard let row = store.row(of: name) else { throw CommandFailure("\(features) has no features for image \(name).") }
            rows.append(row)
        }
        if images.isEmpty { rows = Array(0..<store.count) }
        for start in stride(from: 0, to: rows.count, by: batchSize) {
            let batch = Array(rows[start..<min(rows.count, start + batchSize)])
            for (row, hypotheses) in zip(batch, decoding.decode(model.decoder, store.features(rows: batch))) {
                try printer.print(store.images[row], hypotheses)
            }
        }
    }

    /// Files named directly, every image in named folders (sorted), and paths read from stdin for "-".
    func imageFiles(_ inputs: [String]) throws -> [URL] {
        let extensions: Set<String> = ["jpg", "jpeg", "png"]
        var files: [URL] = []
        for input in inputs {
            if input == "-" {
                while let line = readLine() {
                    let path = line.trimmingCharacters(in: .whitespaces)
                    if !path.isEmpty { files.append(URL(fileURLWithPath: path)) }
                }
                continue
            }
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: input, isDirectory: &isDirectory) else {
                throw CommandFailure("\(input) does not exist: give image files, folders of images, or - for a list on standard input.")
            }
            if isDirectory.boolValue {
                let names = try FileManager.default.contentsOfDirectory(atPath: input).sorted()
                files += names.filter { extensions.contains(($0 as NSString).pathExtension.lowercased()) }
                    .map { URL(fileURLWithPath: input).appendingPathComponent($0) }
            } else {
                files.append(URL(fileURLWithPath: input))
            }
        }
        guard !files.isEmpty else { throw CommandFailure("no images found in \(inputs.joined(separator: ", ")): give .jpg or .png files or folders holding them.") }
        return files
    }
}

/// Prints a prediction as text or one JSON line.
struct PredictionPrinter {
    let model: CaptionModel
    let json: Bool
    func print(_ image: String, _ hypotheses: [DecodedCaption]) throws {
        let best = hypotheses[0]
        if json {
            // Written by hand so the fields keep the documented order: image, caption, score, alternatives.
            func quoted(_ text: String) throws -> String { String(decoding: try JSONEncoder().encode(text), as: UTF8.self) }
            func number(_ score: Float) -> String { score.isFinite ? "\(score)" : "null" }   // JSON has no NaN or infinity
            let alternatives = try hypotheses.map { "{\"caption\":\(try quoted(model.sentence($0))),\"score\":\(number($0.score))}" }
            Swift.print("{\"image\":\(try quoted(image)),\"caption\":\(try quoted(model.sentence(best))),\"score\":\(number(best.score)),"
                        + "\"alternatives\":[\(alternatives.joined(separator: ","))]}")
        } else {
            Swift.print("\(image)\t\(model.sentence(best))")
        }
    }
}
