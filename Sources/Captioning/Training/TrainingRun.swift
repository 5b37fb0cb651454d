import CaptionData
import Foundation

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
    /// and `settings`' architecture and sizes are replaced by the model's. `group`: the processes
    /// training it together (MPI ranks), each on its share of every batch.
    public init(dataset: CaptionDataset, features: FeatureStore, settings: TrainingSettings,
                vocabulary: Vocabulary? = nil, from start: CaptionModel? = nil, source: String = "caption train", commit: String? = nil,
                group: ProcessGroup = SingleProcess()) throws {
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
        trainer = try Trainer(model: model, samples: data.samples, features: features, settings: settings,
                              selfCritical: corpus, group: group,
                              validate: data.validation.isEmpty ? nil : { data.validate($0, features: features, maxWords: maxWords, group: group) })
        var validation = Fingerprint()
        for item in data.validation { validation.add(bytes: "\(item.row) \(item.image) \(item.references.joined(separator: "\n"))".utf8) }
        trainer.agreement = [("validation images", validation.value)]
        self.data = data
        self.model = model
        self.settings = settings
    }
}
