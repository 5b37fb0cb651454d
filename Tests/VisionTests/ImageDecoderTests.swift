import Foundation
import Testing
import Vision

@Suite struct ImageDecoderTests {
    static let manifest = try! ImageManifest.load()

    @Test(arguments: manifest.decode.map(\.file))
    func decodesLikePillow(file: String) throws {
        let entry = Self.manifest.decode.first { $0.file == file }!
        let image = try ImageDecoder.decode(contentsOf: FixtureFiles.url("images/" + file))
        #expect(image.width == entry.width)
        #expect(image.height == entry.height)
        let expected = [UInt8](try FixtureFiles.data("images/" + entry.expected))
        guard image.pixels.count == expected.count else {
            Issue.record("\(file): \(image.pixels.count) bytes decoded, Pillow has \(expected.count)")
            return
        }
        let difference = maxAbsoluteDifference(image.pixels, expected)
        print("\(file): max difference from Pillow \(difference) levels")
        #expect(difference <= entry.tolerance, "\(file) differs from Pillow by \(difference) levels (\(entry.note))")
    }

    @Test func sniffsTheFormatFromBytesNotTheName() throws {
        let png = try FixtureFiles.data("images/chelsea.png")
        let image = try ImageDecoder.decode(data: png, name: "misnamed.jpg")
        #expect(image.width == 64 && image.height == 48)
    }

    @Test(arguments: manifest.errors.map(\.file))
    func refusesBadInputWithOneSentenceNamingTheFile(file: String) throws {
        let entry = Self.manifest.errors.first { $0.file == file }!
        let url = FixtureFiles.url("images/" + file)
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
        let jpeg = try FixtureFiles.data("images/chelsea.jpg")
        #expect(throws: ImageError("small.jpg is 64×48 = 0 megapixels, over the 0-megapixel limit; pass --max-pixels to raise it.")) {
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
