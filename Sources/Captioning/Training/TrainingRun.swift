import CaptionData
import Foundation

/// Every choice `caption train` exposes, with its defaults. `caption train` and `caption compare` both
/// build their runs from this, so a configuration trained by `compare` is the run `train` would make.
public struct TrainingSettings: Codable, Equatable, Sendable {
    public var architecture: Architecture = .softAttentionGRU
    public var epochs = 20
    public var batchSize = 64
    public var learningRate: Float = 4e-4
    public var seed: UInt64 = 1
    public var minCount = 5
    public var maxWords = 30
    public var embeddingSize = 256
    public var hiddenSize = 512
    public var attentionSize = 256
    public var dropout: Float = 0.5
    public var gradientClip: Float = 5
    public var attentionPenalty: Float?
    public var scheduledSampling: Float = 0
    public var earlyStoppingPatience = 4
    public var timeBudget: Double?
    /// Self-critical training (`--reward cider-d`), which continues a trained model (`--from`).
    public var selfCritical: SelfCriticalOptions?

    public init() {}

    public var trainingOptions: TrainingOptions {
        var options = TrainingOptions()
        options.epochs = epochs
        options.batchSize = batchSize
        options.learningRate = learningRate
        options.gradientClip = gradientClip
        options.seed = seed
        options.attentionPenalty = attentionPenalty
        options.scheduledSampling = scheduledSampling
        options.earlyStoppingPatience = earlyStoppingPatience
        options.timeBudget = timeBudget
        options.selfCritical = selfCritical
        // Self-critical training optimises CIDEr-D, so the same score picks its best model.
        if selfCritical != nil { options.monitor = "CIDEr-D" }
        return options
    }
}

/// A dataset, its features and the settings joined into a ready trainer: vocabulary, a decoder
/// (freshly initialised, or a trained model's to continue) with its metadata, and validation by
/// greedy decoding when there is a val split.
public struct TrainingRun {
    public let data: TrainingData
    public let model: CaptionModel
    public let trainer: Trainer
    public let settings: TrainingSettings

    /// `vocabulary` keeps the one a resumed run started with; nil builds it from the training captions.
    /// `from` continues a trained model: its vocabulary and decoder (weights included) are the run's,
    /// and `settings`' architecture and sizes are replaced by the model's.
    public init(dataset: CaptionDataset, features: FeatureStore, settings: TrainingSettings,
                vocabulary: Vocabulary? = nil, from start: CaptionModel? = nil, source: String = "caption train", commit: String? = nil) throws {
        var settings = settings
        if let start {
            let config = start.metadata.decoder
            guard config.featureSize == features.featureSize && start.metadata.encoder.name == features.encoder else {
                throw TrainingError(description: "the model to continue reads \(config.featureSize)-channel features of \(start.metadata.encoder.name), "
                                    + "but \(features.url.path) holds \(features.featureSize)-channel features of \(features.encoder): give the features it was trained on.")
            }
            (settings.architecture, settings.embeddingSize, settings.hiddenSize) = (config.architecture, config.embeddingSize, config.hiddenSize)
            (settings.attentionSize, settings.dropout) = (config.attentionSize, config.dropout)
        }
        let data = try TrainingData(dataset: dataset, features: features, minCount: settings.minCount,
                                    maxWords: settings.maxWords, vocabulary: try vocabulary ?? start.map { try Vocabulary(tokens: $0.metadata.vocabulary) })
        let config = start?.metadata.decoder ?? DecoderConfig(
            architecture: settings.architecture, vocabularySize: data.vocabulary.count, featureSize: features.featureSize,
            embeddingSize: settings.embeddingSize, hiddenSize: settings.hiddenSize, attentionSize: settings.attentionSize, dropout: settings.dropout)
        let decoder = try start?.decoder ?? makeDecoder(config, source: .initialise(seed: settings.seed))
        var provenance = Provenance(dataset: dataset.name, seed: settings.seed, source: source, settings: settings, commit: commit)
        provenance.continued = start.map { $0.metadata.provenance.command ?? $0.metadata.provenance.source ?? "a trained model" }
        let metadata = ModelMetadata(decoder: config, vocabulary: data.vocabulary.tokens,
                                     encoder: EncoderInfo(name: features.encoder, imageSize: features.imageSize > 0 ? features.imageSize : 224),
                                     provenance: provenance)
        let model = CaptionModel(decoder: decoder, metadata: metadata)
        let maxWords = settings.maxWords
        let corpus = settings.selfCritical.map { SelfCriticalCorpus(options: $0, references: data.referencesByImage) }
        trainer = try Trainer(model: model, samples: data.samples, features: features, options: settings.trainingOptions,
                              selfCritical: corpus,
                              validate: data.validation.isEmpty ? nil : { data.validate($0, features: features, maxWords: maxWords) })
        self.data = data
        self.model = model
        self.settings = settings
    }
}
