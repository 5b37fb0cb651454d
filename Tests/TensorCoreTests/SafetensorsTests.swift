import Foundation
import Testing
@testable import TensorCore

@Suite struct SafetensorsTests {
    func temporaryFile(_ name: String) -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("captioner-\(UUID().uuidString)-\(name)")
    }

    @Test(arguments: [SafeTensors.FloatFormat.f32, .f16, .bf16])
    func roundTripsEveryDtype(format: SafeTensors.FloatFormat) throws {
        let values: [Float] = [0, 1, -2.5, 3.140625, 1e-3, 65504 / 2]
        let file = SafeTensors(tensors: ["w": Tensor(shape: [2, 3], values: values)],
                               integers: ["ids": IntTensor(shape: [3], values: [0, -7, 2_000_000_000])],
                               metadata: ["arch": "show-tell-gru", "note": "ünïcode ✓"])
        for intFormat in [SafeTensors.IntFormat.i64, .i32] {
            let url = temporaryFile("rt.safetensors")
            defer { try? FileManager.default.removeItem(at: url) }
            try file.write(to: url, floatFormat: format, intFormat: intFormat)
            let back = try SafeTensors.read(url)
            #expect(back.metadata == file.metadata)
            #expect(back.integers["ids"] == file.integers["ids"])
            let w = try #require(back["w"])
            #expect(w.shape == [2, 3])
            let tolerance: Float = format == .f32 ? 0 : (format == .f16 ? 1e-3 : 8e-3)
            for (a, b) in zip(w.scalars, values) { #expect(abs(a - b) <= tolerance * max(1, abs(b))) }
        }
    }

    @Test func readsWhatPyTorchWrote() throws {
        let f = try fixture("ops.safetensors")
        #expect(f.metadata["torch"] != nil)
        #expect(f.tensors["matmul/in.a"]?.shape == [5, 7])
        #expect(f.integers["gather/int.ids"]?.values == [1, 3, 1, 0, 5, 1])
    }

    @Test func badFilesGiveOneClearSentence() throws {
        let cases: [(String, Data, String)] = [
            ("empty", Data(), "is empty"),
            ("short", Data([1, 2, 3]), "too short"),
            ("huge header", Data([0xFF, 0xFF, 0xFF, 0, 0, 0, 0, 0, 1, 2]), "header"),
            ("not json", Data([4, 0, 0, 0, 0, 0, 0, 0]) + Data("abcd".utf8), "not a JSON object"),
        ]
        for (label, data, phrase) in cases {
            let url = temporaryFile(label)
            try data.write(to: url)
            defer { try? FileManager.default.removeItem(at: url) }
            do {
                _ = try SafeTensors.read(url)
                Issue.record("\(label) was accepted")
            } catch let error as SafeTensorsError {
                #expect(error.description.contains(url.path))
                #expect(error.description.contains(phrase), "\(label): \(error)")
            }
        }
        // A truncated body: the header promises more bytes than follow.
        let good = SafeTensors(tensors: ["x": Tensor(shape: [100], repeating: 1)]).serialized()
        let url = temporaryFile("truncated")
        try good.prefix(good.count - 40).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        #expect(throws: SafeTensorsError.self) { try SafeTensors.read(url) }
    }

    @Test func failedWriteLeavesTheOldFileIntact() throws {
        let url = temporaryFile("keep.safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try SafeTensors(tensors: ["x": Tensor(shape: [1], values: [1])]).write(to: url)
        let missingDirectory = URL(fileURLWithPath: "/nonexistent-\(UUID().uuidString)/out.safetensors")
        #expect(throws: AtomicFileError.self) {
            try SafeTensors(tensors: ["x": Tensor(shape: [1], values: [2])]).write(to: missingDirectory)
        }
        #expect(try SafeTensors.read(url)["x"]?.scalars == [1])
    }
}
