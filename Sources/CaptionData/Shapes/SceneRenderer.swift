/// An 8-bit RGB image, rows top to bottom, 3 bytes per pixel.
public struct RGBImage: Sendable, Equatable {
    public var width: Int
    public var height: Int
    public var pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(pixels.count == width * height * 3, "pixel buffer does not match the size")
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    public func pixel(x: Int, y: Int) -> RGB {
        let offset = (y * width + x) * 3
        return RGB(pixels[offset], pixels[offset + 1], pixels[offset + 2])
    }
}

/// Rasterises scenes with signed distance functions: each shape's distance to its outline gives
/// an anti-aliased coverage per pixel without supersampling. Only `sqrt` and arithmetic are used,
/// so the pixels are the same on every IEEE-754 machine.
public enum SceneRenderer {
    public static func render(_ scene: ShapeScene) -> RGBImage {
        let size = ShapeScene.imageSize
        var pixels = backgroundPixels(scene.background, size: size)
        for shape in scene.shapes {
            draw(shape, into: &pixels, size: size)
        }
        return RGBImage(width: size, height: size, pixels: pixels)
    }

    static func backgroundPixels(_ background: Background, size: Int) -> [UInt8] {
        var pixels = [UInt8](repeating: 0, count: size * size * 3)
        var noise = SplitMix64(seed: background.noiseSeed)
        let start = background.color, end = background.endColor
        for y in 0..<size {
            for x in 0..<size {
                let offset = (y * size + x) * 3
                switch background.style {
                case .plain:
                    pixels[offset] = start.r
                    pixels[offset + 1] = start.g
                    pixels[offset + 2] = start.b
                case .gradient:
                    let t = Double(background.vertical ? y : x) / Double(size - 1)
                    pixels[offset] = mix(start.r, end.r, t)
                    pixels[offset + 1] = mix(start.g, end.g, t)
                    pixels[offset + 2] = mix(start.b, end.b, t)
                case .noisy:
                    // Grey noise (one offset for all channels) keeps the colour of the background.
                    let amplitude = background.noiseAmplitude
                    let delta = noise.int(in: -amplitude...amplitude)
                    pixels[offset] = UInt8(clamping: Int(start.r) + delta)
                    pixels[offset + 1] = UInt8(clamping: Int(start.g) + delta)
                    pixels[offset + 2] = UInt8(clamping: Int(start.b) + delta)
                }
            }
        }
        return pixels
    }

    static func mix(_ a: UInt8, _ b: UInt8, _ t: Double) -> UInt8 {
        UInt8(clamping: Int((Double(a) * (1 - t) + Double(b) * t).rounded()))
    }

    static func draw(_ shape: PlacedShape, into pixels: inout [UInt8], size: Int) {
        let reach = shape.boundingRadius + 2
        let minX = max(0, Int((shape.centerX - reach).rounded(.down))), maxX = min(size - 1, Int((shape.centerX + reach).rounded(.up)))
        let minY = max(0, Int((shape.centerY - reach).rounded(.down))), maxY = min(size - 1, Int((shape.centerY + reach).rounded(.up)))
        guard minX <= maxX, minY <= maxY else { return }
        let color = shape.color.rgb
        for y in minY...maxY {
            for x in minX...maxX {
                // Pixel centres; y is flipped so the distance functions can use y-up conventions.
                let px = Double(x) + 0.5 - shape.centerX
                let py = shape.centerY - (Double(y) + 0.5)
                let distance = signedDistance(shape.kind, x: px, y: py, radius: shape.radius)
                let coverage = min(max(0.5 - distance, 0), 1)
                if coverage == 0 { continue }
                let offset = (y * size + x) * 3
                pixels[offset] = blend(pixels[offset], color.r, coverage)
                pixels[offset + 1] = blend(pixels[offset + 1], color.g, coverage)
                pixels[offset + 2] = blend(pixels[offset + 2], color.b, coverage)
            }
        }
    }

