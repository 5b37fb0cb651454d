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
        return options
    }
}

/// A dataset, its features and the settings joined into a ready trainer: vocabulary, a freshly
/// initialised decoder with its metadata, and validation by greedy decoding when there is a val split.
public struct TrainingRun {
    public let data: TrainingData
    public let model: CaptionModel
    public let trainer: Trainer
    public let settings: TrainingSettings

    /// `vocabulary` keeps the one a resumed run started with; nil builds it from the training captions.
    public init(dataset: CaptionDataset, features: FeatureStore, settings: TrainingSettings,
                vocabulary: Vocabulary? = nil, source: String = "caption train", commit: String? = nil) throws {
        let data = try TrainingData(dataset: dataset, features: features, minCount: settings.minCount,
                                    maxWords: settings.maxWords, vocabulary: vocabulary)
        let config = DecoderConfig(architecture: settings.architecture, vocabularySize: data.vocabulary.count,
                                   featureSize: features.featureSize, embeddingSize: settings.embeddingSize,
                                   hiddenSize: settings.hiddenSize, attentionSize: settings.attentionSize, dropout: settings.dropout)
        let decoder = try makeDecoder(config, source: .initialise(seed: settings.seed))
        let metadata = ModelMetadata(decoder: config, vocabulary: data.vocabulary.tokens,
                                     encoder: EncoderInfo(name: features.encoder, imageSize: features.imageSize > 0 ? features.imageSize : 224),
                                     provenance: Provenance(dataset: dataset.name, seed: settings.seed, source: source, settings: settings, commit: commit))
        let model = CaptionModel(decoder: decoder, metadata: metadata)
        let maxWords = settings.maxWords
        trainer = try Trainer(model: model, samples: data.samples, features: features, options: settings.trainingOptions,
                              validate: data.validation.isEmpty ? nil : { data.validate($0, features: features, maxWords: maxWords) })
        self.data = data
        self.model = model
        self.settings = settings
    }
}
