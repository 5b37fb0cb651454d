import Foundation
import TensorCore
import Testing
import TestSupport
@testable import Captioning

@Suite struct FeatureFileWriterTests {
    func part(_ directory: URL, _ name: String, images: [String], seed: Float, encoder: String = "efficientnet-lite0",
              format: SafeTensors.FloatFormat = .f32) throws -> URL {
        let (cells, channels) = (4, 3)
        let grid = Tensor(shape: [images.count, cells, channels],
                          values: (0..<(images.count * cells * channels)).map { Float($0) * 0.25 + seed })
        let pooled = Tensor(shape: [images.count, channels], values: (0..<(images.count * channels)).map { Float($0) - seed })
        let url = directory.appendingPathComponent(name)
        try SafeTensors(tensors: ["grid": grid, "pooled": pooled],
                        metadata: ["images": String(decoding: try JSONEncoder().encode(images), as: UTF8.self),
                                   "encoder": encoder, "image_size": "224"]).write(to: url, floatFormat: format)
        return url
    }

    /// Output float16 or not, from parts stored as float32 or float16 (copied as bytes where the
    /// format is the output's, converted where not).
    @Test(arguments: [false, true], [SafeTensors.FloatFormat.f32, .f16])
    func partsJoinInOrderAndReadBack(float16: Bool, firstPartFormat: SafeTensors.FloatFormat) throws {
        let temporary = try TemporaryDirectory(), dir = temporary.url
        let a = try part(dir, "a.safetensors", images: ["1.jpg", "2.jpg"], seed: 1, format: firstPartFormat)
        let b = try part(dir, "b.safetensors", images: ["3.jpg"], seed: 2)
        let out = dir.appendingPathComponent("features.safetensors")
        try FeatureFileWriter.assemble(parts: [a, b], into: out, float16: float16)
        let store = try FeatureStore(out)
        #expect(store.images == ["1.jpg", "2.jpg", "3.jpg"])
        #expect(store.encoder == "efficientnet-lite0" && store.imageSize == 224)
        let file = try SafeTensors.read(out)
        let expectedGrid = try SafeTensors.read(a)["grid"]!.scalars + SafeTensors.read(b)["grid"]!.scalars
        #expect(file["grid"]!.shape == [3, 4, 3])
        #expect(file["grid"]!.scalars == expectedGrid)   // small multiples of 1/4 are exact in float16 too
        let expectedPooled = try SafeTensors.read(a)["pooled"]!.scalars + SafeTensors.read(b)["pooled"]!.scalars
        #expect(file["pooled"]!.scalars == expectedPooled)
        #expect(store.row(of: "3.jpg") == 2)
        // Rows come straight from the mapped file, in the order asked for.
        let picked = store.features(rows: [2, 0])
        #expect(picked.pooled.shape == [2, 3] && picked.grid?.shape == [2, 4, 3])
        #expect(picked.pooled.scalars == Array(expectedPooled[6..<9]) + Array(expectedPooled[0..<3]))
        #expect(picked.grid!.scalars == Array(expectedGrid[24..<36]) + Array(expectedGrid[0..<12]))
    }

    @Test func truncatedFeatureFileIsOneSentence() throws {
        let temporary = try TemporaryDirectory(), dir = temporary.url
        let a = try part(dir, "a.safetensors", images: ["1.jpg", "2.jpg"], seed: 1)
        let whole = try Data(contentsOf: a)
        let cut = dir.appendingPathComponent("cut.safetensors")
        try whole.prefix(whole.count - 10).write(to: cut)
        #expect(performing: { try FeatureStore(cut) }, throws: { "\($0)".contains("cut.safetensors is truncated") })
        let empty = dir.appendingPathComponent("empty.safetensors")
        try Data().write(to: empty)
        #expect(performing: { try FeatureStore(empty) }, throws: { "\($0)".contains("empty.safetensors is too short") })
    }

    @Test func partsThatDisagreeAreRefusedNamingTheFile() throws {
        let temporary = try TemporaryDirectory(), dir = temporary.url
        let a = try part(dir, "a.safetensors", images: ["1.jpg"], seed: 1)
        let again = try part(dir, "again.safetensors", images: ["1.jpg"], seed: 1)
        let other = try part(dir, "other.safetensors", images: ["9.jpg"], seed: 1, encoder: "resnet18")
        let out = dir.appendingPathComponent("features.safetensors")
        #expect(performing: { try FeatureFileWriter.assemble(parts: [a, again], into: out, float16: false) },
                throws: { "\($0)".contains("again.safetensors repeats image 1.jpg") })
        #expect(performing: { try FeatureFileWriter.assemble(parts: [a, other], into: out, float16: false) },
                throws: { "\($0)".contains("other.safetensors was made by resnet18") })
        #expect(!FileManager.default.fileExists(atPath: out.path))
        let unwritable = URL(fileURLWithPath: "/nonexistent-dir/features.safetensors")
        #expect(performing: { try FeatureFileWriter.assemble(parts: [a], into: unwritable, float16: false) },
                throws: { "\($0)".hasPrefix("cannot write /nonexistent-dir/features.safetensors") })
    }
}
