import Foundation

/// The files this package carries as SwiftPM resources, so a package that depends on it needs no
/// set-up step: the shipped decoder and the weights of the encoder it reads.
enum BundledResource {
    static let shippedModel = "captioner-flickr8k"
    /// Encoders whose weights are bundled, as `<name>.safetensors` (see EfficientNet-Lite2-NOTICE.txt).
    static let encoders = ["efficientnet-lite2"]
}

extension Captioner {
    /// The shipped captioner's model file, inside this package's resources.
    public static var shippedModelURL: URL? {
        Bundle.module.url(forResource: BundledResource.shippedModel, withExtension: "safetensors")
    }

    /// This package's copy of an encoder's ImageNet weights (float16, the shipped captioner's
    /// EfficientNet-Lite2), or nil for the encoders it does not carry.
    public static func bundledEncoderWeights(for encoder: String) -> URL? {
        guard BundledResource.encoders.contains(encoder) else { return nil }
        return Bundle.module.url(forResource: encoder, withExtension: "safetensors")
    }
}
