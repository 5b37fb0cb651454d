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

/// A rectangle of a (possibly not yet computed) image, in pixels.
public struct PixelWindow: Sendable, Equatable {
    public var left, top, width, height: Int

    public init(left: Int, top: Int, width: Int, height: Int) {
        (self.left, self.top, self.width, self.height) = (left, top, width, height)
    }
}

extension RGBImage {
    /// Pillow's `Image.resize((width, height), BILINEAR or BICUBIC)`, bit for bit: a separable
    /// convolution whose kernel widens with the downscale factor (antialiasing), fixed-point
    /// coefficients with 22 fractional bits, and rounding/clipping to uint8 between the horizontal
    /// and the vertical pass (libImaging/Resample.c).
    public func resized(width newWidth: Int, height newHeight: Int,
                        interpolation: Interpolation = .bilinear) -> RGBImage {
        resized(width: newWidth, height: newHeight, interpolation: interpolation,
                keeping: PixelWindow(left: 0, top: 0, width: newWidth, height: newHeight))
    }

    /// `resized(width:height:)` followed by cropping to `window`, computing only the kept pixels.
    /// Each output pixel depends only on its own kernel, so the result is identical to resizing
    /// everything and cropping afterwards.
    public func resized(width newWidth: Int, height newHeight: Int, interpolation: Interpolation,
                        keeping window: PixelWindow) -> RGBImage {
        precondition(newWidth > 0 && newHeight > 0, "resize needs a positive size")
        precondition(window.left >= 0 && window.top >= 0 && window.width > 0 && window.height > 0
                     && window.left + window.width <= newWidth && window.top + window.height <= newHeight,
                     "the kept window must lie inside the resized image")
        // Pillow skips a pass when that axis keeps its size.
        let vertical = newHeight != height
            ? ResampleKernel(inputSize: height, outputSize: newHeight, interpolation: interpolation) : nil
        // Input rows the kept output rows read from.
        let rows = vertical.map { kernel in
            kernel.first[window.top]..<(kernel.first[window.top + window.height - 1]
                                        + kernel.count[window.top + window.height - 1])
        } ?? window.top..<(window.top + window.height)
        let columns = window.left..<(window.left + window.width)
        let horizontal = newWidth != width
            ? ResampleKernel(inputSize: width, outputSize: newWidth, interpolation: interpolation) : nil
        let band = horizontal.map { resampledHorizontally(rows: rows, columns: columns, kernel: $0) }
            ?? cropped(rows: rows, columns: columns)
        guard let vertical else { return band }
        return band.resampledVertically(outputRows: window.top..<(window.top + window.height),
                                        firstInputRow: rows.lowerBound, kernel: vertical)
    }

    private func cropped(rows: Range<Int>, columns: Range<Int>) -> RGBImage {
        var out = [UInt8]()
        out.reserveCapacity(rows.count * columns.count * 3)
        for y in rows {
            out.append(contentsOf: pixels[((y * width + columns.lowerBound) * 3)..<((y * width + columns.upperBound) * 3)])
        }
        return RGBImage(width: columns.count, height: rows.count, pixels: out)
    }

    /// Horizontal pass over input `rows`, producing output `columns` of the resized width.
    private func resampledHorizontally(rows: Range<Int>, columns: Range<Int>, kernel: ResampleKernel) -> RGBImage {
        let outWidth = columns.count
        var out = [UInt8](repeating: 0, count: outWidth * rows.count * 3)
        let (inRowBytes, outRowBytes, stride) = (width * 3, outWidth * 3, kernel.stride)
        pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                kernel.coefficients.withUnsafeBufferPointer { k in
                    kernel.first.withUnsafeBufferPointer { first in
                        kernel.count.withUnsafeBufferPointer { taps in
                            for (outY, y) in rows.enumerated() {
                                let row = src.baseAddress! + y * inRowBytes
                                var outPixel = dst.baseAddress! + outY * outRowBytes
                                for x in columns {
                                    let weights = k.baseAddress! + x * stride
                                    var p = row + first[x] * 3
                                    var r = ResampleKernel.half, g = ResampleKernel.half, b = ResampleKernel.half
                                    for t in 0..<taps[x] {
                                        let c = weights[t]
                                        r &+= Int32(p[0]) &* c
                                        g &+= Int32(p[1]) &* c
                                        b &+= Int32(p[2]) &* c
                                        p += 3
                                    }
                                    outPixel[0] = ResampleKernel.clip(r)
                                    outPixel[1] = ResampleKernel.clip(g)
                                    outPixel[2] = ResampleKernel.clip(b)
                                    outPixel += 3
                                }
                            }
                        }
                    }
                }
            }
        }
        return RGBImage(width: outWidth, height: rows.count, pixels: out)
    }

    /// Vertical pass producing `outputRows` of the resized height; this image holds input rows
    /// starting at `firstInputRow`.
    private func resampledVertically(outputRows: Range<Int>, firstInputRow: Int, kernel: ResampleKernel) -> RGBImage {
        let rowBytes = width * 3
        var out = [UInt8](repeating: 0, count: outputRows.count * rowBytes)
        // Accumulate whole rows at a time: the same sums as Pillow's per-pixel loop, in an order the
        // compiler can vectorise.
        var sums = [Int32](repeating: 0, count: rowBytes)
        pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                sums.withUnsafeMutableBufferPointer { acc in
                    for (outY, y) in outputRows.enumerated() {
                        for i in 0..<rowBytes { acc[i] = ResampleKernel.half }
                        for t in 0..<kernel.count[y] {
                            let c = kernel.coefficients[y * kernel.stride + t]
                            let row = src.baseAddress! + (kernel.first[y] + t - firstInputRow) * rowBytes
                            for i in 0..<rowBytes { acc[i] &+= Int32(row[i]) &* c }
                        }
                        let outRow = dst.baseAddress! + outY * rowBytes
                        for i in 0..<rowBytes { outRow[i] = ResampleKernel.clip(acc[i]) }
                    }
                }
            }
        }
        return RGBImage(width: width, height: outputRows.count, pixels: out)
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
