/// Resampling filters with the same kernels as Pillow.
public enum Interpolation: String, Sendable, Equatable, CaseIterable {
    case bilinear, bicubic

    /// Half-width of the kernel at scale 1.
    var support: Double { self == .bilinear ? 1.0 : 2.0 }

    func weight(_ distance: Double) -> Double {
        let x = abs(distance)
        switch self {
        case .bilinear:
            return x < 1.0 ? 1.0 - x : 0.0
        case .bicubic:  // Keys' cubic with a = -0.5, written as Pillow writes it
            let a = -0.5
            if x < 1.0 { return ((a + 2.0) * x - (a + 3.0)) * x * x + 1 }
            if x < 2.0 { return (((x - 5) * x + 8) * x - 4) * a }
            return 0.0
        }
    }
}

extension RGBImage {
    /// Pillow's `Image.resize((width, height), BILINEAR or BICUBIC)`, bit for bit: a separable
    /// convolution whose kernel widens with the downscale factor (antialiasing), fixed-point
    /// coefficients with 22 fractional bits, and rounding/clipping to uint8 between the horizontal
    /// and the vertical pass (libImaging/Resample.c).
    public func resized(width newWidth: Int, height newHeight: Int,
                        interpolation: Interpolation = .bilinear) -> RGBImage {
        precondition(newWidth > 0 && newHeight > 0, "resize needs a positive size")
        var image = self
        if newWidth != width {
            image = image.resampledHorizontally(to: newWidth, interpolation)
        }
        if newHeight != height {
            image = image.resampledVertically(to: newHeight, interpolation)
        }
        return image
    }

    private func resampledHorizontally(to newWidth: Int, _ interpolation: Interpolation) -> RGBImage {
        let kernel = ResampleKernel(inputSize: width, outputSize: newWidth, interpolation: interpolation)
        var out = [UInt8](repeating: 0, count: newWidth * height * 3)
        pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                kernel.coefficients.withUnsafeBufferPointer { k in
                    for y in 0..<height {
                        let row = y * width * 3
                        for x in 0..<newWidth {
                            let first = kernel.first[x], taps = kernel.count[x], kOffset = x * kernel.stride
                            var r = ResampleKernel.half, g = ResampleKernel.half, b = ResampleKernel.half
                            for t in 0..<taps {
                                let c = k[kOffset + t], p = row + (first + t) * 3
                                r &+= Int32(src[p]) &* c
                                g &+= Int32(src[p + 1]) &* c
                                b &+= Int32(src[p + 2]) &* c
                            }
                            let o = (y * newWidth + x) * 3
                            dst[o] = ResampleKernel.clip(r); dst[o + 1] = ResampleKernel.clip(g)
                            dst[o + 2] = ResampleKernel.clip(b)
                        }
                    }
                }
            }
        }
        return RGBImage(width: newWidth, height: height, pixels: out)
    }

    private func resampledVertically(to newHeight: Int, _ interpolation: Interpolation) -> RGBImage {
        let kernel = ResampleKernel(inputSize: height, outputSize: newHeight, interpolation: interpolation)
        let rowBytes = width * 3
        var out = [UInt8](repeating: 0, count: newHeight * rowBytes)
        pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                kernel.coefficients.withUnsafeBufferPointer { k in
                    for y in 0..<newHeight {
                        let first = kernel.first[y], taps = kernel.count[y], kOffset = y * kernel.stride
                        for i in 0..<rowBytes {
                            var sum = ResampleKernel.half
                            for t in 0..<taps {
                                sum &+= Int32(src[(first + t) * rowBytes + i]) &* k[kOffset + t]
                            }
                            dst[y * rowBytes + i] = ResampleKernel.clip(sum)
                        }
                    }
                }
            }
        }
        return RGBImage(width: width, height: newHeight, pixels: out)
    }
}

/// Pillow's `precompute_coeffs` + `normalize_coeffs_8bpc` for one axis.
struct ResampleKernel {
    static let precisionBits: Int32 = 32 - 8 - 2
    static let half: Int32 = 1 << (precisionBits - 1)

    /// First input index and number of taps for each output index.
    var first: [Int]
    var count: [Int]
    /// `stride` fixed-point coefficients per output index.
    var coefficients: [Int32]
    var stride: Int

    init(inputSize: Int, outputSize: Int, interpolation: Interpolation) {
        let scale = Double(inputSize) / Double(outputSize)
        let filterScale = max(scale, 1.0)
        let support = interpolation.support * filterScale
        stride = Int(support.rounded(.up)) * 2 + 1
        first = [Int](repeating: 0, count: outputSize)
        count = [Int](repeating: 0, count: outputSize)
        coefficients = [Int32](repeating: 0, count: outputSize * stride)
        var weights = [Double](repeating: 0, count: stride)
        for out in 0..<outputSize {
            let center = (Double(out) + 0.5) * scale
            let lo = max(Int(center - support + 0.5), 0)  // Int() truncates toward zero, like C's cast
            let hi = min(Int(center + support + 0.5), inputSize)
            let taps = hi - lo
            var total = 0.0
            for t in 0..<taps {
                let w = interpolation.weight((Double(t + lo) - center + 0.5) / filterScale)
                weights[t] = w
                total += w
            }
            for t in 0..<taps {
                let w = total != 0.0 ? weights[t] / total : weights[t]
                let fixed = w * Double(1 << Self.precisionBits)
                coefficients[out * stride + t] = Int32(w < 0 ? -0.5 + fixed : 0.5 + fixed)
            }
            first[out] = lo
            count[out] = taps
        }
    }

    @inline(__always)
    static func clip(_ sum: Int32) -> UInt8 {
        let value = sum >> precisionBits
        return value < 0 ? 0 : value > 255 ? 255 : UInt8(value)
    }
}
