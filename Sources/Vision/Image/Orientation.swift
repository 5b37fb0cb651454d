extension RGBImage {
    /// Rotates/flips pixels so that EXIF orientation `orientation` (1–8) becomes 1, like
    /// Pillow's `ImageOps.exif_transpose`.
    public func applyingEXIFOrientation(_ orientation: Int) -> RGBImage {
        guard (2...8).contains(orientation) else { return self }
        let (w, h) = (width, height)
        let swapsAxes = orientation >= 5
        let outWidth = swapsAxes ? h : w
        let outHeight = swapsAxes ? w : h
        // For each output pixel (x, y), where it comes from in the stored image.
        let source: (Int, Int) -> (Int, Int)
        switch orientation {
        case 2: source = { x, y in (w - 1 - x, y) }          // mirrored horizontally
        case 3: source = { x, y in (w - 1 - x, h - 1 - y) }  // rotated 180°
        case 4: source = { x, y in (x, h - 1 - y) }          // mirrored vertically
        case 5: source = { x, y in (y, x) }                  // transposed
        case 6: source = { x, y in (y, h - 1 - x) }          // needs 90° clockwise
        case 7: source = { x, y in (w - 1 - y, h - 1 - x) }  // transversed
        default: source = { x, y in (w - 1 - y, x) }         // 8: needs 90° counter-clockwise
        }
        var out = [UInt8](repeating: 0, count: pixels.count)
        pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for y in 0..<outHeight {
                    for x in 0..<outWidth {
                        let (sx, sy) = source(x, y)
                        let from = (sy * w + sx) * 3, to = (y * outWidth + x) * 3
                        dst[to] = src[from]; dst[to + 1] = src[from + 1]; dst[to + 2] = src[from + 2]
                    }
                }
            }
        }
        return RGBImage(width: outWidth, height: outHeight, pixels: out)
    }
}
