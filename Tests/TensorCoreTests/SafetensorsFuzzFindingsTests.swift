import Foundation
import Testing
@testable import TensorCore

/// Inputs found by fuzzing the safetensors readers (Fuzz/Harnesses/Safetensors, docs/fuzzing.md):
/// each used to trap the process and must now be refused with one sentence naming the problem.
@Suite struct SafetensorsFuzzFindingsTests {
    static func file(header: String, body: [UInt8] = []) -> Data {
        let json = Array(header.utf8)
        return Data(withUnsafeBytes(of: UInt64(json.count).littleEndian, Array.init) + json + body)
    }

    /// Fuzz/Corpus/Safetensors/crash-shape-product-overflow: shape [2³², 2³²] multiplied past Int.max.
    @Test func shapeWhoseProductOverflowsIsRefused() {
        let data = Self.file(header: #"{"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}}"#)
        #expect(performing: { try SafeTensors.parse(data, file: "big.safetensors") }, throws: {
            "\($0)" == "big.safetensors has tensor \"w\" of shape [4294967296, 4294967296], whose size does not fit in 64 bits: re-create the file; it is not a complete safetensors file."
        })
    }

    @Test func byteSizeThatOverflowsIsRefused() {
        // 2⁶² elements fit in Int, 2⁶² × 4 bytes do not.
        let data = Self.file(header: #"{"w":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,0]}}"#)
        #expect(performing: { try SafeTensors.parse(data, file: "big.safetensors") }, throws: {
            "\($0)".contains("whose size does not fit in 64 bits")
        })
    }

    @Test func emptyTensorWithLargeDimensionsStillReads() throws {
        let data = Self.file(header: #"{"w":{"dtype":"F32","shape":[0,4294967296,4294967296],"data_offsets":[0,0]}}"#)
        #expect(try SafeTensors.parse(data).tensors["w"]?.shape == [0, 4294967296, 4294967296])
    }
}
