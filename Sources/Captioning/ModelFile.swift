import Foundation
import Layers
import TensorCore

/// How images become features for this model: which encoder, and its preprocessing.
public struct EncoderInfo: Codable, Equatable, Sendable {
    public var name: String
    public var imageSize: Int
    public var resizeShorter: Int
    public var mean: [Float]
    public var std: [Float]

    /// `resizeShorter` nil takes torchvision's evaluation recipe at `imageSize`: the shorter side
    /// scaled to imageSize·256/224 (256 for 224, 297 for EfficientNet-Lite2's 260), then the crop.
    public init(name: String = "efficientnet-lite0", imageSize: Int = 224, resizeShorter: Int? = nil,
                mean: [Float] = [0.485, 0.456, 0.406], std: [Float] = [0.229, 0.224, 0.225]) {
        self.name = name
        self.imageSize = imageSize
        self.resizeShorter = resizeShorter ?? Self.evaluationResize(imageSize)
        self.mean = mean
        self.std = std
    }

    static func evaluationResize(_ imageSize: Int) -> Int { Int((Double(imageSize) * 256 / 224).rounded()) }
}

/// Where a model came from.
public struct Provenance: Codable, Equatable, Sendable {
    public var dataset: String?
    public var epochs: Int?
    public var seed: UInt64?
    public var bestValidation: [String: Double]?
    public var source: String?          // "caption train", "caption import <file>"
    public var created: String?
    /// Every training choice of the run that made the model (nil for imported models).
    public var settings: TrainingSettings?
    /// The commit of the checkout whose binary trained it, when known.
    public var commit: String?
    /// The command line that trained it.
    public var command: String?
    /// For a run that continued a trained model (`caption train --from`): how that model was made.
    public var continued: String?

    public init(dataset: String? = nil, epochs: Int? = nil, seed: UInt64? = nil, bestValidation: [String: Double]? = nil,
                source: String? = nil, created: String? = nil, settings: TrainingSettings? = nil, commit: String? = nil) {
        self.settings = settings
        self.commit = commit
        self.command = nil
        self.continued = nil
        self.dataset = dataset
        self.epochs = epochs
        self.seed = seed
        self.bestValidation = bestValidation
        self.source = source
        self.created = created ?? ISO8601DateFormatter().string(from: Date())
    }
}

/// Everything in a model file besides the weights; stored as JSON under the metadata key "captioner".
public struct ModelMetadata: Codable, Equatable, Sendable {
    public static let formatVersion = "captioner-model/1"
    public var format = ModelMetadata.formatVersion
    public var decoder: DecoderConfig
    public var vocabulary: [String]
    public var encoder: EncoderInfo
    public var provenance: Provenance

    public init(decoder: DecoderConfig, vocabulary: [String], encoder: EncoderInfo, provenance: Provenance) {
        self.decoder = decoder
        self.vocabulary = vocabulary
        self.encoder = encoder
        self.provenance = provenance
    }
}

public struct ModelFileError: Error, CustomStringConvertible {
    public let description: String
}

/// A trained captioner: decoder weights under the twin's state-dict keys plus self-describing metadata,
/// in one safetensors file.
public final class CaptionModel {
    public let decoder: CaptionDecoder
    public var metadata: ModelMetadata

    public init(decoder: CaptionDecoder, metadata: ModelMetadata) {
        precondition(decoder.config == metadata.decoder, "the metadata describes another decoder")
        self.decoder = decoder
        self.metadata = metadata
    }

    /// Loads and verifies a model file: its metadata, then every weight key and shape against the
    /// architecture it names.
    public static func load(_ url: URL) throws -> CaptionModel {
        let file: SafeTensors
        do {
            file = try SafeTensors.read(url)
        } catch {
            try refusePyTorchCheckpoint(url)
            throw error
        }
        let metadata = try metadata(of: file, at: url)
        let source = ParameterSource.load(file.tensors, origin: url.path)
        let decoder = try makeDecoder(metadata.decoder, source: source)
        try source.finish()
        return CaptionModel(decoder: decoder, metadata: metadata)
    }

