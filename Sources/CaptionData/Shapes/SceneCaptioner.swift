/// Writes reference captions for a scene from varied templates and synonyms. Every caption names
/// every shape by colour and kind; sizes, relations, regions and backgrounds are only mentioned
/// when they hold (relations and regions only when unmistakable, see `ShapeScene`).
public enum SceneCaptioner {
    static let sizeWords: [ShapeSize: [String]] = [.small: ["small", "little", "tiny"], .large: ["large", "big"]]
    static let colorWords: [ShapeColor: [String]] = [.purple: ["purple", "violet"]]
    static let kindWords: [ShapeKind: [String]] = [.circle: ["circle", "disc"]]
    static let relationWords: [SpatialRelation: [String]] = [
        .leftOf: ["to the left of", "left of", "on the left of"],
        .rightOf: ["to the right of", "right of", "on the right of"],
        .above: ["above", "over"],
        .below: ["below", "under", "beneath", "underneath"],
    ]
    static let nextToWords = ["next to", "beside"]
    static let backgroundWords: [BackgroundStyle: [String]] = [
        .plain: ["plain", "flat", "uniform"], .gradient: ["gradient", "shaded"], .noisy: ["noisy", "grainy", "speckled"],
    ]
    static let countWords = [1: "one", 2: "two", 3: "three"]

    /// `count` different captions; with `relations` most of them hinge on where the shapes are.
    public static func captions(for scene: ShapeScene, count: Int = 5, relations: Bool,
                                using rng: inout SplitMix64) -> [String] {
        var writer = Writer(scene: scene, rng: rng)
        let positional = writer.canDescribePositions
        let positionalWanted = positional ? (relations ? count - 1 : 2) : 0
        var captions: [String] = []
        func add(_ make: (inout Writer) -> String?, attempts: Int) {
            for _ in 0..<attempts {
                if let caption = make(&writer), !captions.contains(caption) {
                    captions.append(caption)
                    return
                }
            }
        }
        for slot in 0..<count {
            if slot < positionalWanted { add({ $0.positionalCaption() }, attempts: 40) }
            if captions.count <= slot { add({ $0.plainCaption() }, attempts: 60) }
            if captions.count <= slot, positional { add({ $0.positionalCaption() }, attempts: 60) }
        }
        // Positional captions first for no reason a model could exploit: shuffle the order.
        rng = writer.rng
        rng.shuffle(&captions)
        return captions
    }

    struct Writer {
        let scene: ShapeScene
        var rng: SplitMix64

        var shapes: [PlacedShape] { scene.shapes }

        /// Ordered pairs (a, b) with a clear relation of a to b.
        var relatedPairs: [(PlacedShape, PlacedShape)] {
            var pairs: [(PlacedShape, PlacedShape)] = []
            for a in shapes { for b in shapes where a != b && ShapeScene.relation(of: a, to: b) != nil { pairs.append((a, b)) } }
            return pairs
        }

        var everyShapeHasARegion: Bool { shapes.allSatisfy { ShapeScene.regions(of: $0) != nil } }
        var canDescribePositions: Bool { !relatedPairs.isEmpty || everyShapeHasARegion }

        // MARK: words

        mutating func word(_ choices: [String]) -> String { rng.pick(choices) }

        /// "a small red circle", "the violet disc", "an orange star".
        mutating func nounPhrase(_ shape: PlacedShape, definite: Bool = false) -> String {
            var words: [String] = []
            if rng.chance(0.5) { words.append(word(SceneCaptioner.sizeWords[shape.size]!)) }
            words.append(word(SceneCaptioner.colorWords[shape.color] ?? [shape.color.rawValue]))
            words.append(word(SceneCaptioner.kindWords[shape.kind] ?? [shape.kind.rawValue]))
            let phrase = words.joined(separator: " ")
            if definite { return "the " + phrase }
            return (phrase.first.map { "aeiou".contains($0) } == true ? "an " : "a ") + phrase
        }

        mutating func relationPhrase(_ a: PlacedShape, _ b: PlacedShape) -> String {
            let relation = ShapeScene.relation(of: a, to: b)!
            if ShapeScene.isNextTo(a, b) && rng.chance(0.35) { return word(SceneCaptioner.nextToWords) }
            return word(SceneCaptioner.relationWords[relation]!)
        }

        mutating func regionPhrase(_ shape: PlacedShape) -> String {
            let (column, row) = ShapeScene.regions(of: shape)!
            switch (row, column) {
            case (.middle, .center): return word(["in the center", "in the middle"])
            case (.middle, _): return word(["on the \(column.rawValue)", "at the \(column.rawValue)"])
            case (_, .center): return word(["at the \(row.rawValue)", "near the \(row.rawValue)"])
            default: return word(["in the \(row.rawValue) \(column.rawValue) corner", "at the \(row.rawValue) \(column.rawValue)"])
            }
        }

        mutating func backgroundPhrase() -> String {
            "on a \(word(SceneCaptioner.backgroundWords[scene.background.style]!)) background"
        }

