import Foundation
import Testing
import Vision

/// Inputs found by fuzzing the checkpoint readers (Fuzz/Harnesses/Checkpoint and Pickle,
/// docs/fuzzing.md): each used to trap the process and must now be read or refused with a sentence.
@Suite struct CheckpointFuzzFindingsTests {
    private static func shortString(_ text: String) -> [UInt8] { [0x8C, UInt8(text.utf8.count)] + Array(text.utf8) }
    private static func long1(_ value: Int) -> [UInt8] { [0x8A, 0x08] + withUnsafeBytes(of: Int64(value).littleEndian, Array.init) }

    /// A legacy (torch < 1.6) checkpoint holding {"w": tensor} over storage "0" of six floats.
    private static func legacyCheckpoint(shape: [Int], strides: [Int]) -> Data {
        let magic: [UInt8] = [0x80, 0x02, 0x8A, 0x0A, 0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19, 0x2E]
        let version: [UInt8] = [0x80, 0x02, 0x4D, 0xE9, 0x03, 0x2E]
        let systemInfo: [UInt8] = [0x80, 0x02, 0x7D, 0x2E]
        var object: [UInt8] = [0x80, 0x02, 0x7D] + shortString("w") + Array("ctorch._utils\n_rebuild_tensor_v2\n".utf8) + [0x28]
        object += [0x28] + shortString("storage") + Array("ctorch\nFloatStorage\n".utf8) + shortString("0") + shortString("cpu")
            + [0x4B, 0x06, 0x74, 0x51]                                      // numel 6, TUPLE, BINPERSID
        object += [0x4B, 0x00]                                              // storage offset 0
        object += [0x28] + shape.flatMap(long1) + [0x74]                    // shape
        object += [0x28] + strides.flatMap(long1) + [0x74]                  // strides
        object += [0x89, 0x7D, 0x74, 0x52, 0x73, 0x2E]                      // False, {}, TUPLE, REDUCE, SETITEM, STOP
        let keys: [UInt8] = [0x80, 0x02, 0x28] + shortString("0") + [0x74, 0x2E]
        let storage: [UInt8] = withUnsafeBytes(of: UInt64(6).littleEndian, Array.init) + [UInt8](repeating: 0, count: 24)
        return Data(magic + version + systemInfo + object + keys + storage)
    }

    /// Found by review while fuzzing (Fuzz/Corpus/Pickle/crash-empty-tensor-huge-dims): an empty
    /// tensor whose other dimensions multiply past Int.max overflowed the contiguous strides.
    @Test func emptyTensorWithHugeDimensionsIsReadNotTrapped() throws {
        let tensors = try CheckpointReader.read(data: Self.legacyCheckpoint(shape: [0, 1 << 40, 1 << 40], strides: [0, 0, 0]),
                                                name: "empty.pth")
        #expect(tensors["w"]?.shape == [0, 1 << 40, 1 << 40])
        #expect(tensors["w"]?.data.isEmpty == true)
    }

    @Test func tensorWhoseShapeOverflowsIsRefused() {
        #expect(throws: CheckpointError("huge.pth is truncated or corrupt: tensor w reaches beyond its stored data.")) {
            try CheckpointReader.read(data: Self.legacyCheckpoint(shape: [1 << 40, 1 << 40, 0], strides: [1, 1, 1]), name: "huge.pth")
        }
    }

    /// A legacy checkpoint whose object pickle is `object` and which lists no storages.
    private static func legacyCheckpoint(object: [UInt8]) -> Data {
        let magic: [UInt8] = [0x80, 0x02, 0x8A, 0x0A, 0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19, 0x2E]
        return Data(magic + [0x80, 0x02, 0x4D, 0xE9, 0x03, 0x2E] + [0x80, 0x02, 0x7D, 0x2E] + object + [0x80, 0x02, 0x5D, 0x2E])
    }

    /// Found by review while fuzzing (Fuzz/Corpus/Pickle/deep-nesting-*.pkl are small forms): a
    /// pickle of 300,000 nested lists — EMPTY_LIST × n, APPEND × (n − 1) — overflowed the stack when
    /// the value was released (and nested dicts did so in the dictionary walk too).
    @Test(arguments: [UInt8(0x5D), 0x7D])
    func deeplyNestedContainersAreRefused(container: UInt8) {
        let n = 300_000
        let object: [UInt8] = container == 0x5D
            ? [0x80, 0x02] + [UInt8](repeating: 0x5D, count: n) + [UInt8](repeating: 0x61, count: n - 1) + [0x2E]
            : [0x80, 0x02] + (0..<n).flatMap { _ in [0x7D, 0x8C, 0x01, 0x61] } + [0x7D] + [UInt8](repeating: 0x73, count: n) + [0x2E]
        #expect(throws: CheckpointError("deep.pth is not a checkpoint this reader understands: its pickle is corrupt (its containers nest more than 256 deep).")) {
            try CheckpointReader.read(data: Self.legacyCheckpoint(object: object), name: "deep.pth")
        }
    }

    @Test func deeplyNestedTuplesAreRefused() {
        // EMPTY_TUPLE, then TUPLE1 300,000 times: one byte per level.
        let object: [UInt8] = [0x80, 0x02, 0x29] + [UInt8](repeating: 0x85, count: 300_000) + [0x2E]
        #expect(throws: CheckpointError("deep.pth is not a checkpoint this reader understands: its pickle is corrupt (its containers nest more than 256 deep).")) {
            try CheckpointReader.read(data: Self.legacyCheckpoint(object: object), name: "deep.pth")
        }
    }

    @Test func listThatGrowsDeeperAfterBeingNestedIsRefused() {
        // a = []; b = [a] (a is nested now); then a.append([]) would make b deeper behind its back.
        // EMPTY_LIST BINPUT 0, EMPTY_LIST, BINGET 0, APPEND (b = [a]), BINGET 0, EMPTY_LIST, APPEND, STOP
        let object: [UInt8] = [0x80, 0x02, 0x5D, 0x71, 0x00, 0x5D, 0x68, 0x00, 0x61, 0x68, 0x00, 0x5D, 0x61, 0x2E]
        #expect(throws: CheckpointError("grow.pth is not a checkpoint this reader understands: its pickle is corrupt (a list or dict grows deeper after it was put inside another).")) {
            try CheckpointReader.read(data: Self.legacyCheckpoint(object: object), name: "grow.pth")
        }
    }

    @Test func nestingWithinTheLimitStillReachesTheDictionaryWalk() {
        // {"a": {"a": … {} …}} 100 dicts deep is read and walked (it just holds no tensor).
        var object: [UInt8] = [0x80, 0x02]
        for _ in 0..<100 { object += [0x7D] + Self.shortString("a") }
        object += [0x7D] + [UInt8](repeating: 0x73, count: 100) + [0x2E]
        #expect(throws: CheckpointError("nested.pth is not a checkpoint this reader understands: it contains no tensors.")) {
            try CheckpointReader.read(data: Self.legacyCheckpoint(object: object), name: "nested.pth")
        }
    }
}
