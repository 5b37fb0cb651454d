import ArgumentParser
import Foundation
import Vision

/// `caption classify`: the top-5 ImageNet classes of each image, the quick check that an encoder,
/// its weights and its preprocessing are right.
struct Classify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the top-5 ImageNet classes of images (a sanity check for an encoder and its weights).")

    @OptionGroup var runtime: RuntimeOptions
    @Option(help: "Encoder: \(ConvNetEncoder.names.joined(separator: ", ")).") var encoder = ConvNetEncoder.defaultName
    @Option(help: "Weights (.pth or .safetensors); default: the file scripts/bootstrap downloads.") var weights: String?
    @Flag(help: "One JSON line per image: {\"image\", \"top5\": [{\"index\", \"label\", \"prob\"}]}.") var json = false
    @Option(parsing: .unconditional, help: "Refuse images with more pixels than this (decompression-bomb guard).") var maxPixels = ImageDecoder.defaultMaxPixels
    @Argument(help: "JPEG or PNG files.") var images: [String]

    struct Prediction: Encodable {
        struct Entry: Encodable { let index: Int; let label: String; let prob: Float }
        let image: String
        let top5: [Entry]
    }

    func validate() throws {
        if images.isEmpty { throw ValidationError("give at least one image file to classify.") }
        try OptionCheck.integer(maxPixels, "--max-pixels", 1...OptionCheck.maximumPixels)
    }

    func run() throws {
        try runtime.apply()
        let model = try EncoderLoading.load(name: encoder, weights: weights)
        let crop = model.preprocessing.crop
        var failures = 0
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        for path in images {
            let image: RGBImage
            do {
                image = try ImageDecoder.decode(contentsOf: URL(fileURLWithPath: path), maxPixels: maxPixels)
            } catch {
                FileHandle.standardError.write(Data("caption: \(error)\n".utf8))
                failures += 1
                continue
            }
            let features = try model.encode(model.pixels(of: [image]), batch: 1, height: crop, width: crop)
            let probabilities = try model.probabilities(pooled: features.pooled, batch: 1)[0]
            let top = probabilities.indices.sorted { probabilities[$0] > probabilities[$1] }.prefix(5)
            let entries = top.map { i in
                Prediction.Entry(index: i, label: i < imageNetClassNames.count ? imageNetClassNames[i] : "class \(i)", prob: probabilities[i])
            }
            if json {
                print(String(decoding: try encoder.encode(Prediction(image: path, top5: entries)), as: UTF8.self))
            } else {
                print(path)
                for e in entries { print(String(format: "  %6.2f%%  %4d  ", e.prob * 100, e.index) + e.label) }
            }
        }
        if failures > 0 { throw ExitCode(1) }
    }
}
