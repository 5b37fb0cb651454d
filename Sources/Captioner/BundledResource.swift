import Foundation

/// The files this package carries as SwiftPM resources, so a package that depends on it needs no
/// set-up step: the shipped decoder and the weights of the encoder it reads.
enum BundledResource {
    static let shippedModel = "captioner-flickr8k"
    /// Encoders whose weights are bundled, as `<name>.safetensors` (see EfficientNet-Lite2-NOTICE.txt).
    static let encoders = ["efficientnet-lite2"]

    /// The folder SwiftPM puts beside the executable (`.resources` on Linux, `.bundle` on macOS).
    /// Looked for here rather than through `Bundle.module`, which stops the process when the folder
    /// is missing (a binary copied elsewhere without it): a missing folder is a sentence instead.
    static let bundle: Bundle? = {
        var folders = [Bundle.main.bundleURL, Bundle.main.resourceURL].compactMap { $0 }
        if let executable = Bundle.main.executableURL { folders.append(executable.deletingLastPathComponent()) }
        for folder in folders {
            for name in ["Captioner_Captioner.resources", "Captioner_Captioner.bundle"] {
                let url = folder.appendingPathComponent(name)
                if FileManager.default.fileExists(atPath: url.path), let bundle = Bundle(url: url) { return bundle }
            }
        }
        return nil
    }()

    static func url(_ name: String) -> URL? { bundle?.url(forResource: name, withExtension: "safetensors") }
}

extension Captioner {
    /// The shipped captioner's model file, inside this package's resources; nil when the
    /// `Captioner_Captioner.resources` folder is not beside the executable.
    public static var shippedModelURL: URL? { BundledResource.url(BundledResource.shippedModel) }

    /// This package's copy of an encoder's ImageNet weights (float16, the shipped captioner's
    /// EfficientNet-Lite2), or nil for the encoders it does not carry.
    public static func bundledEncoderWeights(for encoder: String) -> URL? {
        BundledResource.encoders.contains(encoder) ? BundledResource.url(encoder) : nil
    }
}
