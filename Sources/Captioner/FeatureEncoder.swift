import Captioning
import TensorCore
import Vision

/// What a ``Captioner`` needs from an image encoder. `Captioner(model:encoderWeights:)` loads a real
/// `ConvNetEncoder`; tests inject a small deterministic encoder so they never need pretrained weights.
/// The captioner calls it from one thread at a time.
public protocol FeatureEncoder: AnyObject {
    /// How images are resized, cropped and normalised before `features(of:batch:)`.
    var preprocessing: Preprocessing { get }
    /// C, the channels of every grid cell (must equal the decoder's feature size).
    var featureChannels: Int { get }
    /// pixels [B, 3, crop, crop] (as `Preprocessing.tensor(for:)` makes them) → pooled [B, C] and grid [B, L, C].
    func features(of pixels: [Float], batch: Int) throws -> ImageFeatures
}

extension ConvNetEncoder: FeatureEncoder {
    /// Runs the network over a batch of preprocessed images.
    public func features(of pixels: [Float], batch: Int) throws -> ImageFeatures {
        let crop = preprocessing.crop
        let encoded = try encode(pixels, batch: batch, height: crop, width: crop)
        return ImageFeatures(pooled: Tensor(shape: [encoded.batch, encoded.channels], values: encoded.pooled),
                             grid: Tensor(shape: [encoded.batch, encoded.cells, encoded.channels], values: encoded.grid))
    }
}
