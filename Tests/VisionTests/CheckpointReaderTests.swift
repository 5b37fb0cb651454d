import Foundation
import Testing
import TestSupport
import Vision

/// Tests/VisionTests/Fixtures/checkpoints/expected.json, from tools/reference/make_checkpoint_fixtures.py.
struct CheckpointExpectations: Decodable {
    struct Tensor: Decodable {
        let dtype: String
        let shape: [Int]
        let values: [Double]
    }
    let tensors: [String: [String: Tensor]]
    let errors: [String: String]

    static func load() throws -> CheckpointExpectations {
        try fixtures.json(Self.self, "checkpoints/expected.json")
    }

    static let torchDTypes: [String: DType] = [
        "float32": .f32, "float16": .f16, "bfloat16": .bf16, "float64": .f64, "int64": .i64, "int32": .i32,
        "int16": .i16, "int8": .i8, "uint8": .u8, "bool": .bool,
    ]
}

@Suite struct CheckpointReaderTests {
    static let expectations = try! CheckpointExpectations.load()

    @Test(arguments: expectations.tensors.keys.sorted())
    func readsEveryTensorWithTorchsValues(file: String) throws {
        let expected = Self.expectations.tensors[file]!
        let tensors = try CheckpointReader.read(fixtures.url("checkpoints/" + file))
        #expect(Set(tensors.keys) == Set(expected.keys))
        for (name, want) in expected {
            guard let tensor = tensors[name] else { continue }
            #expect(tensor.dtype == CheckpointExpectations.torchDTypes[want.dtype], "\(file): \(name)")
            #expect(tensor.shape == want.shape, "\(file): \(name)")
            #expect(try tensor.floats() == want.values.map { Float($0) }, "\(file): \(name)")
        }
    }

    @Test func int64ValuesSurviveExactly() throws {
        let tensors = try CheckpointReader.read(fixtures.url("checkpoints/state_dict_legacy.pth"))
        let index = try #require(tensors["index"])
        let values = index.data.withUnsafeBytes { raw in
            (0..<4).map { Int64(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 8, as: Int64.self)) }
        }
        #expect(values == [-3, 0, 7, 1 << 40])
        #expect(try #require(tensors["scalar"]).shape == [])
    }

    @Test(arguments: expectations.errors.keys.sorted())
    func refusesBadFilesWithOneSentenceNamingTheFile(file: String) throws {
        let url = fixtures.url("checkpoints/" + file)
        do {
            let tensors = try CheckpointReader.read(url)
            Issue.record("\(file) was read (\(tensors.count) tensors) instead of refused")
        } catch let error as CheckpointError {
            print("\(file): \(error)")
            #expect(error.description.contains(url.path))
            #expect(error.description.contains(Self.expectations.errors[file]!), "\(error)")
            #expect(!error.description.contains("\n"))
        }
    }

    /// Legacy layout around a hand-written object pickle: magic, version 1001, empty system info,
    /// the object, an empty storage key list.
    static func legacyCheckpoint(object: [UInt8]) -> Data {
        let magic: [UInt8] = [0x80, 0x02, 0x8A, 0x0A, 0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19, 0x2E]
        let version: [UInt8] = [0x80, 0x02, 0x4D, 0xE9, 0x03, 0x2E]
        let systemInfo: [UInt8] = [0x80, 0x02, 0x7D, 0x2E]
        let keys: [UInt8] = [0x80, 0x02, 0x5D, 0x2E]
        return Data(magic + version + systemInfo + object + keys)
    }

    @Test func dictThatContainsItselfIsRefusedNotLoopedOver() {
        // {"state_dict": <itself>}: EMPTY_DICT BINPUT 0 SHORT_BINUNICODE "state_dict" BINGET 0 SETITEM STOP
        let object: [UInt8] = [0x80, 0x02, 0x7D, 0x71, 0x00, 0x8C, 0x0A] + Array("state_dict".utf8)
            + [0x68, 0x00, 0x73, 0x2E]
        #expect(throws: CheckpointError("loop.pth is not a checkpoint this reader understands: it contains no tensors.")) {
            try CheckpointReader.read(data: Self.legacyCheckpoint(object: object), name: "loop.pth")
        }
    }

    @Test func pickleCutShortIsReportedAsTruncated() {
        let object: [UInt8] = [0x80, 0x02, 0x7D, 0x71, 0x00, 0x8C, 0x0A, 0x73]
        #expect(throws: CheckpointError("cut.pth is truncated or corrupt: data ends in the middle of a pickle.")) {
            try CheckpointReader.read(data: Self.legacyCheckpoint(object: object).prefix(15 + 6 + 4 + object.count),
                                      name: "cut.pth")
        }
    }

    @Test func halfPrecisionConversionCoversSpecialValues() throws {
        let halves: [UInt16] = [0x0000, 0x8000, 0x3C00, 0xC000, 0x7BFF, 0x0001, 0x7C00, 0xFC00]
        let data = halves.withUnsafeBytes { Data($0) }
        let values = try RawTensor(dtype: .f16, shape: [halves.count], data: data).floats()
        #expect(Array(values[0..<6]) == [0, -0.0, 1, -2, 65504, Float(bitPattern: 0x3380_0000)])
        #expect(values[6] == .infinity && values[7] == -.infinity)
    }

    /// The real pretrained encoder weights (legacy format, channels-last strides) that
    /// scripts/bootstrap downloads; too big to commit.
    @Test func readsPretrainedEfficientNetLite0WhenDownloaded() throws {
        let url = Fixtures.packageRoot.appendingPathComponent(".cache/weights/efficientnet_lite0.pth")
        guard FileManager.default.fileExists(atPath: url.path) else {
            print("skipped: \(url.path) is absent; run scripts/bootstrap to download it")
            return
        }
        let tensors = try CheckpointReader.read(url)
        #expect(tensors.count == 296)
        #expect(tensors.values.filter { $0.dtype == .f32 }.count == 247)
        #expect(tensors.values.filter { $0.dtype == .i64 }.count == 49)
        let stem = try #require(tensors["_conv_stem.weight"])
        #expect(stem.shape == [32, 3, 3, 3])
        // Stored channels-last in the file; these are PyTorch's first values in logical order.
        #expect(Array(try stem.floats().prefix(4)) == [-1.1103360652923584, -1.3087704181671143,
                                                      -0.010156914591789246, 0.9208119511604309])
        #expect(try #require(tensors["_fc.weight"]).shape == [1000, 1280])
        let biasSum = try #require(tensors["_fc.bias"]).floats().reduce(0.0) { $0 + Double($1) }
        #expect(abs(biasSum - -0.04981697298353538) < 1e-6)
    }
}

