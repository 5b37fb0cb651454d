import ArgumentParser
import Captioning
import Foundation
import TensorCore

/// The captioner that ships with the project (models/, trained on Flickr8k): what `predict`,
/// `attend` and `serve` use when no --model is given.
enum ShippedModel {
    static let relativePath = "models/captioner-flickr8k.safetensors"

    /// The shipped file, looked for as the bootstrap's weights are.
    static func locate() -> URL? { EncoderLoading.findUpwards(relativePath) }

    /// `--model` when given, else the shipped captioner.
    static func path(_ model: String?) throws -> String {
        if let model { return model }
        guard let shipped = locate() else {
            throw CommandFailure("no --model given, and the shipped captioner (\(relativePath)) is not beside this caption: pass --model a model file.")
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
/// from the model `caption train` wrote).
struct Pack: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Rewrite a model file, e.g. in float16 (half the size), keeping its metadata and provenance.")

    @Argument(help: "The model file (from caption train or caption import).") var model: String
    @Option(name: [.short, .customLong("out")], help: "The model file to write.") var out: String
    @Flag(help: "Store the weights as float16.") var float16 = false
    @Option(help: "Record this as the command that trained the model (for models whose trainer did not record it).") var command: String?
    @Option(help: "Record this as the commit of the code that trained it.") var commit: String?

    func run() throws {
        try OutputPath.checkFile(out, option: "--out")
        let loaded = try CaptionModel.load(URL(fileURLWithPath: model))
        if let command { loaded.metadata.provenance.command = command }
        if let commit { loaded.metadata.provenance.commit = commit }
        try loaded.save(to: URL(fileURLWithPath: out), floatFormat: float16 ? .f16 : .f32)
        let size = (try FileManager.default.attributesOfItem(atPath: out)[.size] as? NSNumber)?.intValue ?? 0
        print("wrote \(out): \(loaded.metadata.decoder.architecture.rawValue), \(loaded.decoder.parameterCount) parameters"
              + "\(float16 ? " in float16" : ""), \(String(format: "%.1f", Double(size) / 1_048_576)) MB")
    }
}
