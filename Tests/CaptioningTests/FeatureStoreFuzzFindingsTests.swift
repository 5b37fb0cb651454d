import Foundation
import Testing
import TestSupport
@testable import Captioning

/// Feature files found by fuzzing FeatureStore (Fuzz/Harnesses/Safetensors, docs/fuzzing.md): each
/// used to trap the process on arithmetic overflow and must now be refused with one sentence.
@Suite struct FeatureStoreFuzzFindingsTests {
    func store(header: String, in dir: TemporaryDirectory) throws -> (URL, Result<FeatureStore, Error>) {
        let json = Array(header.utf8)
        let url = dir.url("features.safetensors")
        try Data(withUnsafeBytes(of: UInt64(json.count).littleEndian, Array.init) + json).write(to: url)
        return (url, Result { try FeatureStore(url) })
    }

    func message(_ header: String) throws -> (String, String) {
        let dir = try TemporaryDirectory()
        let (url, result) = try store(header: header, in: dir)
        guard case .failure(let error) = result else {
            Issue.record("\(header) was accepted")
            return ("", url.path)
        }
        return ("\(error)", url.path)
    }

    /// Fuzz/Corpus/Safetensors/crash-feature-offset-overflow: data_offsets near Int.max overflowed
    /// `bodyStart + offsets[1]`.
    @Test func offsetsNearIntMaxAreRefused() throws {
        let (text, path) = try message(#"{"pooled":{"dtype":"F32","shape":[0,1],"data_offsets":[9223372036854775807,9223372036854775807]}}"#)
        #expect(text == "\(path) is truncated (tensor \"pooled\" does not fit in the file): re-create it with `caption features`.")
    }

    @Test func negativeEndOffsetIsRefused() throws {
        let (text, path) = try message(#"{"pooled":{"dtype":"F32","shape":[0,1],"data_offsets":[2,-9223372036854775807]}}"#)
        #expect(text == "\(path) is truncated (tensor \"pooled\" does not fit in the file): re-create it with `caption features`.")
    }

    /// Fuzz/Corpus/Safetensors/crash-shape-product-overflow: the shape's byte size overflowed.
    @Test func shapeWhoseSizeOverflowsIsRefused() throws {
        let (text, path) = try message(#"{"pooled":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}}"#)
        #expect(text == "\(path) has tensor \"pooled\" of shape [4294967296, 4294967296], whose size does not fit in 64 bits: re-create it with `caption features`.")
    }

    /// An empty grid whose rows would be 2⁸⁰ elements: its row size must not overflow later either.
    @Test func emptyGridWithOverflowingRowsIsRefused() throws {
        let (text, path) = try message(#"{"pooled":{"dtype":"F32","shape":[0,1],"data_offsets":[0,0]},"grid":{"dtype":"F16","shape":[0,1099511627776,1099511627776],"data_offsets":[0,0]}}"#)
        #expect(text == "\(path) has a grid of shape [0, 1099511627776, 1099511627776], whose rows do not fit in 64 bits: re-create it with `caption features`.")
    }
}
