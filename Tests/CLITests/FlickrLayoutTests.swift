import Foundation
import Testing
import TestSupport

/// A Flickr8k copy as `../shared/flickr8k` holds it (original layout, train and dev lists, the test
/// split withheld), in miniature and with Shapes pictures: every command goes through it as a user
/// would run it on the real one.
@Suite struct FlickrLayoutTests {
    let temporary: TemporaryDirectory
    let dir: URL
    let images = (0..<12).map { String(format: "10%02d_photo.jpg", $0) }

    init() throws {
        temporary = try TemporaryDirectory("cli-flickr")
        dir = temporary.url
        let text = dir.appendingPathComponent("Flickr8k_text"), pictures = dir.appendingPathComponent("Flicker8k_Dataset")
        try FileManager.default.createDirectory(at: text, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: pictures, withIntermediateDirectories: true)
        let synth = try runCaption(["synth", "--out", dir.appendingPathComponent("synth").path, "--images", "12", "--seed", "4"])
        #expect(synth.status == 0, "\(synth.stderr)")
        let rendered = try FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("synth/Images").path).sorted()
        var tokens = ""
        for (image, source) in zip(images, rendered) {
            // A PNG under a .jpg name: the decoder goes by the bytes, as for real mislabelled files.
            try FileManager.default.copyItem(at: dir.appendingPathComponent("synth/Images/\(source)"), to: pictures.appendingPathComponent(image))
            for (n, caption) in ["a red circle", "a blue square", "one shape on the left", "a shape", "two shapes"].enumerated() {
                tokens += "\(image)#\(n)\t\(caption)\n"
            }
        }
        try tokens.write(to: text.appendingPathComponent("Flickr8k.token.txt"), atomically: true, encoding: .utf8)
        try images.prefix(9).joined(separator: "\n").write(to: text.appendingPathComponent("Flickr_8k.trainImages.txt"), atomically: true, encoding: .utf8)
        try images.suffix(3).joined(separator: "\n").write(to: text.appendingPathComponent("Flickr_8k.devImages.txt"), atomically: true, encoding: .utf8)
    }

    func path(_ name: String) -> String { dir.appendingPathComponent(name).path }

    @Test func aCopyWithoutItsTestSplitGoesThroughEveryCommand() throws {
        let features = try runCaption(["features", "--data", dir.path, "--out", path("features.safetensors")])
        if features.stderr.contains("bootstrap") { return }  // no encoder weights on this machine
        #expect(features.status == 0, "\(features.stderr)")
        // The last line says where the time went.
        #expect(features.stdout.range(of: #"in [0-9.]+ s \(reading images [0-9.]+ s, encoder [0-9.]+ s, writing features [0-9.]+ s\)"#,
                                      options: .regularExpression) != nil, "\(features.stdout)")

        let train = try runCaption(["train", "--data", dir.path, "--features", path("features.safetensors"), "--out", path("model.safetensors"),
                                    "--epochs", "1", "--min-count", "1", "--embed", "8", "--hidden", "16", "--attention", "8"])
        #expect(train.status == 0, "\(train.stderr)")
        #expect(train.stderr.contains("has no test split (there is no Flickr_8k.testImages.txt"), "\(train.stderr)")

        // evaluate on dev without --features runs the model's encoder on the photos itself.
        let evaluate = try runCaption(["evaluate", "--model", path("model.safetensors"), "--data", dir.path, "--split", "dev",
                                       "--no-meteor", "--json"])
        #expect(evaluate.status == 0, "\(evaluate.stderr)")
        let scores = try JSONSerialization.jsonObject(with: Data(evaluate.stdout.utf8)) as? [String: Any]
        #expect(scores?["images_scored"] as? Int == 3, "the three dev photos: \(evaluate.stdout)")
        let withFeatures = try runCaption(["evaluate", "--model", path("model.safetensors"), "--data", dir.path, "--split", "dev",
                                           "--features", path("features.safetensors"), "--no-meteor", "--json"])
        #expect(withFeatures.stdout == evaluate.stdout, "the encoder run here gives the features file's scores")

        // compare and report score on dev, said up front, instead of failing after training.
        let compare = try runCaption(["compare", "--data", dir.path, "--features", path("features.safetensors"), "--configs", "show-tell-gru",
                                      "--epochs", "1", "--min-count", "1", "--embed", "8", "--hidden", "16", "--no-meteor", "--out", path("compare")])
        #expect(compare.status == 0, "\(compare.stderr)")
        #expect(compare.stdout.contains("has no test split: scoring on its val split instead"), "\(compare.stdout)")
        #expect(FileManager.default.fileExists(atPath: path("compare/report.html")))
        let report = try runCaption(["report", "--data", dir.path, "--model", path("model.safetensors"), "--features", path("features.safetensors"),
                                     "--no-meteor", "-o", path("report.html")])
        #expect(report.status == 0 && report.stdout.contains("on the val split"), "\(report.stdout) \(report.stderr)")
        let missing = try runCaption(["report", "--data", dir.path, "--model", path("model.safetensors"), "--features", path("features.safetensors"),
                                      "--split", "test", "-o", path("report2.html")])
        #expect(missing.status != 0 && missing.stderr.contains("has no test images"), "\(missing.stderr)")
    }
}
