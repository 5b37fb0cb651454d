import Foundation

extension ConvNetEncoder {
    /// The encoders `load(name:weights:)` knows, by their PyTorch names.
    public static let names = EfficientNetLiteVariant.all.map(\.name) + ResNetVariant.all.map(\.name) + ["vgg16"]
    public static let defaultName = EfficientNetLiteVariant.lite0.name

    /// Builds encoder `name` from a checkpoint (.pth zip or legacy, or safetensors), verifying every
    /// tensor's key and shape.
    public static func load(name: String, weights url: URL) throws -> ConvNetEncoder {
        if let variant = EfficientNetLiteVariant.all.first(where: { $0.name == name }) { return try load(variant, weights: url) }
        if let variant = ResNetVariant.all.first(where: { $0.name == name }) { return try load(variant, weights: url) }
        if name == "vgg16" { return try loadVGG16(weights: url) }
        throw EncoderError("unknown encoder \"\(name)\": choose one of \(names.joined(separator: ", ")).")
    }

    /// An EfficientNet-Lite of any width/depth; the number of classes comes from the checkpoint's `_fc`.
    public static func load(_ variant: EfficientNetLiteVariant, weights url: URL) throws -> ConvNetEncoder {
        try load(variant, tensors: try CheckpointReader.read(url), file: url.path)
    }

    static func load(_ variant: EfficientNetLiteVariant, tensors raw: [String: RawTensor], file: String) throws -> ConvNetEncoder {
        try assemble(variant.name, preprocessing: variant.preprocessing, tensors: raw, file: file, classifier: "_fc") {
            try EfficientNetLite(variant, weights: $0)
        }
    }

    /// A torchvision ResNet; its `fc` classifies the pooled features.
    public static func load(_ variant: ResNetVariant, weights url: URL) throws -> ConvNetEncoder {
        try load(variant, tensors: try CheckpointReader.read(url), file: url.path)
    }

    static func load(_ variant: ResNetVariant, tensors raw: [String: RawTensor], file: String) throws -> ConvNetEncoder {
        try assemble(variant.name, preprocessing: .imageNet, tensors: raw, file: file, classifier: "fc") { try ResNet(variant, weights: $0) }
    }

    /// A network built from the checkpoint, its classifier (`classifier.weight`/`.bias`), and no tensor left over.
    private static func assemble(_ name: String, preprocessing: Preprocessing, tensors raw: [String: RawTensor], file: String,
                                                   classifier prefix: String, network make: (StateDict) throws -> ConvNetwork) throws -> ConvNetEncoder {
        let state = StateDict(raw, file: file, architecture: name)
        let network = try make(state)
        let classifier = try takeClassifier(state, raw: raw, prefix: prefix, channels: network.outputChannels)
        try state.finish()
        return ConvNetEncoder(name: name, preprocessing: preprocessing, network: network, classifier: classifier)
    }

    /// torchvision's VGG16 up to block5_conv3; its classifier tensors are accepted and left unused.
    public static func loadVGG16(weights url: URL, widthDivisor: Int = 1) throws -> ConvNetEncoder {
        try loadVGG16(tensors: try CheckpointReader.read(url), file: url.path, widthDivisor: widthDivisor)
    }

    static func loadVGG16(tensors: [String: RawTensor], file: String, widthDivisor: Int = 1) throws -> ConvNetEncoder {
        let state = StateDict(tensors, file: file, architecture: "vgg16")
        let network = try VGG16Features(weights: state, widthDivisor: widthDivisor)
        state.discard(prefix: "classifier.")
        try state.finish()
        return ConvNetEncoder(name: "vgg16", preprocessing: .imageNet, network: network, classifier: nil)
    }

    private static func takeClassifier(_ state: StateDict, raw: [String: RawTensor], prefix: String, channels: Int) throws -> LinearClassifier {
        let classes = raw[prefix + ".bias"]?.shape.first ?? 1000
        return LinearClassifier(weights: try state.take(prefix + ".weight", [classes, channels]),
                                bias: try state.take(prefix + ".bias", [classes]))
    }
}
