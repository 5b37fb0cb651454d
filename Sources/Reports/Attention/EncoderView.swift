import CaptionData
import Captioning
import Foundation
import Vision

/// A picture as the encoder saw it: decoded, resized and center-cropped with the model's
/// preprocessing, so attention cells line up with what they looked at.
public enum EncoderView {
    public static func picture(at url: URL, encoder: EncoderInfo, maxPixels: Int = ImageDecoder.defaultMaxPixels) throws -> Canvas {
        let image = try ImageDecoder.decode(contentsOf: url, maxPixels: maxPixels)
        let preprocessing = Preprocessing(resizeShorter: encoder.resizeShorter, crop: encoder.imageSize)
        return Canvas(preprocessing.cropped(image))
    }
}

extension AttentionFigure {
    /// The figure of a decoded caption, or nil when the model does not attend (show-tell).
    public init?(picture: Canvas, caption decoded: DecodedCaption, vocabulary: [String], panelSize: Int = 224, columns: Int = 5) {
        guard !decoded.attention.isEmpty, decoded.attention.count == decoded.tokens.count else { return nil }
        let words = decoded.words(in: vocabulary).enumerated().map { i, text in
            AttentionFigure.Word(text: text,
                                 attention: decoded.attention[i],
                                 sentinel: i < decoded.sentinel.count ? decoded.sentinel[i] : nil)
        }
        self.init(picture: picture, caption: words.map(\.text).joined(separator: " "), words: words,
                  panelSize: panelSize, columns: columns)
    }
}
