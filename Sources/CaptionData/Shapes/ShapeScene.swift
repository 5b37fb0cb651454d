/// The description of one Shapes image: everything a caption may say is derived from it.
public enum ShapeKind: String, Sendable, CaseIterable {
    case circle, square, triangle, star, cross, hexagon
}

public enum ShapeColor: String, Sendable, CaseIterable {
    case red, green, blue, yellow, orange, purple, white, black

    /// Saturated or extreme colours, all far from the mid-grey backgrounds.
    public var rgb: RGB {
        switch self {
        case .red: return RGB(220, 30, 35)
        case .green: return RGB(30, 170, 60)
        case .blue: return RGB(35, 75, 225)
        case .yellow: return RGB(245, 220, 30)
        case .orange: return RGB(250, 140, 20)
        case .purple: return RGB(140, 50, 185)
        case .white: return RGB(255, 255, 255)
        case .black: return RGB(0, 0, 0)
        }
    }
}

public enum ShapeSize: String, Sendable, CaseIterable {
    case small, large

    /// Circumradius in pixels at 224×224.
    public var radius: Double { self == .small ? 22 : 38 }
}

public struct RGB: Sendable, Equatable, Hashable {
    public var r: UInt8, g: UInt8, b: UInt8
    public init(_ r: UInt8, _ g: UInt8, _ b: UInt8) {
        self.r = r
        self.g = g
        self.b = b
    }
}

/// One shape in a scene; the centre is in pixels with y growing downwards.
public struct PlacedShape: Sendable, Equatable {
    public var kind: ShapeKind
    public var color: ShapeColor
    public var size: ShapeSize
    public var centerX: Double
    public var centerY: Double

    public init(kind: ShapeKind, color: ShapeColor, size: ShapeSize, centerX: Double, centerY: Double) {
        self.kind = kind
        self.color = color
        self.size = size
        self.centerX = centerX
        self.centerY = centerY
    }

    public var radius: Double { size.radius }
    /// A circle that contains the drawn shape whatever its kind (squares and crosses reach past the radius).
    public var boundingRadius: Double { radius * 1.15 }
}

public enum BackgroundStyle: String, Sendable, CaseIterable {
    case plain, gradient, noisy
}

public struct Background: Sendable, Equatable {
    public var style: BackgroundStyle
    /// The plain colour, the gradient's start, or the noise's mean.
    public var color: RGB
    /// The gradient's end colour (equal to `color` otherwise).
    public var endColor: RGB
    /// Gradient runs top to bottom when true, left to right otherwise.
    public var vertical: Bool
    /// Noise amplitude (± per channel) and the seed of its own generator.
    public var noiseAmplitude: Int
    public var noiseSeed: UInt64

    public init(style: BackgroundStyle, color: RGB, endColor: RGB, vertical: Bool, noiseAmplitude: Int, noiseSeed: UInt64) {
        self.style = style
        self.color = color
        self.endColor = endColor
        self.vertical = vertical
        self.noiseAmplitude = noiseAmplitude
        self.noiseSeed = noiseSeed
    }
}

/// Where one shape is relative to another, judged between centres.
public enum SpatialRelation: String, Sendable, CaseIterable {
    case leftOf, rightOf, above, below
}

/// The image's thirds, for phrases such as "in the top left corner".
public enum HorizontalRegion: String, Sendable { case left, center, right }
public enum VerticalRegion: String, Sendable { case top, middle, bottom }

public struct ShapeScene: Sendable, Equatable {
    public static let imageSize = 224

    public var background: Background
    public var shapes: [PlacedShape]

    public init(background: Background, shapes: [PlacedShape]) {
        self.background = background
        self.shapes = shapes
    }

    /// The relation of `a` to `b`, only when it is unmistakable: the centres are at least 30 px apart
    /// along one axis and that offset is at least twice the other one. Diagonal pairs get none,
    /// so a caption never claims "above" for something mostly beside.
    public static func relation(of a: PlacedShape, to b: PlacedShape) -> SpatialRelation? {
        let dx = b.centerX - a.centerX, dy = b.centerY - a.centerY
        if abs(dx) >= 30 && abs(dx) >= 2 * abs(dy) { return dx > 0 ? .leftOf : .rightOf }
        if abs(dy) >= 30 && abs(dy) >= 2 * abs(dx) { return dy > 0 ? .above : .below }
        return nil
    }

    /// Side by side and close: a clear left/right relation with at most 36 px between the outlines.
    public static func isNextTo(_ a: PlacedShape, _ b: PlacedShape) -> Bool {
        guard let relation = relation(of: a, to: b), relation == .leftOf || relation == .rightOf else { return false }
        let dx = a.centerX - b.centerX, dy = a.centerY - b.centerY
        return (dx * dx + dy * dy).squareRoot() - a.radius - b.radius <= 36
    }

    /// The third of the image a centre lies in, or nil when it is within 10 px of a border between
    /// thirds (too close to call in words).
    public static func regions(of shape: PlacedShape) -> (HorizontalRegion, VerticalRegion)? {
        let third = Double(imageSize) / 3
        func index(_ value: Double) -> Int? {
            for boundary in [third, 2 * third] where abs(value - boundary) < 10 { return nil }
            return value < third ? 0 : (value < 2 * third ? 1 : 2)
        }
        guard let column = index(shape.centerX), let row = index(shape.centerY) else { return nil }
        return ([HorizontalRegion.left, .center, .right][column], [VerticalRegion.top, .middle, .bottom][row])
    }
}
