/// How an encoder wants its input: torchvision's evaluation recipe
/// `Resize(resizeShorter) → CenterCrop(crop) → ToTensor() → Normalize(mean, std)`.
public struct Preprocessing: Sendable, Equatable {
    public var resizeShorter: Int
    public var crop: Int
    public var interpolation: Interpolation
    public var mean: [Float]
    public var std: [Float]

    /// The defaults are torchvision's ImageNet evaluation recipe.
    public init(resizeShorter: Int = 256, crop: Int = 224, interpolation: Interpolation = .bilinear,
                mean: [Float] = [0.485, 0.456, 0.406], std: [Float] = [0.229, 0.224, 0.225]) {
        precondition(mean.count == 3 && std.count == 3, "mean and std need one value per RGB channel")
        self.resizeShorter = resizeShorter
        self.crop = crop
        self.interpolation = interpolation
        self.mean = mean
        self.std = std
    }

    public static let imageNet = Preprocessing()

    /// The size torchvision's `Resize(n)` gives: shorter side n, longer side `int(n * long / short)`.
    public func resizedSize(width: Int, height: Int) -> (width: Int, height: Int) {
        let short = min(width, height), long = max(width, height)
        let newLong = Int(Double(resizeShorter * long) / Double(short))
        return width <= height ? (resizeShorter, newLong) : (newLong, resizeShorter)
    }

    /// Resized and center-cropped pixels, before normalisation.
    public func cropped(_ image: RGBImage) -> RGBImage {
        let size = resizedSize(width: image.width, height: image.height)
        guard crop <= size.width && crop <= size.height else {  // torchvision pads; rare, so no shortcut
            return image.resized(width: size.width, height: size.height, interpolation: interpolation)
                .centerCropped(width: crop, height: crop)
        }
        // Only the kept square is computed; identical to resizing fully, then cropping.
        let window = PixelWindow(left: RGBImage.centerCropOffset(size: size.width, crop: crop),
                                 top: RGBImage.centerCropOffset(size: size.height, crop: crop),
                                 width: crop, height: crop)
        return image.resized(width: size.width, height: size.height, interpolation: interpolation, keeping: window)
    }

    /// The normalised CHW float tensor (3 × crop × crop) for one image.
    public func tensor(for image: RGBImage) -> [Float] {
        let square = cropped(image)
        let plane = square.width * square.height
        var out = [Float](repeating: 0, count: 3 * plane)
        square.pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for c in 0..<3 {
                    let m = mean[c], s = std[c]
                    for i in 0..<plane {
                        // ToTensor divides by 255, Normalize subtracts then divides, all in float32.
                        dst[c * plane + i] = (Float(src[i * 3 + c]) / 255 - m) / s
                    }
                }
            }
        }
        return out
    }
}

extension RGBImage {
    /// torchvision's `CenterCrop`: offset `int(round((size - crop) / 2))` with Python's round-half-even;
    /// a crop larger than the image pads with black, as torchvision does.
    public func centerCropped(width cropWidth: Int, height cropHeight: Int) -> RGBImage {
        let left = Self.centerCropOffset(size: width, crop: cropWidth)
        let top = Self.centerCropOffset(size: height, crop: cropHeight)
        var out = [UInt8](repeating: 0, count: cropWidth * cropHeight * 3)
        for y in 0..<cropHeight {
            let sy = y + top
            guard sy >= 0 && sy < height else { continue }
            for x in 0..<cropWidth {
                let sx = x + left
                guard sx >= 0 && sx < width else { continue }
                let from = (sy * width + sx) * 3, to = (y * cropWidth + x) * 3
                out[to] = pixels[from]; out[to + 1] = pixels[from + 1]; out[to + 2] = pixels[from + 2]
            }
        }
        return RGBImage(width: cropWidth, height: cropHeight, pixels: out)
    }

    /// Where torchvision's crop starts; negative when the crop is larger and the image gets padded.
    static func centerCropOffset(size: Int, crop: Int) -> Int {
        if crop > size { return -((crop - size) / 2) }  // torchvision pads floor(excess / 2) before
        return Int((Double(size - crop) / 2.0).rounded(.toNearestOrEven))
    }
}