        /// "a red circle", "a red circle and a blue star", "a red circle, a blue star and a green cross".
        mutating func list(_ items: [PlacedShape]) -> String {
            var phrases: [String] = []
            for item in items { phrases.append(nounPhrase(item)) }
            return Self.join(phrases)
        }

        static func join(_ phrases: [String]) -> String {
            phrases.count <= 1 ? phrases.joined() : phrases.dropLast().joined(separator: ", ") + " and " + phrases.last!
        }

        mutating func shuffledShapes() -> [PlacedShape] {
            var order = shapes
            rng.shuffle(&order)
            return order
        }

        // MARK: captions

        /// Names the shapes and possibly the background, nothing about position.
        mutating func plainCaption() -> String? {
            let order = shuffledShapes()
            let listed = list(order)
            let count = SceneCaptioner.countWords[order.count]!
            let noun = order.count == 1 ? "shape" : "shapes"
            switch rng.below(7) {
            case 0: return listed
            case 1: return "\(listed) \(backgroundPhrase())"
            case 2: return order.count == 1 ? "a single \(nounPhrase(order[0]).split(separator: " ", maxSplits: 1)[1])"
                                            : "\(count) \(noun): \(listed)"
            case 3: return "a picture of \(listed)"
            case 4: return order.count == 1 ? "there is \(listed) \(backgroundPhrase())" : "there are \(count) \(noun), \(listed)"
            case 5: return "an image with \(listed)"
            default: return "\(count) \(noun) \(backgroundPhrase()): \(listed)"
            }
        }

        /// Hinges on position: a relation between two shapes, or where each shape is in the frame.
        mutating func positionalCaption() -> String? {
            let pairs = relatedPairs
            if pairs.isEmpty || (everyShapeHasARegion && rng.chance(0.25)) {
                return everyShapeHasARegion ? regionCaption() : nil
            }
            let (first, second) = rng.pick(pairs)
            let rest = shapes.filter { $0 != first && $0 != second }
            guard let third = rest.first else { return pairRelationCaption(first, second) }
            return tripleRelationCaption(first, second, third)
        }

        mutating func regionCaption() -> String {
            var parts: [String] = []
            for shape in shuffledShapes() { parts.append("\(nounPhrase(shape)) \(regionPhrase(shape))") }
            let described = Self.join(parts)
            switch rng.below(4) {
            case 0: return described
            case 1: return "there is \(described)"
            case 2: return "\(described) \(backgroundPhrase())"
            default: return "an image with \(described)"
            }
        }

        mutating func pairRelationCaption(_ a: PlacedShape, _ b: PlacedShape) -> String {
            switch rng.below(7) {
            case 0: return "\(nounPhrase(a)) \(relationPhrase(a, b)) \(nounPhrase(b))"
            case 1: return "there is \(nounPhrase(a)) \(relationPhrase(a, b)) \(nounPhrase(b))"
            case 2: return "\(nounPhrase(a)) is \(relationPhrase(a, b)) \(nounPhrase(b))"
            case 3: return "\(nounPhrase(b)) with \(nounPhrase(a)) \(relationPhrase(a, b)) it"
            case 4: return "\(nounPhrase(b)) and \(nounPhrase(a)) \(relationPhrase(a, b)) it"
            case 5: return "\(nounPhrase(a)) sitting \(relationPhrase(a, b)) \(nounPhrase(b))"
            default: return "\(nounPhrase(a)) \(relationPhrase(a, b)) \(nounPhrase(b)) \(backgroundPhrase())"
            }
        }

        mutating func tripleRelationCaption(_ a: PlacedShape, _ b: PlacedShape, _ c: PlacedShape) -> String {
            // The third shape gets its own relation or region: "a next to b and c" would be ambiguous
            // (is the relation to b alone or to both?).
            let anchors = [a, b].filter { ShapeScene.relation(of: c, to: $0) != nil }
            if let anchor = anchors.isEmpty ? nil : rng.pick(anchors) {
                if rng.chance(0.5) {
                    return "\(nounPhrase(a)) \(relationPhrase(a, b)) \(nounPhrase(b)), with \(nounPhrase(c)) \(relationPhrase(c, anchor)) \(nounPhrase(anchor, definite: true))"
                }
                return "\(nounPhrase(a)) is \(relationPhrase(a, b)) \(nounPhrase(b)) and \(nounPhrase(c)) is \(relationPhrase(c, anchor)) \(nounPhrase(anchor, definite: true))"
            }
            if ShapeScene.regions(of: c) != nil {
                return "\(nounPhrase(a)) \(relationPhrase(a, b)) \(nounPhrase(b)), and \(nounPhrase(c)) \(regionPhrase(c))"
            }
            // Naming the unrelated shape first keeps the relation attached to the right pair.
            return "\(nounPhrase(c)), and \(nounPhrase(a)) \(relationPhrase(a, b)) \(nounPhrase(b))"
        }
    }
}
