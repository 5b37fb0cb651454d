import ArgumentParser
import CaptionData
import Captioning
import Foundation
import TensorCore
import Vision

struct Import: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Turn a decoder trained in PyTorch with the twin (python/captioner_twin in this repository) into a model file.",
        discussion: """
        --weights is the twin's state dict: a .pth (zip or legacy format, read without running any pickled code; \
        {"state_dict": …} and {"model": …} wrappers are unwrapped) or a .safetensors file. Sizes are read off \
        the weight shapes; every key and shape is checked against --arch. --vocab is vocab.txt, one token per \
        line, the line number being its id, starting <pad>, <start>, <end>, <unk>.
        """)

    @Option(help: "Decoder: \(Architecture.allCases.map(\.rawValue).joined(separator: ", ")).") var arch: String
    @Option(help: "The twin's state dict (.pth or .safetensors).") var weights: String
    @Option(help: "vocab.txt") var vocab: String
    @Option(help: "The encoder whose features the decoder was trained on.") var encoder = "efficientnet-lite0"
    @Option(parsing: .unconditional, help: "Dropout the decoder was trained with (kept for further training).") var dropout: Float = 0.5
    @Option(name: [.short, .customLong("output")], help: "The model file to write.") var output: String

    func validate() throws {
        try OptionCheck.number(dropout, "--dropout", atLeast: 0, below: 1)
    }

    func run() throws {
        guard let architecture = Architecture(rawValue: arch) else {
            throw ValidationError("unknown --arch \(arch); choose one of \(Architecture.allCases.map(\.rawValue).joined(separator: ", ")).")
        }
        try OutputPath.checkFile(output, option: "--output")
        let url = URL(fileURLWithPath: weights)
        var tensors: [String: Tensor] = [:]
        for (key, raw) in try CheckpointReader.read(url) {
            tensors[key] = Tensor(shape: raw.shape, values: try raw.floats())
        }
        let vocabulary = try Vocabulary.read(from: URL(fileURLWithPath: vocab))
        let model = try CaptionModel.fromTwin(architecture, stateDict: tensors, origin: weights, vocabulary: vocabulary.tokens,
                                              encoder: EncoderInfo(name: encoder, imageSize: EfficientNetLiteVariant.all.first { $0.name == encoder }?.resolution ?? 224),
                                              dropout: dropout)
        let config = model.metadata.decoder
        try model.save(to: URL(fileURLWithPath: output))
        print("wrote \(output): \(architecture.rawValue), vocabulary \(config.vocabularySize), features \(config.featureSize), hidden \(config.hiddenSize)")
    }
}
