import CaptionData

/// Reads a Shapes caption back into claims (which shapes, sizes, counts, relations, regions,
/// background) and checks each against the scene. Written independently of the generator's
/// templates: it only knows the vocabulary, so any phrasing the generator invents is still checked.
struct CaptionTruthChecker {
    let scene: ShapeScene

    static let sizes: [String: ShapeSize] = ["small": .small, "little": .small, "tiny": .small, "large": .large, "big": .large]
    static let colors: [String: ShapeColor] = Dictionary(uniqueKeysWithValues: ShapeColor.allCases.map { ($0.rawValue, $0) })
        .merging(["violet": .purple]) { $1 }
    static let kinds: [String: ShapeKind] = Dictionary(uniqueKeysWithValues: ShapeKind.allCases.map { ($0.rawValue, $0) })
        .merging(["disc": .circle]) { $1 }
    static let backgrounds: [String: BackgroundStyle] = [
        "plain": .plain, "flat": .plain, "uniform": .plain, "gradient": .gradient, "shaded": .gradient,
        "noisy": .noisy, "grainy": .noisy, "speckled": .noisy,
    ]
    /// Relation phrases, longest first so "on the left of" wins over "left of".
    static let relations: [([String], String)] = [
        (["to", "the", "left", "of"], "left"), (["on", "the", "left", "of"], "left"), (["left", "of"], "left"),
        (["to", "the", "right", "of"], "right"), (["on", "the", "right", "of"], "right"), (["right", "of"], "right"),
        (["next", "to"], "next"), (["beside"], "next"),
        (["above"], "above"), (["over"], "above"),
        (["underneath"], "below"), (["beneath"], "below"), (["below"], "below"), (["under"], "below"),
    ]
    static let regionWords: Set<String> = ["top", "bottom", "left", "right", "center", "middle"]
    static let numbers: [String: Int] = ["one": 1, "single": 1, "two": 2, "three": 3]

    struct Mention {
        var shape: PlacedShape
        var start: Int
        var end: Int
    }

    /// Claims found, for statistics in tests.
    private(set) var relationClaims = 0
    private(set) var regionClaims = 0

    init(scene: ShapeScene) {
        self.scene = scene
    }

    /// Returns the first false or unreadable claim, or nil when everything in the caption is true.
    mutating func falsehood(in caption: String) -> String? {
        let words = tokenize(caption)
        var mentions: [Mention] = []
        var index = 0
        while index < words.count {
            var cursor = index
            let size = Self.sizes[words[cursor]]
            if size != nil { cursor += 1 }
            if cursor + 1 < words.count, let color = Self.colors[words[cursor]], let kind = Self.kinds[words[cursor + 1]] {
                guard let shape = scene.shapes.first(where: { $0.color == color && $0.kind == kind }) else {
                    return "mentions a \(color) \(kind) that is not in the scene"
                }
                if let size, size != shape.size { return "calls the \(size == .small ? "large" : "small") \(color) \(kind) \(size)" }
                mentions.append(Mention(shape: shape, start: index, end: cursor + 2))
                index = cursor + 2
            } else {
                if Self.kinds[words[index]] != nil { return "names a shape without its colour: \(caption)" }
                index += 1
            }
        }
        let mentioned = Set(mentions.map { "\($0.shape.color) \($0.shape.kind)" })
        guard mentioned.count == scene.shapes.count else { return "mentions \(mentioned.count) of \(scene.shapes.count) shapes" }

        for (position, word) in words.enumerated() {
            if let number = Self.numbers[word] {
                guard number == scene.shapes.count else { return "says \(word) but there are \(scene.shapes.count) shapes" }
            }
            if word == "background" {
                guard position > 0, let style = Self.backgrounds[words[position - 1]], style == scene.background.style else {
                    return "misnames the \(scene.background.style) background"
                }
            }
        }

        for (k, mention) in mentions.enumerated() {
            let segmentEnd = k + 1 < mentions.count ? mentions[k + 1].start : words.count
            var segment = Array(words[mention.end..<segmentEnd])
            // The next mention's article belongs to it, not to the relation phrase.
            while let last = segment.last, ["a", "an", "the"].contains(last) { segment.removeLast() }
            // "<mention> <relation> it": relation to the previous mention.
            if segment.last == "it" || segment.contains("it") {
                guard k > 0, let itIndex = segment.firstIndex(of: "it"),
                      let relation = Self.relationSuffix(Array(segment[..<itIndex])) else { return "unreadable 'it' clause" }
                if let problem = check(relation.kind, mention.shape, mentions[k - 1].shape) { return problem }
                relationClaims += 1
                segment.removeSubrange(..<(itIndex + 1))
            } else if k + 1 < mentions.count, let relation = Self.relationSuffix(segment) {
                if let problem = check(relation.kind, mention.shape, mentions[k + 1].shape) { return problem }
                relationClaims += 1
                segment.removeLast(relation.length)
            }
            let regionClaim = segment.filter(Self.regionWords.contains)
            if !regionClaim.isEmpty {
                if let problem = checkRegion(Set(regionClaim), mention.shape) { return problem }
                regionClaims += 1
            }
        }
        return nil
    }

    static func relationSuffix(_ segment: [String]) -> (kind: String, length: Int)? {
        for (phrase, kind) in relations where segment.count >= phrase.count && Array(segment.suffix(phrase.count)) == phrase {
            return (kind, phrase.count)
        }
        return nil
    }

    /// Checks "a <relation> b" from the centres, with plain geometry rather than the generator's rule.
    func check(_ relation: String, _ a: PlacedShape, _ b: PlacedShape) -> String? {
        let dx = b.centerX - a.centerX, dy = b.centerY - a.centerY
        let name = "\(a.color) \(a.kind) \(relation) \(b.color) \(b.kind)"
        switch relation {
        case "left": return dx > 0 && abs(dx) > abs(dy) ? nil : "false: \(name)"
        case "right": return dx < 0 && abs(dx) > abs(dy) ? nil : "false: \(name)"
        case "above": return dy > 0 && abs(dy) > abs(dx) ? nil : "false: \(name)"
        case "below": return dy < 0 && abs(dy) > abs(dx) ? nil : "false: \(name)"
        default:
            let gap = (dx * dx + dy * dy).squareRoot() - a.radius - b.radius
            return abs(dx) > abs(dy) && gap < 60 ? nil : "false: \(name)"
        }
    }

    func checkRegion(_ words: Set<String>, _ shape: PlacedShape) -> String? {
        let third = Double(ShapeScene.imageSize) / 3
        let x = shape.centerX, y = shape.centerY
        let claim = "\(shape.color) \(shape.kind) at \(words.sorted()) but centre is (\(x), \(y))"
        if words.contains("top") && !(y < third) { return claim }
        if words.contains("bottom") && !(y > 2 * third) { return claim }
        if words.contains("left") && !(x < third) { return claim }
        if words.contains("right") && !(x > 2 * third) { return claim }
        if words.isSubset(of: ["center", "middle"]) && !((third...2 * third).contains(x) && (third...2 * third).contains(y)) {
            return claim
        }
        return nil
    }
}
