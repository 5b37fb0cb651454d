import ArgumentParser
import CaptionData
import Captioner
import Captioning
import Foundation
import Reports
import TensorCore
import Vision

struct Attend: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Draw where an attention model looks for each word of its caption (PNG).",
        discussion: """
        Runs image → encoder → decoder and writes a PNG: the picture as the encoder saw it (resized and \
        center-cropped), then one panel per generated word with its attention map upsampled bilinearly and laid \
        over the picture, the word underneath, and for adaptive attention the sentinel weight β (how much the \
        word came from the language model rather than the image). Without an image, --features, --image and \
        --data draw from precomputed features and find the picture in the dataset. Show-tell models have no \
        attention and are refused.
        """)

    @OptionGroup var runtime: RuntimeOptions
    @Option(help: "An attention model (soft-attention-gru or adaptive-attention-gru; default: the shipped Flickr8k captioner).") var model: String?
    @Argument(help: "The image to caption (JPEG or PNG).") var imagePath: String?
    @Option(name: [.short, .customLong("out")], help: "The PNG to write.") var out: String
    @Option(parsing: .unconditional, help: "Beam width; 1 decodes greedily.") var beam = 3
    @Option(name: .customLong("max-words"), parsing: .unconditional, help: "Longest caption, in words.") var maxWords = 30
    @Option(name: .customLong("encoder-weights"), help: "Weights of the model's encoder (default: the library's copy for efficientnet-lite2, else the bootstrap download).")
    var encoderWeights: String?
    @Option(help: "Precomputed features (from caption features) instead of running the encoder.") var features: String?
    @Option(name: .customLong("image"), help: "With --features: the image's name in the feature file.") var imageName: String?
    @Option(help: "With --features: the dataset, to find the picture.") var data: String?
    @Option(name: .customLong("panel-size"), parsing: .unconditional, help: "Panel width and height in pixels.") var panelSize = 224
    @Option(parsing: .unconditional, help: "Panels per row.") var columns = 5
    @Option(name: .customLong("max-pixels"), parsing: .unconditional, help: "Refuse images larger than this many pixels.") var maxPixels = ImageDecoder.defaultMaxPixels

    func validate() throws {
        if features == nil {
            guard imagePath != nil else { throw ValidationError("give an IMAGE, or --features with --image and --data.") }
        } else {
            guard imagePath == nil else { throw ValidationError("give an IMAGE or --features, not both.") }
            guard imageName != nil, data != nil else { throw ValidationError("--features needs --image NAME and --data DATASET (to find the picture).") }
        }
        try OptionCheck.integer(beam, "--beam", 1...OptionCheck.maximumBeam)
        try OptionCheck.integer(maxWords, "--max-words", 1...1_000)
        try OptionCheck.integer(panelSize, "--panel-size", 32...1_024)
        try OptionCheck.integer(columns, "--columns", 1...100)
        try OptionCheck.integer(maxPixels, "--max-pixels", 1...OptionCheck.maximumPixels)
    }

    func decode(_ decoder: CaptionDecoder, _ features: ImageFeatures) -> DecodedCaption {
        decodeCaptions(decoder, features, options: SearchOptions(beamSize: beam, maxWords: maxWords))[0][0]
    }

    func run() async throws {
        try runtime.apply()
        try OutputPath.checkFile(out, option: "--out")
        let modelPath = try ShippedModel.path(self.model)
        let model = try CaptionModel.load(URL(fileURLWithPath: modelPath))
        let architecture = model.metadata.decoder.architecture
        guard architecture.usesGrid else {
            throw CommandFailure("\(modelPath) is a \(architecture.rawValue) model, which has no attention to draw: pass a soft-attention-gru or adaptive-attention-gru model.")
        }
        let (picture, caption) = try await features == nil ? fromImage(model, modelPath: modelPath) : fromFeatures(model, modelPath: modelPath)
        guard let figure = AttentionFigure(picture: picture, caption: caption, vocabulary: model.metadata.vocabulary,
                                           panelSize: panelSize, columns: columns) else {
            throw CommandFailure("\(modelPath) produced no attention maps for this caption: check that the model file is intact.")
        }
        let url = URL(fileURLWithPath: out)
        let folder = url.deletingLastPathComponent().path
        guard FileManager.default.fileExists(atPath: folder) else {
            throw CommandFailure("cannot write \(out): the folder \(folder) does not exist; create it or choose another -o.")
        }
        try figure.render().writePNG(to: url)
        print("\(figure.caption)\nwrote \(out): \(figure.words.count) word panels")
    }

    /// Captions the image as the Captioner library does, keeping the crop the encoder saw for the picture.
    func fromImage(_ model: CaptionModel, modelPath: String) async throws -> (Canvas, DecodedCaption) {
        let encoder = try ConvNetEncoder.loadFor(model, modelPath: modelPath, weights: encoderWeights)
        let captioner = try Captioner(model: model, encoder: encoder, options: Captioner.Options(beam: beam, maxWords: maxWords, maxPixels: maxPixels))
        let image = try ImageDecoder.decode(contentsOf: URL(fileURLWithPath: imagePath!), maxPixels: maxPixels)
        let caption = try await captioner.caption(image: image)
        return (Canvas(encoder.preprocessing.cropped(image)), caption.alternatives[0].decoded)
    }

    func fromFeatures(_ model: CaptionModel, modelPath: String) throws -> (Canvas, DecodedCaption) {
        let store = try FeatureStore(URL(fileURLWithPath: features!))
        try store.checkFits(model, modelPath: modelPath)
        guard let row = store.row(of: imageName!) else {
            throw CommandFailure("\(features!) has no features for image \(imageName!): check the name or extract its features with caption features.")
        }
        let dataset = try CaptionDataset.load(data!, checkImages: false)
        let name = store.images[row]
        let item = dataset.items.first { $0.image == name } ?? ImageCaptions(image: name, split: nil, captions: [])
        let url = dataset.imageURL(for: item)
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw CommandFailure("\(url.path) does not exist: pass --data the dataset whose images the features were computed from.")
        }
        let picture = try EncoderView.picture(at: url, encoder: model.metadata.encoder, maxPixels: maxPixels)
        return (picture, decode(model.decoder, store.features(rows: [row])))
    }
}
