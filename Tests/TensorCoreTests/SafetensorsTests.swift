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

    /// A draft written in uneven pieces (rows of 1,001 floats, pieces larger than the 4 MiB staging
    /// buffer), dropped half-way and reopened, ends as the file the one-shot writer makes, tensor by
    /// tensor, with its header padded to the room kept for it. /dev/shm is tmpfs, where the direct
    /// writes may be refused and the draft writes through the cache.
    @Test(arguments: ["temporary", "/dev/shm"]) func aDraftResumedHalfWayEqualsTheOneShotFile(place: String) throws {
        let dir = try TemporaryDirectory()
        guard place == "temporary" || FileManager.default.isWritableFile(atPath: place) else { return }
        let folder = place == "temporary" ? dir.url : URL(fileURLWithPath: place).appendingPathComponent("draft-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { if place != "temporary" { try? FileManager.default.removeItem(at: folder) }; withExtendedLifetime(dir) {} }
        let width = 1_001, rows = 3_000
        let grid = (0..<(rows * width)).map { Float($0 % 9_973) * 0.5 - 7 }
        let pooled = (0..<rows).map { Float($0) }
        let tensors: [SafetensorsWriter.Planned] = [.init(name: "grid", dtype: "F32", shape: [rows, width]), .init(name: "pooled", dtype: "F32", shape: [rows])]
        let metadata = ["note": "in place"]
        let capacity = SafetensorsDraft.capacity(forHeaderOf: SafetensorsWriter.header(for: tensors, metadata: metadata).count + 100)
        let draftURL = folder.appendingPathComponent("f.draft"), out = folder.appendingPathComponent("f.safetensors")
        let pieces = [0..<7, 7..<1_500, 1_500..<1_800]   // rows; the second piece is 6 MB
        try grid.withUnsafeBytes { bytes in
            let rowBytes = width * 4
            do {
                let draft = try SafetensorsDraft(draftURL, headerCapacity: capacity)
                for piece in pieces {
                    try draft.write(UnsafeRawBufferPointer(rebasing: bytes[(piece.lowerBound * rowBytes)..<(piece.upperBound * rowBytes)]), at: piece.lowerBound * rowBytes)
                }
            }   // dropped unfinished, as a run that stops
            let draft = try SafetensorsDraft(draftURL, headerCapacity: capacity)
            #expect(draft.read(0..<(1_800 * rowBytes)).map { Array($0) } == Array(bytes[0..<(1_800 * rowBytes)]), "what the first run wrote is kept")
            try draft.write(UnsafeRawBufferPointer(rebasing: bytes[(1_800 * rowBytes)...]), at: 1_800 * rowBytes)
            try pooled.withUnsafeBytes { try draft.write($0, at: rows * rowBytes) }
            try draft.finish(tensors: tensors, metadata: metadata, into: out)
        }
        #expect(!FileManager.default.fileExists(atPath: draftURL.path))
        let back = try SafeTensors.read(out)
        #expect(back.metadata == metadata)
        #expect(back["grid"]?.shape == [rows, width] && back["grid"]?.scalars == grid)
        #expect(back["pooled"]?.scalars == pooled)
        let data = try Data(contentsOf: out)
        #expect(data.count == capacity + (rows * width + rows) * 4)
        #expect(Int(data.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }) + 8 == capacity, "the header fills its room")
    }
}
