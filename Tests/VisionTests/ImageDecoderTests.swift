import Foundation
import Testing
import TestSupport
import Vision

@Suite struct ImageDecoderTests {
    static let manifest = try! ImageManifest.load()

    @Test(arguments: manifest.decode.map(\.file))
    func decodesLikePillow(file: String) throws {
        let entry = Self.manifest.decode.first { $0.file == file }!
        let image = try ImageDecoder.decode(contentsOf: fixtures.url("images/" + file))
        #expect(image.width == entry.width)
        #expect(image.height == entry.height)
        let expected = [UInt8](try fixtures.data("images/" + entry.expected))
        guard image.pixels.count == expected.count else {
            Issue.record("\(file): \(image.pixels.count) bytes decoded, Pillow has \(expected.count)")
            return
        }
        let difference = maxAbsoluteDifference(image.pixels, expected)
        print("\(file): max difference from Pillow \(difference) levels")
        #expect(difference <= entry.tolerance, "\(file) differs from Pillow by \(difference) levels (\(entry.note))")
    }

    @Test func sniffsTheFormatFromBytesNotTheName() throws {
        let png = try fixtures.data("images/chelsea.png")
        let image = try ImageDecoder.decode(data: png, name: "misnamed.jpg")
        #expect(image.width == 64 && image.height == 48)
    }

    @Test(arguments: manifest.errors.map(\.file))
    func refusesBadInputWithOneSentenceNamingTheFile(file: String) throws {
        let entry = Self.manifest.errors.first { $0.file == file }!
        let url = fixtures.url("images/" + file)
        do {
            _ = try ImageDecoder.decode(contentsOf: url)
            Issue.record("\(file) decoded without an error")
        } catch let error as ImageError {
            let message = error.description
            print("\(file): \(message)")
            #expect(message.contains(url.path), "\(message)")
            #expect(message.contains(entry.contains), "\(message)")
            #expect(!message.contains("\n"))
        }
    }

    @Test func pixelLimitIsCheckedBeforeDecodingAndCanBeRaised() throws {
        let jpeg = try fixtures.data("images/chelsea.jpg")
        #expect(throws: ImageError("small.jpg is 64×48 = 0 megapixels, over the 0-megapixel limit; pass --max-pixels to raise it.", isPixelLimit: true)) {
            try ImageDecoder.decode(data: jpeg, name: "small.jpg", maxPixels: 3000)
        }
        #expect(try ImageDecoder.decode(data: jpeg, name: "small.jpg", maxPixels: 64 * 48).width == 64)
    }

    @Test func missingFileIsReportedByName() {
        let url = URL(fileURLWithPath: "/nonexistent/photo.jpg")
        #expect(throws: ImageError.self) { try ImageDecoder.decode(contentsOf: url) }
    }

    @Test func orientationsAreInverseOfEachOther() {
        let image = RGBImage(width: 3, height: 2, pixels: (0..<18).map { UInt8($0) })
        // 6 (rotate clockwise) then 8 (rotate counter-clockwise) gives the original back.
        #expect(image.applyingEXIFOrientation(6).applyingEXIFOrientation(8) == image)
        #expect(image.applyingEXIFOrientation(3).applyingEXIFOrientation(3) == image)
        #expect(image.applyingEXIFOrientation(6).width == 2)
        #expect(image.applyingEXIFOrientation(1) == image)
    }
}

/// Cut-short and damaged images must give an ImageError or a picture, never a crash.
@Suite struct ImageRobustnessTests {
    @Test(arguments: ["chelsea.jpg", "chelsea_progressive.jpg", "chelsea.png", "chelsea_interlaced.png"])
    func truncationsAreErrors(file: String) throws {
        let data = try fixtures.data("images/" + file)
        // Only cuts into the picture itself: a PNG missing just its IEND chunk (12 bytes) or a JPEG
        // missing just its EOI marker still holds every pixel, and Pillow accepts those too.
        let end = data.count - (file.hasSuffix(".png") ? 12 : 2)
        for length in Swift.stride(from: 0, to: end, by: 7) {
            #expect(throws: ImageError.self, "\(file) cut to \(length) bytes") {
                try ImageDecoder.decode(data: data.prefix(length), name: file)
            }
        }
    }

    @Test(arguments: ["chelsea.jpg", "chelsea_cmyk.jpg", "chelsea_exif6.jpg", "chelsea_palette.png"])
    func corruptedBytesNeverCrash(file: String) throws {
        let original = [UInt8](try fixtures.data("images/" + file))
        for position in Swift.stride(from: 0, to: original.count, by: 3) {
            var corrupted = original
            corrupted[position] ^= 0x5A
            do {
                let image = try ImageDecoder.decode(data: Data(corrupted), name: file)
                #expect(image.pixels.count == image.width * image.height * 3)
            } catch is ImageError {
                continue
            }
        }
    }
}
