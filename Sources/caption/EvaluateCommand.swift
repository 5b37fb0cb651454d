import ArgumentParser
import AtomicFiles
import CaptionData
import CaptionMetrics
import Captioning
import Foundation
import TensorCore
import Vision

struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Score predicted captions with BLEU-1..4, METEOR, ROUGE-L and CIDEr-D (pycocoevalcap-compatible).",
        discussion: """
            Captions are PTB-tokenised like pycocoevalcap before scoring. METEOR runs the official \
            meteor-1.5.jar (scripts/bootstrap fetches it) and needs Java. SPICE is not offered: it needs \
            Java 8 and downloads the Stanford CoreNLP models at run time.
            """)

    // What is scored: references, and predictions read from a file or made by a model.
    @Option(help: ArgumentHelp("Reference captions: any dataset layout, or JSON lines {\"image\": ..., \"captions\": [...]}.", valueName: "file"))
    var references: String?
    @Option(help: ArgumentHelp("The dataset to score on (same as --references).", valueName: "dataset")) var data: String?
    @Option(help: ArgumentHelp("Only references whose \"split\" field equals this.", valueName: "name")) var split: String?
    @Option(help: ArgumentHelp("Predictions: JSON lines {\"image\": ..., \"caption\": ...}.", valueName: "file.jsonl")) var predictions: String?
    @Option(help: ArgumentHelp("Decode the reference images with this model instead of reading --predictions.", valueName: "model"))
    var model: String?
    @Option(help: ArgumentHelp("The images' features (from caption features), for --model; without it the model's encoder runs on the --data images.", valueName: "file"))
    var features: String?
    @Option(name: .customLong("encoder-weights"), help: "With --model and no --features: weights of the model's encoder (default: the library's copy for efficientnet-lite2, else the bootstrap download).")
    var encoderWeights: String?
    @OptionGroup var decoding: DecodingOptions

    // How it is scored and shown.
    @Flag(help: "Print the scores as one JSON object instead of a table.") var json = false
    @Option(name: .customLong("per-image"), help: ArgumentHelp("Write per-image scores here as JSON lines.", valueName: "file")) var perImage: String?
    @Option(name: .customLong("bleu-flavour"), help: "coco (pycocoevalcap) or nltk (nltk corpus_bleu).") var bleuFlavour: BleuFlavour = .coco
    @Option(name: .customLong("nltk-smoothing"), parsing: .unconditional, help: ArgumentHelp("NLTK SmoothingFunction method 0-7 (0: none, NLTK's default); nltk flavour only.", valueName: "n"))
    var nltkSmoothing: Int = 0
    @Flag(name: .customLong("no-meteor"), help: "Skip METEOR (it starts a Java process).") var noMeteor = false
    @Option(parsing: .unconditional, help: "Worker threads.") var threads: Int = Threads.availableCores()
    @OptionGroup var precision: PrecisionOption
    @Flag(help: "Print the time spent loading and scoring to stderr.") var timing = false

    func validate() throws {
        guard NLTKSmoothing(rawValue: nltkSmoothing) != nil else {
            throw ValidationError("--nltk-smoothing must be between 0 and 7, not \(nltkSmoothing).")
        }
        if nltkSmoothing != 0 && bleuFlavour != .nltk {
            throw ValidationError("--nltk-smoothing only applies with --bleu-flavour nltk.")
        }
        try OptionCheck.threads(threads)
        guard (references == nil) != (data == nil) else {
            throw ValidationError("give the references with exactly one of --references or --data.")
        }
        guard (predictions == nil) != (model == nil) else {
            throw ValidationError("give either --predictions, or --model with --features to decode and score.")
        }
        if model != nil && features == nil && data == nil {
            throw ValidationError("--model needs --features (the image features, from caption features) or --data (to run the encoder on the dataset's images).")
        }
    }

    /// Greedy or beam captions of every reference image the feature file holds (or, without one, of
    /// every image of --data the encoder can read); the others are reported.
    func decodePredictions(for images: [String]) throws -> [String: String] {
        let model = try CaptionModel.load(URL(fileURLWithPath: self.model!))
        guard let features else { return try encodeAndDecode(images, model: model) }
        let store = try FeatureStore(URL(fileURLWithPath: features))
        try store.checkFits(model, modelPath: self.model!)
        let found = images.sorted().compactMap { image in store.row(of: image).map { (image, $0) } }
        if found.count < images.count {
            warn("note: \(images.count - found.count) reference images have no features in \(features) and get no prediction.")
        }
        var predictions: [String: String] = [:]
        let bar = ProgressBar("decoding", total: found.count, unit: "images")
        for start in stride(from: 0, to: found.count, by: 64) {
            let batch = Array(found[start..<min(found.count, start + 64)])
            let results = decoding.decode(model.decoder, store.features(rows: batch.map(\.1)))
            for ((image, _), hypotheses) in zip(batch, results) { predictions[image] = model.sentence(hypotheses[0]) }
            bar.update(predictions.count)
        }
        bar.finish()
        return predictions
    }

    /// The dataset's images through the model's encoder, then the decoder, a batch at a time.
    func encodeAndDecode(_ images: [String], model: CaptionModel) throws -> [String: String] {
        let encoder = try ConvNetEncoder.loadFor(model, modelPath: self.model!, weights: encoderWeights)
        let dataset = try CaptionDataset.load(data!, checkImages: false)
        let urls = Dictionary(dataset.items.map { ($0.image, dataset.imageURL(for: $0)) }, uniquingKeysWith: { first, _ in first })
        let names = images.sorted()
        var predictions: [String: String] = [:]
        var failures = 0
        let bar = ProgressBar("encoding and decoding", total: names.count, unit: "images")
        let started = Date()
        for start in stride(from: 0, to: names.count, by: 32) {
            let batch = Array(names[start..<min(names.count, start + 32)])
            let encoded = try encoder.features(of: batch.map { urls[$0] ?? dataset.imagesDirectory.appendingPathComponent($0) }, maxPixels: ImageDecoder.defaultMaxPixels)
            for failure in encoded.failures { warn("skipped: \(failure.reason)") }
            failures += encoded.failures.count
            if let features = encoded.features {
                for (index, hypotheses) in zip(encoded.decoded, decoding.decode(model.decoder, features)) {
                    predictions[batch[index]] = model.sentence(hypotheses[0])
                }
            }
            let done = start + batch.count
            bar.update(done, rate: Double(done) / max(Date().timeIntervalSince(started), 1e-9))
        }
        bar.finish()
        if failures > 0 { warn("note: \(failures) of \(names.count) images could not be read and get no prediction.") }
        return predictions
    }

    func run() throws {
        try precision.apply()
        if let perImage { try OutputPath.checkFile(perImage, option: "--per-image") }
        let start = Date()
        let references = self.references ?? data!
        let referenceCaptions = try loadReferences(path: references, split: split)
        let predictedCaptions = try predictions.map { try loadPredictions(path: $0) } ?? decodePredictions(for: Array(referenceCaptions.keys))
        let predictions = self.predictions ?? self.model!
        let loaded = Date()
        let options = ScoringOptions(bleuFlavour: bleuFlavour, nltkSmoothing: NLTKSmoothing(rawValue: nltkSmoothing)!,
                                     meteor: !noMeteor, threads: threads)
        let report = try CaptionScorer(options: options).evaluate(references: referenceCaptions, predictions: predictedCaptions)
        let scored = Date()
        if report.imagesScored == 0 {
            throw InputFileError(predictions, "names no image that has references in \(references)")
        }
        if let perImage { try writePerImage(report, to: perImage) }

        if json {
            print(report.jsonString())
        } else {
            print(table(report))
        }
        if let reason = report.meteorUnavailable { warn("note: \(reason)") }
        if !report.predictionsWithoutReferences.isEmpty {
            warn("note: \(report.predictionsWithoutReferences.count) predictions have no references and were not scored (e.g. \(report.predictionsWithoutReferences[0])).")
        }
        if !report.imagesWithoutPredictions.isEmpty {
            warn("note: \(report.imagesWithoutPredictions.count) images with references have no prediction and were not scored (e.g. \(report.imagesWithoutPredictions[0])).")
        }
        if timing {
            warn(String(format: "timing: load %.3f s, score %.3f s (%d images)", loaded.timeIntervalSince(start),
                        scored.timeIntervalSince(loaded), report.imagesScored))
        }
    }

    func table(_ report: MetricReport) -> String {
        var lines = ["Metric     Score"]
        for (name, value) in report.namedScores {
            let shown = value.map { String(format: "%.4f", $0) } ?? "n/a"
            lines.append(name.padding(toLength: 10, withPad: " ", startingAt: 0) + " " + shown)
        }
        lines.append("")
        lines.append("images scored                   \(report.imagesScored)")
        lines.append("predictions without references  \(report.predictionsWithoutReferences.count)")
        lines.append("images without predictions      \(report.imagesWithoutPredictions.count)")
        lines.append("distinct predictions            \(report.distinctPredictions)"
                     + (report.imagesScored > 0 ? String(format: " (%.1f%%)", 100 * Double(report.distinctPredictions) / Double(report.imagesScored)) : ""))
        lines.append("BLEU flavour                    \(report.bleuFlavour.rawValue)"
                     + (report.bleuFlavour == .nltk ? " (smoothing method\(nltkSmoothing))" : ""))
        return lines.joined(separator: "\n")
    }

    /// JSON lines, one per scored image, written to a temporary file beside `path` and renamed over it,
    /// so an existing file is never left half-written.
    func writePerImage(_ report: MetricReport, to path: String) throws {
        var data = Data()
        for image in report.perImage {
            data.append(contentsOf: image.jsonLine().utf8)
            data.append(0x0A)
        }
        let destination = URL(fileURLWithPath: path)
        var isDirectory: ObjCBool = false
        let folder = destination.deletingLastPathComponent().path
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw InputFileError(path, "cannot be written because the folder \(folder) does not exist")
        }
        let temporary = destination.deletingLastPathComponent()
            .appendingPathComponent(".\(destination.lastPathComponent).\(ProcessInfo.processInfo.processIdentifier).tmp")
        do {
            try data.write(to: temporary)
            if rename(temporary.path, destination.path) != 0 {
                let reason = String(cString: strerror(errno))
                try? FileManager.default.removeItem(at: temporary)
                throw InputFileError(path, "cannot be written (\(reason))")
            }
        } catch let error as InputFileError {
            throw error
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw InputFileError(path, "cannot be written (\(AtomicFileError.reason(error)))")
        }
    }

    func warn(_ message: String) {
        FileHandle.standardError.write(Data((message + "\n").utf8))
    }
}

extension BleuFlavour: ExpressibleByArgument {}
