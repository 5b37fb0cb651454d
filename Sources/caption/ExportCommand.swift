import ArgumentParser
import AtomicFiles
import Captioning
import Foundation
import TensorCore

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a model's decoder as the PyTorch twin's state dict, with its vocabulary.",
        discussion: """
        DIR receives decoder.safetensors (keys and shapes of the PyTorch twin, python/captioner_twin; load it \
        with captioner_twin.load_exported(DIR)), vocab.txt (one token per line, the line number \
        being its id) and config.json (the twin's constructor arguments).
        """)

    @Option(help: "The model file.") var model: String
    @Option(name: [.short, .customLong("output")], help: "Output folder (created if missing).") var output: String

    func run() throws {
        try OutputPath.checkDirectory(output, option: "--output")
        let model = try CaptionModel.load(URL(fileURLWithPath: self.model))
        let dir = URL(fileURLWithPath: output)
        do {
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        } catch {
            throw ValidationError("cannot create \(output) (\(AtomicFileError.reason(error))): choose a writable folder.")
        }
        try SafeTensors(tensors: model.decoder.stateDict(), metadata: ["format": "pt"])
            .write(to: dir.appendingPathComponent("decoder.safetensors"))
        try AtomicFile.write(Data((model.metadata.vocabulary.joined(separator: "\n") + "\n").utf8), to: dir.appendingPathComponent("vocab.txt"))
        let c = model.metadata.decoder
        var config: [String: Any] = ["arch": c.architecture.rawValue, "vocab": c.vocabularySize, "feat": c.featureSize,
                                     "embed": c.embeddingSize, "hidden": c.hiddenSize, "dropout": c.dropout,
                                     "encoder": model.metadata.encoder.name]
        switch c.architecture {
        case .showTellGRU: config["cell"] = "gru"
        case .showTellLSTM: config["cell"] = "lstm"
        case .softAttentionGRU: config["att"] = c.attentionSize
        case .adaptiveAttentionGRU: break
        }
        try AtomicFile.write(try JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted, .sortedKeys]),
                             to: dir.appendingPathComponent("config.json"))
        print("wrote \(dir.path)/decoder.safetensors, vocab.txt, config.json")
    }
}
