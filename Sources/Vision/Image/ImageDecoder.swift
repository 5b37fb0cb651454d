import AtomicFiles
import Foundation
import TensorCore

/// Turns JPEG and PNG files into `RGBImage`s, the way Pillow's `Image.open(...).convert("RGB")` would,
/// plus EXIF orientation. The format is sniffed from the magic bytes, never from the file name.
public enum ImageDecoder {
    /// Decompression-bomb guard: images declaring more pixels than this are refused before decoding.
    public static let defaultMaxPixels = 50_000_000

    /// - Parameter name: how error messages refer to the image (usually its path).
    public static func decode(data: Data, name: String, maxPixels: Int = defaultMaxPixels) throws -> RGBImage {
        if data.isEmpty { throw ImageError.empty(name) }
        switch ImageFormat.sniff(data) {
        case .jpeg: return try JPEGDecoder.decode(data, name: name, maxPixels: maxPixels)
        case .png: return try PNGDecoder.decode(data, name: name, maxPixels: maxPixels)
        case nil: throw ImageError.notAnImage(name)
        }
    }

    public static func decode(contentsOf url: URL, maxPixels: Int = defaultMaxPixels) throws -> RGBImage {
        try decode(data: try read(url), name: url.path, maxPixels: maxPixels)
    }

    /// An image file's bytes; a folder, or a file that cannot be read, is one sentence naming it.
    public static func read(_ url: URL) throws -> Data {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), isDirectory.boolValue {
            throw ImageError("\(url.path) is a folder, not an image: give JPEG or PNG files.")
        }
        do {
            return try Data(contentsOf: url)
        } catch {
            throw ImageError("\(url.path) could not be read (\(AtomicFileError.reason(error))): check the path and its permissions.")
        }
    }

    static func checkPixelLimit(width: Int, height: Int, maxPixels: Int, name: String) throws {
        if width.multipliedReportingOverflow(by: height).partialValue > maxPixels {
            throw ImageError.tooManyPixels(name, width: width, height: height, limit: maxPixels)
        }
    }
}

enum ImageFormat {
    case jpeg, png

    static func sniff(_ data: Data) -> ImageFormat? {
        let head = [UInt8](data.prefix(8))
        if head.starts(with: [0xFF, 0xD8, 0xFF]) { return .jpeg }
        if head == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] { return .png }
        return nil
    }
}
