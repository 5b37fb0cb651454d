import CaptionData
import CaptionMetrics
import Captioning
import Foundation

/// A model scored on a split of its dataset from precomputed features, as `caption evaluate
/// --data D --split S --model M --features F` does: beam search (width 3 by default), then
/// BLEU-1..4, METEOR (when Java and the jar are present), ROUGE-L and CIDEr-D.
public enum SplitEvaluation {
    public static func predictions(_ model: CaptionModel, features: FeatureStore, images: [String],
                                   search: SearchOptions = SearchOptions(), batchSize: Int = 64) -> [String: String] {
        let found = images.sorted().compactMap { image in features.row(of: image).map { (image, $0) } }
        var predictions: [String: String] = [:]
        for start in stride(from: 0, to: found.count, by: batchSize) {
            let batch = Array(found[start..<min(found.count, start + batchSize)])
            let rows = batch.map(\.1)
            let decoded = decodeCaptions(model.decoder, features.features(rows: rows), options: search)
            for ((image, _), hypotheses) in zip(batch, decoded) { predictions[image] = model.sentence(hypotheses[0]) }
        }
        return predictions
    }

    public static func score(_ model: CaptionModel, dataset: CaptionDataset, split: Split = .test, features: FeatureStore,
                             search: SearchOptions = SearchOptions(), meteor: Bool = true) throws -> MetricReport {
        var references: [String: [String]] = [:]
        for item in dataset.split(split) { references[item.image, default: []].append(contentsOf: item.captions) }
        guard !references.isEmpty else {
            throw ReportError("\(dataset.name) has no \(split.rawValue) images: give the dataset split lists (train/val/test).")
        }
        let predicted = predictions(model, features: features, images: Array(references.keys), search: search)
        guard !predicted.isEmpty else {
            throw ReportError("\(features.url.path) holds features for none of the \(split.rawValue) images of \(dataset.name): extract features for this dataset with caption features.")
        }
        return try CaptionScorer(options: ScoringOptions(meteor: meteor)).evaluate(references: references, predictions: predicted)
    }
}

/// A report or comparison that cannot be made, in one plain sentence with the fix.
public struct ReportError: Error, CustomStringConvertible, LocalizedError {
    public let description: String
    public var errorDescription: String? { description }
    public init(_ description: String) { self.description = description }
}
