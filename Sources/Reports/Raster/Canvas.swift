import AtomicFiles
import CaptionData
import Foundation
import Vision

/// An 8-bit RGB drawing surface (rows top to bottom, 3 bytes per pixel) for the report figures.
public struct Canvas: Equatable, Sendable {
    public let width: Int
    public let height: Int
    public var pixels: [UInt8]

    public init(width: Int, height: Int, fill: (r: UInt8, g: UInt8, b: UInt8) = (255, 255, 255)) {
        self.width = width
        self.height = height
        pixels = [UInt8](repeating: 0, count: width * height * 3)
        for i in 0..<(width * height) { pixels[i * 3] = fill.r; pixels[i * 3 + 1] = fill.g; pixels[i * 3 + 2] = fill.b }
    }

    /// A decoded picture (Vision's RGB layout is the same as the canvas's).
    public init(_ image: Vision.RGBImage) {
        width = image.width
        height = image.height
        pixels = image.pixels
    }

    public func pixel(x: Int, y: Int) -> (r: UInt8, g: UInt8, b: UInt8) {
        let o = (y * width + x) * 3
        return (pixels[o], pixels[o + 1], pixels[o + 2])
    }

    public mutating func set(x: Int, y: Int, _ color: (r: UInt8, g: UInt8, b: UInt8)) {
        guard x >= 0, y >= 0, x < width, y < height else { return }
        let o = (y * width + x) * 3
        pixels[o] = color.r; pixels[o + 1] = color.g; pixels[o + 2] = color.b
    }

    public mutating func fill(x: Int, y: Int, width w: Int, height h: Int, _ color: (r: UInt8, g: UInt8, b: UInt8)) {
        for row in max(0, y)..<min(height, y + h) { for column in max(0, x)..<min(width, x + w) { set(x: column, y: row, color) } }
    }

    /// Copies `image` with its top-left corner at (x, y), clipped to the canvas.
    public mutating func draw(_ image: Canvas, x: Int, y: Int) {
        for row in 0..<image.height where y + row >= 0 && y + row < height {
            for column in 0..<image.width where x + column >= 0 && x + column < width {
                set(x: x + column, y: y + row, image.pixel(x: column, y: row))
            }
        }
    }

    /// Width in pixels of `text` drawn at `scale`.
    public static func textWidth(_ text: String, scale: Int) -> Int {
        text.isEmpty ? 0 : (text.count * BitmapFont.advance - 1) * scale
    }

    public static func textHeight(scale: Int) -> Int { BitmapFont.glyphHeight * scale }

    /// Draws `text` with the embedded 5×7 font, each font pixel a `scale`×`scale` square; characters
    /// beyond ASCII (other than β) show as "?".
    public mutating func text(_ text: String, x: Int, y: Int, scale: Int = 2, color: (r: UInt8, g: UInt8, b: UInt8) = (0, 0, 0)) {
        for (i, character) in text.enumerated() {
            let left = x + i * BitmapFont.advance * scale
            for fx in 0..<BitmapFont.glyphWidth {
                for fy in 0..<BitmapFont.glyphHeight where BitmapFont.isInk(character, x: fx, y: fy) {
                    fill(x: left + fx * scale, y: y + fy * scale, width: scale, height: scale, color)
                }
            }
        }
    }

    /// `text`, shortened with "..." so that it fits in `width` pixels at `scale`.
    public static func fitting(_ text: String, width: Int, scale: Int) -> String {
        let capacity = max(0, (width / scale + 1) / BitmapFont.advance)
        guard text.count > capacity else { return text }
        return capacity <= 3 ? String(text.prefix(capacity)) : String(text.prefix(capacity - 3)) + "..."
    }

    /// Bilinear resize (pixel centres aligned, as torchvision's align_corners=False).
    public func resized(width newWidth: Int, height newHeight: Int) -> Canvas {
        guard newWidth != width || newHeight != height else { return self }
        var out = Canvas(width: newWidth, height: newHeight)
        for y in 0..<newHeight {
            let (y0, y1, fy) = Self.bilinearTaps(y, from: newHeight, to: height)
            for x in 0..<newWidth {
                let (x0, x1, fx) = Self.bilinearTaps(x, from: newWidth, to: width)
                for c in 0..<3 {
                    func p(_ px: Int, _ py: Int) -> Float { Float(pixels[(py * width + px) * 3 + c]) }
                    let top = p(x0, y0) * (1 - fx) + p(x1, y0) * fx
                    let bottom = p(x0, y1) * (1 - fx) + p(x1, y1) * fx
                    out.pixels[(y * newWidth + x) * 3 + c] = UInt8((top * (1 - fy) + bottom * fy).rounded())
                }
            }
        }
        return out
    }

    /// The two source positions and the weight of the second for output position `i` when `outputSize`
    /// positions cover `inputSize` ones, pixel centres aligned and edges clamped.
    static func bilinearTaps(_ i: Int, from outputSize: Int, to inputSize: Int) -> (Int, Int, Float) {
        let position = min(max((Float(i) + 0.5) * Float(inputSize) / Float(outputSize) - 0.5, 0), Float(inputSize - 1))
        let low = Int(position)
        return (low, min(low + 1, inputSize - 1), position - Float(low))
    }

    public func pngData() throws -> Data {
        try PNGEncoder.encode(CaptionData.RGBImage(width: width, height: height, pixels: pixels))
    }

    /// Writes the canvas as a PNG file atomically (temporary file, then rename).
    public func writePNG(to url: URL) throws {
        try AtomicFile.write(try pngData(), to: url)
    }
}
