import ArgumentParser
import Captioner
import Captioning
import Foundation
import TensorCore
import Vision

/// Where the CLI finds an encoder's weights: `--weights`, or the file `scripts/bootstrap` downloads.
enum EncoderLoading {
    /// `$CAPTIONER_CACHE`, else the first `.cache` holding `weights/` found walking up from the current
    /// directory or from the executable (so `.build/release/caption` finds the checkout's cache from anywhere).
    static var cacheDirectory: URL {
        if let cache = ProcessInfo.processInfo.environment["CAPTIONER_CACHE"], !cache.isEmpty {
            return URL(fileURLWithPath: cache, isDirectory: true)
        }
        return findUpwards(".cache/weights")?.deletingLastPathComponent() ?? URL(fileURLWithPath: ".cache", isDirectory: true)
    }

    /// `relativePath` in the current directory or the executable's, or in the nearest of their
    /// ancestors that has it (so `.build/release/caption` finds the checkout's files from anywhere).
    static func findUpwards(_ relativePath: String) -> URL? {
        var roots = [FileManager.default.currentDirectoryPath]
        if let executable = Bundle.main.executablePath { roots.append((executable as NSString).deletingLastPathComponent) }
        for root in roots {
            var directory = URL(fileURLWithPath: root, isDirectory: true).standardizedFileURL
            while true {
                let candidate = directory.appendingPathComponent(relativePath)
                if FileManager.default.fileExists(atPath: candidate.path) { return candidate }
                let parent = directory.deletingLastPathComponent()
                if parent.path == directory.path { break }
                directory = parent
            }
        }
        return nil
    }

    /// The bootstrap's download for `name` (EfficientNet-Lite0/1/2 are fetched automatically).
    static func defaultWeights(for name: String) -> URL? {
        guard EfficientNetLiteVariant.all.contains(where: { $0.name == name }) else { return nil }
        return cacheDirectory.appendingPathComponent("weights/\(name.replacingOccurrences(of: "-", with: "_")).pth")
    }

    static func load(name: String, weights: String?, flag: String = "--weights") throws -> ConvNetEncoder {
        try ConvNetEncoder.load(name: name, weights: weightsURL(name: name, weights: weights, flag: flag))
    }

    /// The weights file `load` reads: `weights`, or the bootstrap's download for `name`; `flag` is
    /// the option that gives them, as the messages name it.
    static func weightsURL(name: String, weights: String?, flag: String = "--weights") throws -> URL {
        guard ConvNetEncoder.names.contains(name) else {
            throw CommandFailure("unknown encoder \"\(name)\": choose one of \(ConvNetEncoder.names.joined(separator: ", ")).")
        }
        let url: URL
        if let weights {
            url = URL(fileURLWithPath: weights)
        } else if let fallback = defaultWeights(for: name) {
            guard FileManager.default.fileExists(atPath: fallback.path) else {
                throw CommandFailure("no weights for \(name) at \(fallback.path): run scripts/bootstrap, or pass \(flag) PATH.")
            }
            url = fallback
        } else {
            throw CommandFailure("\(name) needs its weights: pass \(flag) PATH to a .pth or .safetensors file of \(name).")
        }
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw CommandFailure("\(url.path) does not exist: pass \(flag) the path of a .pth or .safetensors file.")
        }
        return url
    }
}

/// A runtime failure of a command, as one plain sentence with the fix (no usage text, unlike
/// ArgumentParser's ValidationError, which is kept for malformed flags).
struct CommandFailure: Error, CustomStringConvertible, LocalizedError {
    let description: String
    var errorDescription: String? { description }
    init(_ description: String) { self.description = description }
}

extension ConvNetEncoder {
    /// Reads, preprocesses and encodes `urls` as one batch: the features of the images that could be
    /// read (nil when none could), which inputs they are, and why the others failed.
    func features(of urls: [URL], maxPixels: Int) throws -> (features: ImageFeatures?, decoded: [Int], failures: [(index: Int, reason: String)]) {
        let batch = ImageBatch.load(urls, preprocessing: preprocessing, maxPixels: maxPixels)
        guard !batch.decoded.isEmpty else { return (nil, [], batch.failures) }
        let crop = preprocessing.crop
        let encoded = try encode(batch.pixels, batch: batch.decoded.count, height: crop, width: crop)
        let features = ImageFeatures(pooled: Tensor(shape: [encoded.batch, encoded.channels], values: encoded.pooled),
                                     grid: Tensor(shape: [encoded.batch, encoded.cells, encoded.channels], values: encoded.grid))
        return (features, batch.decoded, batch.failures)
    }

    /// The encoder a caption model was trained on, checked to give the features it expects; without
    /// `weights`, the Captioner library's copy when it carries them (as `Captioner(model:)` does).
    static func loadFor(_ model: CaptionModel, modelPath: String, weights: String?) throws -> ConvNetEncoder {
        let name = model.metadata.encoder.name
        let encoder = try EncoderLoading.load(name: name, weights: weights ?? Captioner.bundledEncoderWeights(for: name)?.path,
                                             flag: "--encoder-weights")
        guard encoder.featureChannels == model.metadata.decoder.featureSize else {
            throw CommandFailure("\(encoder.name) gives \(encoder.featureChannels)-channel features but \(modelPath) expects \(model.metadata.decoder.featureSize): the model was trained on another encoder.")
        }
        return encoder
    }
}
