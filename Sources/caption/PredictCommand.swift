import ArgumentParser
import Captioner
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

    /// The same search for the Captioner library, batching up to `maxBatch` images.
    func captionerOptions(maxPixels: Int, maxBatch: Int) -> Captioner.Options {
        Captioner.Options(beam: beam, maxWords: maxWords, lengthPenalty: lengthPenalty, blockRepeatedTrigrams: blockTrigrams,
                          maxPixels: maxPixels, maxBatch: maxBatch)
    }
}

extension Captioner {
    /// The model at `--model` (default: the shipped one) with its encoder, loaded as the CLI reports
    /// problems (`--encoder-weights`, the bootstrap's download, or the library's bundled copy).
    static func load(model: String?, encoderWeights: String?, options: Captioner.Options) throws -> (Captioner, path: String) {
        let path = try ShippedModel.path(model)
        let loaded = try CaptionModel.load(URL(fileURLWithPath: path))
        let encoder = try ConvNetEncoder.loadFor(loaded, modelPath: path, weights: encoderWeights)
        return (try Captioner(model: loaded, encoder: encoder, options: options), path)
    }
}

struct Predict: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Caption images: image files, folders of images, a list on standard input (-), or a feature file.",
        discussion: """
        End to end: each image is decoded, run through the model's encoder and captioned, as the Captioner library \
        does (the encoder's weights from --encoder-weights, else the library's own copy for EfficientNet-Lite2, the \
        shipped captioner's encoder, else the file scripts/bootstrap downloads). With --features, the \
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
    @Option(name: .customLong("encoder-weights"), help: "Weights of the model's encoder (default: the library's copy for efficientnet-lite2, else the bootstrap download).")
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

    func run() async throws {
        try runtime.apply()
        let printer = PredictionPrinter(json: json)
        if let features {
            let modelPath = try ShippedModel.path(self.model)
            try predictFromFeatures(try CaptionModel.load(URL(fileURLWithPath: modelPath)), modelPath: modelPath, features: features, printer: printer)
            return
        }
        let files = try imageFiles(inputs)
        let (captioner, _) = try Captioner.load(model: model, encoderWeights: encoderWeights,
                                                options: decoding.captionerOptions(maxPixels: maxPixels, maxBatch: batchSize))
        var failures = 0
        // Each --batch-size of images is decoded concurrently, run through the model as one batch,
        // and printed in input order.
        for start in stride(from: 0, to: files.count, by: batchSize) {
            let urls = Array(files[start..<min(files.count, start + batchSize)])
            for (url, result) in zip(urls, await captioner.captions(imagesAt: urls)) {
                switch result {
                case .success(let caption): try printer.print(url.lastPathComponent, caption.alternatives.map { ($0.text, $0.score) })
                case .failure(let error): warn(String(describing: error)); failures += 1
                }
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
                try printer.print(store.images[row], hypotheses.map { (model.sentence($0), $0.score) })
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
    let json: Bool
    /// `hypotheses`: every caption of the beam with its score, best first.
    func print(_ image: String, _ hypotheses: [(text: String, score: Float)]) throws {
        let best = hypotheses[0]
        if json {
            // Written by hand so the fields keep the documented order: image, caption, score, alternatives.
            func quoted(_ text: String) throws -> String { String(decoding: try JSONEncoder().encode(text), as: UTF8.self) }
            func number(_ score: Float) -> String { score.isFinite ? "\(score)" : "null" }   // JSON has no NaN or infinity
            let alternatives = try hypotheses.map { "{\"caption\":\(try quoted($0.text)),\"score\":\(number($0.score))}" }
            Swift.print("{\"image\":\(try quoted(image)),\"caption\":\(try quoted(best.text)),\"score\":\(number(best.score)),"
                        + "\"alternatives\":[\(alternatives.joined(separator: ","))]}")
        } else {
            Swift.print("\(image)\t\(best.text)")
        }
    }
}