    /// A file that is not safetensors but a `.pth` (zip or legacy pickle) is a PyTorch state dict,
    /// which `caption import` turns into a model.
    static func refusePyTorchCheckpoint(_ url: URL) throws {
        guard let handle = try? FileHandle(forReadingFrom: url) else { return }
        defer { try? handle.close() }
        let head = [UInt8]((try? handle.read(upToCount: 4)) ?? Data())
        let zip = head.starts(with: [0x50, 0x4B, 0x03, 0x04]), pickle = head.first == 0x80 && (2...5).contains(head.dropFirst().first ?? 0)
        if zip || pickle {
            throw ModelFileError(description: "\(url.path) is a PyTorch checkpoint, not a Captioner model: turn a twin's state dict into one with `caption import --arch ARCH --weights \(url.lastPathComponent) --vocab vocab.txt -o model.safetensors`.")
        }
    }

    /// The verified metadata of a model file or training checkpoint (which holds the model's
    /// tensors and metadata besides its own), without building the decoder.
    public static func metadata(of file: SafeTensors, at url: URL) throws -> ModelMetadata {
        guard let json = file.metadata["captioner"] else {
            throw ModelFileError(description: "\(url.path) is not a Captioner model (it has no \"captioner\" metadata): create one with `caption train` or `caption import`.")
        }
        var metadata: ModelMetadata
        do {
            metadata = try JSONDecoder().decode(ModelMetadata.self, from: Data(json.utf8))
        } catch {
            throw ModelFileError(description: "\(url.path) has unreadable Captioner metadata (\(error)): re-export the model with this version of caption.")
        }
        guard metadata.format == ModelMetadata.formatVersion else {
            throw ModelFileError(description: "\(url.path) is in model format \(metadata.format), which this caption does not read: use the version that wrote it.")
        }
        guard metadata.vocabulary.count == metadata.decoder.vocabularySize else {
            throw ModelFileError(description: "\(url.path) lists \(metadata.vocabulary.count) vocabulary words for a decoder of \(metadata.decoder.vocabularySize): the file was edited or damaged; re-export it.")
        }
        // Models trained before the resize followed the image size recorded 256 for every size; the
        // features they were trained on were made with the encoder's own recipe, which this restores.
        if metadata.encoder.resizeShorter == 256 && metadata.encoder.imageSize != 224 {
            metadata.encoder.resizeShorter = EncoderInfo.evaluationResize(metadata.encoder.imageSize)
        }
        return metadata
    }

    /// A model from the twin's state dict (a decoder trained in PyTorch): sizes read off the weight
    /// shapes, then every key and shape checked against `architecture`.
    public static func fromTwin(_ architecture: Architecture, stateDict: [String: Tensor], origin: String,
                                vocabulary: [String], encoder: EncoderInfo, dropout: Float = 0.5) throws -> CaptionModel {
        var config = try DecoderConfig.infer(architecture, from: stateDict, origin: origin)
        config.dropout = dropout
        guard vocabulary.count == config.vocabularySize else {
            throw ModelFileError(description: "the vocabulary has \(vocabulary.count) tokens but \(origin) was trained with \(config.vocabularySize): pass the vocabulary it was trained with.")
        }
        let source = ParameterSource.load(stateDict, origin: origin)
        let decoder = try makeDecoder(config, source: source)
        try source.finish()
        return CaptionModel(decoder: decoder, metadata: ModelMetadata(
            decoder: config, vocabulary: vocabulary, encoder: encoder,
            provenance: Provenance(source: "caption import \(URL(fileURLWithPath: origin).lastPathComponent)")))
    }

    public func safeTensors() -> SafeTensors {
        let json = try! JSONEncoder().encode(metadata)
        return SafeTensors(tensors: decoder.stateDict(), metadata: ["captioner": String(decoding: json, as: UTF8.self),
                                                                   "format": "pt"])
    }

    /// Writes atomically (temporary file, then rename); `.f16` halves the file (the shipped captioner).
    public func save(to url: URL, floatFormat: SafeTensors.FloatFormat = .f32) throws {
        try safeTensors().write(to: url, floatFormat: floatFormat)
    }
}
