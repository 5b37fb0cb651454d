import CPNG
import Foundation

/// PNG through libpng's simplified API, which handles palette, grayscale, alpha, 16-bit and interlacing
/// and reports errors without setjmp. Alpha is dropped rather than composited, as Pillow's
/// `convert("RGB")` does; 16-bit samples are taken as sRGB (not linear) so they are only rescaled.
enum PNGDecoder {
    // png.h's format and flag bits (function-like macros do not reach Swift).
    private static let formatFlagAlpha: UInt32 = 0x01
    private static let formatRGB: UInt32 = 0x02
    private static let formatRGBA: UInt32 = 0x03
    private static let flag16BitSRGB: UInt32 = 0x04

    static func decode(_ data: Data, name: String, maxPixels: Int) throws -> RGBImage {
        try withoutGammaChunk(data).withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> RGBImage in
            var image = png_image()
            image.version = UInt32(PNG_IMAGE_VERSION)
            guard png_image_begin_read_from_memory(&image, raw.baseAddress, raw.count) != 0 else {
                defer { png_image_free(&image) }
                throw ImageError.corruptPNG(name, message(image))
            }
            let width = Int(image.width), height = Int(image.height)
            do {
                try ImageDecoder.checkPixelLimit(width: width, height: height, maxPixels: maxPixels, name: name)
            } catch {
                png_image_free(&image)
                throw error
            }
            let hasAlpha = image.format & formatFlagAlpha != 0
            let channels = hasAlpha ? 4 : 3
            // Asking for an alpha-less format would composite; read RGBA and drop alpha ourselves instead.
            image.format = hasAlpha ? formatRGBA : formatRGB
            image.flags |= flag16BitSRGB
            var buffer = [UInt8](repeating: 0, count: width * height * channels)
            let ok = buffer.withUnsafeMutableBytes { out in
                png_image_finish_read(&image, nil, out.baseAddress, Int32(width * channels), nil)
            }
            guard ok != 0 else {
                let detail = message(image)
                png_image_free(&image)
                throw ImageError.corruptPNG(name, detail)
            }
            png_image_free(&image)
            let decoded = RGBImage(width: width, height: height, pixels: hasAlpha ? droppingAlpha(buffer) : buffer)
            return decoded.applyingEXIFOrientation(exifOrientation(in: raw))
        }
    }

    /// libpng's simplified API converts from the file's gAMA to sRGB when it touches samples (16-bit,
    /// alpha); Pillow (and torchvision after it) ignores gAMA. Removing the chunk makes libpng do the same.
    static func withoutGammaChunk(_ data: Data) -> Data {
        let bytes = [UInt8](data)
        var position = 8  // after the signature
        while position + 12 <= bytes.count {
            let length = Int(bytes[position]) << 24 | Int(bytes[position + 1]) << 16
                | Int(bytes[position + 2]) << 8 | Int(bytes[position + 3])
            let type = bytes[(position + 4)..<(position + 8)]
            let end = position + 12 + length
            if type.elementsEqual("gAMA".utf8) {
                guard end <= bytes.count else { return data }
                return Data(bytes[..<position] + bytes[end...])
            }
            if type.elementsEqual("IDAT".utf8) || end > bytes.count { return data }  // gAMA must precede IDAT
            position = end
        }
        return data
    }

    /// The orientation from an eXIf chunk (a bare TIFF header, as in JPEG's APP1), or 1.
    static func exifOrientation(in png: UnsafeRawBufferPointer) -> Int {
        var position = 8
        while position + 12 <= png.count {
            let length = Int(png[position]) << 24 | Int(png[position + 1]) << 16
                | Int(png[position + 2]) << 8 | Int(png[position + 3])
            let type = png[(position + 4)..<(position + 8)]
            let dataStart = position + 8
            guard length >= 0, length <= png.count - dataStart - 4 else { return 1 }
            if type.elementsEqual("eXIf".utf8) {
                let tiff = UnsafeRawBufferPointer(rebasing: png[dataStart..<(dataStart + length)])
                return JPEGMetadata.orientation(inTIFF: tiff) ?? 1
            }
            if type.elementsEqual("IEND".utf8) { return 1 }
            position = dataStart + length + 4
        }
        return 1
    }

    private static func droppingAlpha(_ rgba: [UInt8]) -> [UInt8] {
        let count = rgba.count / 4
        var rgb = [UInt8](repeating: 0, count: count * 3)
        for i in 0..<count {
            rgb[i * 3] = rgba[i * 4]; rgb[i * 3 + 1] = rgba[i * 4 + 1]; rgb[i * 3 + 2] = rgba[i * 4 + 2]
        }
        return rgb
    }

    private static func message(_ image: png_image) -> String {
        var text = image.message
        let string = withUnsafeBytes(of: &text) { bytes in
            String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
        }
        return string.isEmpty ? "libpng could not read it" : string
    }
}
