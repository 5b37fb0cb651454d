import CaptionData
import CaptionMetrics
import Foundation
import TensorCore

/// A dataset joined to its feature store: encoded training captions and held-out references, by
/// feature row. Images without features are counted, not silently dropped.
public struct TrainingData {
    public var vocabulary: Vocabulary
    public var samples: [TrainingSample]
    /// Validation images: feature row, file name and reference captions.
    public var validation: [(row: Int, image: String, references: [String])]
    /// Images of the dataset that the feature store does not hold.
    public var imagesWithoutFeatures: [String]

    public init(dataset: CaptionDataset, features: FeatureStore, minCount: Int = 5, maxWords: Int = 30,
                validationSplit: Split = .val, vocabulary: Vocabulary? = nil) throws {
        let train = dataset.split(.train)
        guard !train.isEmpty else {
            throw TrainingError(description: "\(dataset.name) has no training images: give it split lists (train/val/test) or use a layout that has splits.")
        }
        let vocabulary = try vocabulary ?? Vocabulary(trainingSplitOf: dataset, minCount: minCount)
        var missing: [String] = []
        var samples: [TrainingSample] = []
        for item in train {
            guard let row = features.row(of: item.image) else { missing.append(item.image); continue }
            for caption in item.captions {
                samples.append(TrainingSample(image: row, tokens: vocabulary.encode(tokenize(caption), maxWords: maxWords)))
            }
        }
        var validation: [(Int, String, [String])] = []
        for item in dataset.split(validationSplit) {
            guard let row = features.row(of: item.image) else { missing.append(item.image); continue }
            validation.append((row, item.image, item.captions))
        }
        guard !samples.isEmpty else {
            throw TrainingError(description: "\(features.url.path) holds features for none of the \(train.count) training images of \(dataset.name): extract features for this dataset with caption features.")
        }
        self.vocabulary = vocabulary
        self.samples = samples
        self.validation = validation
        imagesWithoutFeatures = missing
    }

    /// The training captions of each image, by feature row (self-critical training's references).
    public var referencesByImage: [Int: [[Int32]]] {
        var references: [Int: [[Int32]]] = [:]
        for sample in samples { references[sample.image, default: []].append(sample.tokens) }
        return references
    }

    /// Scores a decoder on the validation images by real greedy decoding (never teacher-forced):
    /// BLEU-1..4, ROUGE-L and CIDEr-D, coco-caption style. In a group, each process decodes its share
    /// of the images, the captions are gathered, and every process gets the leader's scores of them.
    public func validate(_ decoder: CaptionDecoder, features: FeatureSource, maxWords: Int = 30, batchSize: Int = 64,
                         group: ProcessGroup = SingleProcess()) -> [String: Double] {
        guard !validation.isEmpty else { return [:] }
        let mine = Array(validation[group.share(of: validation.count)])
        var decoded: [[Int32]] = []
        for start in stride(from: 0, to: mine.count, by: batchSize) {
            let batch = mine[start..<min(mine.count, start + batchSize)]
            decoded += decodeCaptions(decoder, features.features(rows: batch.map(\.row)), options: .greedy(maxWords: maxWords)).map { $0[0].tokens }
        }
        if group.size > 1 {
            // Each caption as its length, then its ids; the ranks' parts in rank order are the images in order.
            decoded = group.gather(decoded.flatMap { [Int32($0.count)] + $0 }).flatMap { part in
                var captions: [[Int32]] = [], i = 0
                while i < part.count {
                    let n = Int(part[i])
                    captions.append(Array(part[(i + 1)..<(i + 1 + n)]))
                    i += 1 + n
                }
                return captions
            }
        }
        var predictions: [String: String] = [:], references: [String: [String]] = [:]
        for (item, tokens) in zip(validation, decoded) {
            predictions[item.image] = vocabulary.decode(tokens).joined(separator: " ")
            references[item.image] = item.references
        }
        var scores: [String: Double] = [:]
        if let report = try? CaptionScorer(options: ScoringOptions(meteor: false)).evaluate(references: references, predictions: predictions) {
            for (name, value) in report.namedScores { if let value { scores[name] = value } }
        }
        guard group.size > 1 else { return scores }
        // Every process takes the leader's scores, bit for bit, so all make its decisions.
        let names = scores.keys.sorted()
        let leaders = group.leaders(names.map { scores[$0]! })
        precondition(leaders.count == names.count, "validation: the ranks scored different metrics")
        return Dictionary(uniqueKeysWithValues: zip(names, leaders))
    }
}
