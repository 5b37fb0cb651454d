import Foundation
import Testing
import TestSupport
import Vision

@Suite struct ResizeAndPreprocessingTests {
    static let manifest = try! ImageManifest.load()

    @Test(arguments: manifest.resize.map(\.expected))
    func resizesLikePillow(expectedFile: String) throws {
        let entry = Self.manifest.resize.first { $0.expected == expectedFile }!
        let source = try ImageDecoder.decode(contentsOf: fixtures.url("images/" + entry.source))
        let method = Interpolation(rawValue: entry.method)!
        let resized = source.resized(width: entry.width, height: entry.height, interpolation: method)
        let expected = [UInt8](try fixtures.data("images/" + expectedFile))
        #expect(resized.width == entry.width && resized.height == entry.height)
        let difference = maxAbsoluteDifference(resized.pixels, expected)
        print("\(expectedFile): max difference from Pillow \(difference) levels")
        #expect(difference == 0, "Pillow parity is exact today; any drift is a regression")
    }

    @Test func resizingToTheSameSizeIsIdentity() throws {
        let source = try ImageDecoder.decode(contentsOf: fixtures.url("images/chelsea.png"))
        #expect(source.resized(width: 64, height: 48, interpolation: .bicubic) == source)
    }

    @Test func torchvisionSizesAndCropOffsets() {
        let recipe = Preprocessing()
        #expect(recipe.resizedSize(width: 451, height: 300) == (384, 256))
        #expect(recipe.resizedSize(width: 300, height: 451) == (256, 384))
        #expect(recipe.resizedSize(width: 500, height: 333) == (384, 256))  // int(256*500/333) = 384
        // (5 - 2) / 2 = 1.5 rounds to 2 under Python's round-half-even, (3 - 2) / 2 = 0.5 to 0.
        let strip = RGBImage(width: 5, height: 3, pixels: (0..<45).map { UInt8($0) })
        let crop = strip.centerCropped(width: 2, height: 2)
        #expect(crop.pixels[0] == UInt8((0 * 5 + 2) * 3))
        // Larger than the image: black padding, the image starting at floor(excess / 2).
        let padded = strip.centerCropped(width: 8, height: 3)
        #expect(padded.pixels[0..<3].allSatisfy { $0 == 0 })
        #expect(padded.pixels[3] == 0 && padded.pixels[6] == 3)
    }

    @Test func fullPhotoMatchesTorchvisionRecipe() throws {
        let entry = Self.manifest.preprocess[0]
        let image = try ImageDecoder.decode(contentsOf: fixtures.url("images/" + entry.file))
        let recipe = Preprocessing(resizeShorter: entry.resizeShorter, crop: entry.crop,
                                   interpolation: Interpolation(rawValue: entry.interpolation)!)
        let tensor = recipe.tensor(for: image)
        let expected = try fixtures.data("images/" + entry.expected).withUnsafeBytes {
            Array($0.bindMemory(to: Float.self))
        }
        #expect(tensor.count == entry.shape.reduce(1, *))
        #expect(tensor.count == expected.count)
        var worst: Float = 0
        for i in expected.indices { worst = max(worst, abs(tensor[i] - expected[i])) }
        print("preprocessing vs \(entry.producer): max abs difference \(worst)")
        #expect(worst <= 1e-2)
    }
}

@Suite struct WindowedResizeTests {
    /// Computing only a window must give exactly the pixels of a full resize cropped afterwards,
    /// for every combination of shrinking, growing and keeping each axis.
    @Test(arguments: [(37, 29), (100, 75), (64, 20), (13, 48), (64, 48), (90, 48)], Interpolation.allCases)
    func windowEqualsFullResizeThenCrop(size: (Int, Int), interpolation: Interpolation) throws {
        let source = try ImageDecoder.decode(contentsOf: fixtures.url("images/chelsea.png"))
        let (width, height) = size
        let full = source.resized(width: width, height: height, interpolation: interpolation)
        for window in [PixelWindow(left: 0, top: 0, width: width, height: height),
                       PixelWindow(left: width / 3, top: height / 4, width: width / 2, height: height / 2),
                       PixelWindow(left: width - 1, top: height - 1, width: 1, height: 1)] {
            let part = source.resized(width: width, height: height, interpolation: interpolation, keeping: window)
            var expected = [UInt8]()
            for y in window.top..<(window.top + window.height) {
                let start = (y * width + window.left) * 3
                expected += full.pixels[start..<(start + window.width * 3)]
            }
            #expect(part.width == window.width && part.height == window.height)
            #expect(part.pixels == expected, "\(size) \(interpolation) \(window)")
        }
    }
}
