/// Draws random scenes: 1–3 shapes with distinct colour+kind (so every caption can name each one
/// unambiguously), never overlapping, on a plain, gradient or noisy mid-grey background.
public enum SceneSampler {
    public static func scene(using rng: inout SplitMix64, relations: Bool) -> ShapeScene {
        let background = self.background(using: &rng)
        // The relation-heavy variant mostly has pairs and triples, which is where position matters.
        let count = relations ? rng.pick([1, 2, 2, 2, 3, 3, 3, 3, 3, 2]) : rng.int(in: 1...3)
        for _ in 0..<200 {
            if let shapes = placeShapes(count: count, using: &rng),
               !relations || everyShapeHasAClearRelation(shapes) {
                return ShapeScene(background: background, shapes: shapes)
            }
        }
        // Practically unreachable (two or three shapes always fit); a single shape always does.
        let shapes = placeShapes(count: 1, using: &rng) ?? []
        return ShapeScene(background: background, shapes: shapes)
    }

    static func background(using rng: inout SplitMix64) -> Background {
        func grey(_ level: Int) -> RGB {
            // A slight tint keeps backgrounds varied without approaching any shape colour.
            func channel() -> UInt8 { UInt8(clamping: level + rng.int(in: -12...12)) }
            return RGB(channel(), channel(), channel())
        }
        let style = rng.pick(BackgroundStyle.allCases)
        let level = rng.int(in: 95...165)
        let start = grey(level)
        var end = start
        if style == .gradient {
            let other = level < 130 ? level + rng.int(in: 35...50) : level - rng.int(in: 35...50)
            end = grey(other)
        }
        return Background(style: style, color: start, endColor: end, vertical: rng.chance(0.5),
                          noiseAmplitude: style == .noisy ? rng.int(in: 18...32) : 0,
                          noiseSeed: style == .noisy ? rng.next() : 0)
    }

    static func placeShapes(count: Int, using rng: inout SplitMix64) -> [PlacedShape]? {
        var shapes: [PlacedShape] = []
        var usedIdentities: Set<String> = []
        while shapes.count < count {
            var kind = rng.pick(ShapeKind.allCases), color = rng.pick(ShapeColor.allCases)
            while usedIdentities.contains("\(color) \(kind)") {
                kind = rng.pick(ShapeKind.allCases)
                color = rng.pick(ShapeColor.allCases)
            }
            let size = rng.pick(ShapeSize.allCases)
            var placed: PlacedShape?
            for _ in 0..<100 {
                let margin = Int((size.radius * 1.15).rounded(.up)) + 4
                let candidate = PlacedShape(kind: kind, color: color, size: size,
                                            centerX: Double(rng.int(in: margin...(ShapeScene.imageSize - 1 - margin))),
                                            centerY: Double(rng.int(in: margin...(ShapeScene.imageSize - 1 - margin))))
                if shapes.allSatisfy({ gapBetween($0, candidate) >= 10 }) {
                    placed = candidate
                    break
                }
            }
            guard let placed else { return nil }
            shapes.append(placed)
            usedIdentities.insert("\(color) \(kind)")
        }
        return shapes
    }

    static func gapBetween(_ a: PlacedShape, _ b: PlacedShape) -> Double {
        let dx = a.centerX - b.centerX, dy = a.centerY - b.centerY
        return (dx * dx + dy * dy).squareRoot() - a.boundingRadius - b.boundingRadius
    }

    static func everyShapeHasAClearRelation(_ shapes: [PlacedShape]) -> Bool {
        guard shapes.count > 1 else { return ShapeScene.regions(of: shapes[0]) != nil }
        return shapes.allSatisfy { shape in
            shapes.contains { other in other != shape && ShapeScene.relation(of: shape, to: other) != nil }
        }
    }
}