    static func blend(_ under: UInt8, _ over: UInt8, _ alpha: Double) -> UInt8 {
        UInt8(clamping: Int((Double(under) * (1 - alpha) + Double(over) * alpha).rounded()))
    }

    /// Distance from (x, y) to the outline, negative inside. The formulas are Inigo Quilez's
    /// exact 2-D distance functions; `radius` is the circumradius of every kind.
    static func signedDistance(_ kind: ShapeKind, x: Double, y: Double, radius: Double) -> Double {
        switch kind {
        case .circle:
            return length(x, y) - radius
        case .square:
            return box(x, y, halfWidth: radius * 0.8, halfHeight: radius * 0.8)
        case .triangle:
            return equilateralTriangle(x, y, halfSide: radius * 0.8660254037844386)
        case .star:
            return star5(x, y, radius: radius, innerRatio: 0.45)
        case .cross:
            return cross(x, y, armLength: radius * 0.95, armHalfWidth: radius * 0.32)
        case .hexagon:
            return hexagon(x, y, apothem: radius * 0.8660254037844386)
        }
    }

    static func length(_ x: Double, _ y: Double) -> Double { (x * x + y * y).squareRoot() }

    static func box(_ x: Double, _ y: Double, halfWidth: Double, halfHeight: Double) -> Double {
        let dx = abs(x) - halfWidth, dy = abs(y) - halfHeight
        return length(max(dx, 0), max(dy, 0)) + min(max(dx, dy), 0)
    }

    /// Pointing up, centred on its centroid; vertices at (±halfSide, −halfSide/√3) and (0, 2·halfSide/√3).
    static func equilateralTriangle(_ x: Double, _ y: Double, halfSide r: Double) -> Double {
        let k = 1.7320508075688772
        var px = abs(x) - r
        var py = y + r / k
        if px + k * py > 0 {
            (px, py) = ((px - k * py) / 2, (-k * px - py) / 2)
        }
        px -= min(max(px, -2 * r), 0)
        return -length(px, py) * (py < 0 ? -1 : 1)
    }

    /// Regular hexagon with flat top and bottom.
    static func hexagon(_ x: Double, _ y: Double, apothem r: Double) -> Double {
        let kx = -0.8660254037844386, ky = 0.5, kz = 0.5773502691896258
        var px = abs(x), py = abs(y)
        let d = 2 * min(kx * px + ky * py, 0)
        px -= d * kx
        py -= d * ky
        px -= min(max(px, -kz * r), kz * r)
        py -= r
        return length(px, py) * (py < 0 ? -1 : 1)
    }

    /// Five-pointed star with one point up; `innerRatio` sets how deep the notches are.
    static func star5(_ x: Double, _ y: Double, radius r: Double, innerRatio rf: Double) -> Double {
        let k1x = 0.809016994374947, k1y = -0.587785252292473
        let k2x = -k1x, k2y = k1y
        var px = abs(x), py = y
        var d = 2 * max(k1x * px + k1y * py, 0)
        px -= d * k1x
        py -= d * k1y
        d = 2 * max(k2x * px + k2y * py, 0)
        px -= d * k2x
        py -= d * k2y
        px = abs(px)
        py -= r
        let bax = rf * -k1y, bay = rf * k1x - 1
        let h = min(max((px * bax + py * bay) / (bax * bax + bay * bay), 0), r)
        let sign: Double = (py * bax - px * bay) < 0 ? -1 : 1
        return length(px - bax * h, py - bay * h) * sign
    }

    /// A plus sign: two bars of half-length `armLength` and half-width `armHalfWidth`.
    static func cross(_ x: Double, _ y: Double, armLength: Double, armHalfWidth: Double) -> Double {
        var px = abs(x), py = abs(y)
        if py > px { swap(&px, &py) }
        let qx = px - armLength, qy = py - armHalfWidth
        let k = max(qy, qx)
        let (wx, wy) = k > 0 ? (qx, qy) : (armHalfWidth - px, -k)
        return (k < 0 ? -1 : 1) * length(max(wx, 0), max(wy, 0))
    }
}
