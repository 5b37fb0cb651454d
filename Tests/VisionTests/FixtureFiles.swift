import Foundation
import TestSupport

/// The committed fixtures of this test target (tools/reference/make_*_fixtures.py write them).
let fixtures = Fixtures(bundle: .module)

/// Tests/VisionTests/Fixtures/images/manifest.json, written by tools/reference/make_vision_fixtures.py.
struct ImageManifest: Decodable {
    struct Decode: Decodable {
        let file: String
        let width: Int
        let height: Int
        let expected: String
        let tolerance: Int
        let note: String
    }
    struct Resize: Decodable {
        let source: String
        let width: Int
        let height: Int
        let method: String
        let expected: String
    }
    struct BadInput: Decodable {
        let file: String
        let contains: String
    }
    struct Preprocess: Decodable {
        let file: String
        let expected: String
        let shape: [Int]
        let producer: String
        let resizeShorter: Int
        let crop: Int
        let interpolation: String
    }
    let decode: [Decode]
    let resize: [Resize]
    let errors: [BadInput]
    let preprocess: [Preprocess]

    static func load() throws -> ImageManifest {
        try fixtures.json(ImageManifest.self, "images/manifest.json")
    }
}

/// The largest absolute difference between two byte arrays of equal length.
func maxAbsoluteDifference(_ a: [UInt8], _ b: [UInt8]) -> Int {
    precondition(a.count == b.count)
    var worst = 0
    for i in a.indices { worst = max(worst, abs(Int(a[i]) - Int(b[i]))) }
    return worst
}
