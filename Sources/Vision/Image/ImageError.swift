/// Why an image could not be read: one plain sentence that names the file.
public struct ImageError: Error, CustomStringConvertible, Sendable, Equatable {
    public let description: String
    /// The image is readable but has more pixels than the limit allows.
    public let isPixelLimit: Bool

    public init(_ description: String, isPixelLimit: Bool = false) {
        self.description = description
        self.isPixelLimit = isPixelLimit
    }

    static func empty(_ name: String) -> ImageError {
        ImageError("\(name) is empty (0 bytes), so it is not an image.")
    }

    static func notAnImage(_ name: String) -> ImageError {
        ImageError("\(name) is not a JPEG or PNG image (its first bytes match neither format).")
    }

    static func corruptJPEG(_ name: String, _ detail: String) -> ImageError {
        ImageError("\(name) is a truncated or corrupt JPEG: \(detail).")
    }

    static func corruptPNG(_ name: String, _ detail: String) -> ImageError {
        ImageError("\(name) is a truncated or corrupt PNG: \(detail).")
    }

    public static func tooManyPixels(_ name: String, width: Int, height: Int, limit: Int) -> ImageError {
        ImageError("\(name) is \(width)×\(height) = \(megapixels(width * height)) megapixels, over the "
            + "\(megapixels(limit))-megapixel limit; pass --max-pixels to raise it.", isPixelLimit: true)
    }

    /// "400", "0.3", "12.5": whole numbers without a decimal point, otherwise one decimal.
    private static func megapixels(_ pixels: Int) -> String {
        let tenths = (pixels + 50_000) / 100_000
        return tenths % 10 == 0 ? "\(tenths / 10)" : "\(tenths / 10).\(tenths % 10)"
    }
}
