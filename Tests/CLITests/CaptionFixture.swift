import Foundation
import TestSupport
import TensorCore

/// A dataset in the Kaggle layout without pictures (captions.txt and splits/), with random features
/// for its images in features.safetensors: enough for `caption train` and everything after it. It lives
/// in a `TemporaryDirectory`, removed when the fixture (the suite instance holding it) goes away.
struct CaptionFixture {
    let temporary: TemporaryDirectory
    let dir: URL

    /// `captions(i)` are image i's captions; `split` is how many images go to train and val (the rest to test).
    init(_ label: String, images: [String], captions: (Int) -> [String], split: (train: Int, val: Int), featureSize: Int, seed: UInt64) throws {
        temporary = try TemporaryDirectory(label)
        dir = temporary.url
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("splits"), withIntermediateDirectories: true)
        var csv = "image,caption\n"
        for (i, image) in images.enumerated() {
            for caption in captions(i) { csv += "\(image),\(caption)\n" }
        }
        try write("captions.txt", csv)
        try write("splits/train.txt", images.prefix(split.train).joined(separator: "\n") + "\n")
        try write("splits/val.txt", images.dropFirst(split.train).prefix(split.val).joined(separator: "\n") + "\n")
        try write("splits/test.txt", images.dropFirst(split.train + split.val).joined(separator: "\n") + "\n")
        var rng = RandomGenerator(seed: seed)
        let names = String(decoding: try JSONEncoder().encode(images), as: UTF8.self)
        try SafeTensors(tensors: ["pooled": Tensor.randn([images.count, featureSize], rng: &rng),
                                  "grid": Tensor.randn([images.count, 4, featureSize], rng: &rng)],
                        metadata: ["images": names, "encoder": "test", "image_size": "224"])
            .write(to: dir.appendingPathComponent("features.safetensors"))
    }

    func write(_ name: String, _ text: String) throws {
        try text.write(to: dir.appendingPathComponent(name), atomically: true, encoding: .utf8)
    }

    func path(_ name: String) -> String { dir.appendingPathComponent(name).path }
}
