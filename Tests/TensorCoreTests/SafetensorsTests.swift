import AtomicFiles
import Foundation
import Testing
import TestSupport
@testable import TensorCore

@Suite struct SafetensorsTests {
    @Test(arguments: [SafeTensors.FloatFormat.f32, .f16, .bf16])
    func roundTripsEveryDtype(format: SafeTensors.FloatFormat) throws {
        let values: [Float] = [0, 1, -2.5, 3.140625, 1e-3, 65504 / 2]
        let file = SafeTensors(tensors: ["w": Tensor(shape: [2, 3], values: values)],
                               integers: ["ids": IntTensor(shape: [3], values: [0, -7, 2_000_000_000])],
                               metadata: ["arch": "show-tell-gru", "note": "ünïcode ✓"])
        for intFormat in [SafeTensors.IntFormat.i64, .i32] {
            let dir = try TemporaryDirectory(), url = dir.url("rt.safetensors")
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

    /// The reference `safetensors` reader (Python, Rust) rejects a file with gaps between tensors
    /// ("invalid offset"): the data must be back to back from 0 to the end, and each tensor must start
    /// at a multiple of its element size for readers that map it.
    @Test(arguments: [SafeTensors.FloatFormat.f32, .f16, .bf16], [SafeTensors.IntFormat.i64, .i32])
    func tensorsAreContiguousAndAlignedAsTheReferenceReaderRequires(format: SafeTensors.FloatFormat, intFormat: SafeTensors.IntFormat) throws {
        // Odd element counts, so padding would be needed if the narrow type came first.
        let file = SafeTensors(tensors: ["a.bias": Tensor(shape: [3], values: [1, 2, 3]), "b.weight": Tensor(shape: [5], values: [1, 2, 3, 4, 5]),
                                         "c": Tensor(shape: [1], values: [7])],
                               integers: ["ids": IntTensor(shape: [3], values: [4, 5, 6]), "z": IntTensor(shape: [1], values: [9])],
                               metadata: ["k": "v"])
        let data = file.serialized(floatFormat: format, intFormat: intFormat)
        let headerLength = Int(data.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        #expect((8 + headerLength) % 8 == 0)
        let header = try #require(try JSONSerialization.jsonObject(with: data.subdata(in: 8..<(8 + headerLength))) as? [String: Any])
        let widths = ["F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4]
        let spans = header.filter { $0.key != "__metadata__" }.map { (_, value) -> (Int, Int, Int) in
            let entry = value as! [String: Any], offsets = entry["data_offsets"] as! [Int]
            return (offsets[0], offsets[1], widths[entry["dtype"] as! String]!)
        }.sorted { $0.0 < $1.0 }
        #expect(spans.count == 5 && spans.first?.0 == 0 && spans.last?.1 == data.count - 8 - headerLength)
        for (span, next) in zip(spans, spans.dropFirst()) { #expect(span.1 == next.0, "no gap between tensors") }
        for span in spans { #expect(span.0 % span.2 == 0, "each tensor starts at a multiple of its element size") }
        let back = try SafeTensors.parse(data)
        #expect(back.integers["ids"]?.values == [4, 5, 6] && back["b.weight"]?.scalars == [1, 2, 3, 4, 5])
    }

    @Test func readsWhatPyTorchWrote() throws {
        let f = try fixtures.safetensors("ops.safetensors")
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
            let dir = try TemporaryDirectory(), url = dir.url(label)
            try data.write(to: url)
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
        let dir = try TemporaryDirectory(), url = dir.url("truncated")
        try good.prefix(good.count - 40).write(to: url)
        #expect(throws: SafeTensorsError.self) { try SafeTensors.read(url) }
    }

    @Test func failedWriteLeavesTheOldFileIntact() throws {
        let dir = try TemporaryDirectory(), url = dir.url("keep.safetensors")
        try SafeTensors(tensors: ["x": Tensor(shape: [1], values: [1])]).write(to: url)
        let missingDirectory = URL(fileURLWithPath: "/nonexistent-\(UUID().uuidString)/out.safetensors")
        #expect(throws: AtomicFileError.self) {
            try SafeTensors(tensors: ["x": Tensor(shape: [1], values: [2])]).write(to: missingDirectory)
        }
        #expect(try SafeTensors.read(url)["x"]?.scalars == [1])
    }
}