/// Every prefix and many single-byte corruptions of real checkpoints must end in a CheckpointError
/// (or, for harmless bytes, a successful read), never a crash or an out-of-bounds read.
@Suite struct CheckpointRobustnessTests {
    @Test(arguments: ["state_dict_zip.pth", "state_dict_legacy.pth", "tensors.safetensors"])
    func everyTruncationIsAnError(file: String) throws {
        let data = try fixtures.data("checkpoints/" + file)
        for length in 0..<data.count {
            #expect(throws: CheckpointError.self, "\(file) cut to \(length) bytes") {
                try CheckpointReader.read(data: data.prefix(length), name: file)
            }
        }
    }

    @Test(arguments: ["state_dict_zip.pth", "state_dict_legacy.pth", "tensors.safetensors"])
    func corruptedBytesNeverCrash(file: String) throws {
        let original = [UInt8](try fixtures.data("checkpoints/" + file))
        #expect(try !CheckpointReader.read(data: Data(original), name: file).isEmpty, "\(file) reads before it is corrupted")
        var refused = 0, read = 0
        for position in original.indices {
            // Deterministic, so a failure names a reproducible byte and value.
            for replacement: UInt8 in [0x00, 0xFF, original[position] ^ 0x55] {
                var corrupted = original
                corrupted[position] = replacement
                do {
                    // A corruption read without complaint still gives tensors whose bytes fit their shapes.
                    let tensors = try CheckpointReader.read(data: Data(corrupted), name: file)
                    for (name, tensor) in tensors where tensor.data.count != tensor.elementCount * tensor.dtype.byteSize {
                        Issue.record("\(file), byte \(position) = \(replacement): \(name) holds \(tensor.data.count) bytes for shape \(tensor.shape)")
                    }
                    read += 1
                } catch is CheckpointError {
                    refused += 1
                } catch {
                    Issue.record("\(file), byte \(position) = \(replacement): \(type(of: error)) instead of a CheckpointError: \(error)")
                }
            }
        }
        // Every corruption ended in a CheckpointError or a read (none crashed, none threw anything else),
        // and the reader noticed corruption rather than reading anything at all.
        #expect(refused + read == original.count * 3)
        #expect(refused > 0, "\(file): no corruption of \(original.count) bytes was refused")
    }
}
