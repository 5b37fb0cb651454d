import CaptionData
import Captioning
import Foundation
import TensorCore

/// Captions, attention figures and pictures of a few test images, for the reports.
public enum ReportSamples {
    /// The first `count` images of `split` that have features, in the split's order.
    public static func images(of dataset: CaptionDataset, split: Split = .test, features: FeatureStore, count: Int) -> [ImageCaptions] {
        Array(dataset.split(split).filter { features.row(of: $0.image) != nil }.prefix(count))
    }

    /// Each model captions each image from its features (beam search with `search`); attention
    /// models also get a figure. Pictures come from the dataset's image files, cropped as the encoder
    /// saw them; an image whose file is missing is shown without picture or figure (`missing` lists it).
    public static func make(items: [ImageCaptions], dataset: CaptionDataset, features: FeatureStore,
                            models: [(label: String, model: CaptionModel)], search: SearchOptions = SearchOptions(),
                            panelSize: Int = 128, columns: Int = 8) -> (samples: [ReportSample], missing: [String]) {
        var samples: [ReportSample] = []
        var missing: [String] = []
        for item in items {
            guard let row = features.row(of: item.image) else { continue }
            let encoder = models.first?.model.metadata.encoder ?? EncoderInfo()
            let picture = try? EncoderView.picture(at: dataset.imageURL(for: item), encoder: encoder)
            if picture == nil { missing.append(item.image) }
            var predictions: [SamplePrediction] = []
            for (label, model) in models {
                let decoded = decodeCaptions(model.decoder, features.features(rows: [row]), options: search)[0][0]
                var figurePNG: Data?
                if let picture, let figure = AttentionFigure(picture: picture, caption: decoded, vocabulary: model.metadata.vocabulary,
                                                             panelSize: panelSize, columns: columns) {
                    figurePNG = try? figure.render().pngData()
                }
                predictions.append(SamplePrediction(model: label, caption: model.sentence(decoded), attentionPNG: figurePNG))
            }
            samples.append(ReportSample(image: item.image, picturePNG: try? picture?.pngData(), references: item.captions,
                                        predictions: predictions))
        }
        return (samples, missing)
    }
}
