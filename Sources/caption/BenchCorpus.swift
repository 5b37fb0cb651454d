import Foundation

/// Python's `random.Random` (MT19937, seeded by `init_by_array`) for the calls caption_corpus.py makes,
/// so the bench scores exactly the corpus tools/reference/bench_metrics.py times, without Python.
struct PythonRandom {
    private var state = [UInt32](repeating: 0, count: 624)
    private var index = 624

    init(seed: UInt32) {
        // random.seed(int): init_by_array with the seed's 32-bit words (one word for small seeds).
        state[0] = 19_650_218
        for i in 1..<624 { state[i] = 1_812_433_253 &* (state[i - 1] ^ (state[i - 1] >> 30)) &+ UInt32(i) }
        let key: [UInt32] = [seed]
        var i = 1, j = 0
        for _ in 0..<max(624, key.count) {
            state[i] = (state[i] ^ ((state[i - 1] ^ (state[i - 1] >> 30)) &* 1_664_525)) &+ key[j] &+ UInt32(j)
            i += 1; j += 1
            if i >= 624 { state[0] = state[623]; i = 1 }
            if j >= key.count { j = 0 }
        }
        for _ in 0..<623 {
            state[i] = (state[i] ^ ((state[i - 1] ^ (state[i - 1] >> 30)) &* 1_566_083_941)) &- UInt32(i)
            i += 1
            if i >= 624 { state[0] = state[623]; i = 1 }
        }
        state[0] = 0x8000_0000
    }

    mutating func next32() -> UInt32 {
        if index >= 624 {
            for k in 0..<624 {
                let y = (state[k] & 0x8000_0000) | (state[(k + 1) % 624] & 0x7FFF_FFFF)
                state[k] = state[(k + 397) % 624] ^ (y >> 1) ^ ((y & 1) != 0 ? 0x9908_B0DF : 0)
            }
            index = 0
        }
        var y = state[index]
        index += 1
        y ^= y >> 11
        y ^= (y << 7) & 0x9D2C_5680
        y ^= (y << 15) & 0xEFC6_0000
        y ^= y >> 18
        return y
    }

    /// random.random(): 53 bits from two draws.
    mutating func random() -> Double {
        let a = Double(next32() >> 5), b = Double(next32() >> 6)
        return (a * 67_108_864 + b) * (1.0 / 9_007_199_254_740_992)
    }

    /// _randbelow(n) by rejection on getrandbits(n.bit_length()), n ≥ 1 (every call draws).
    mutating func below(_ n: Int) -> Int {
        let k = Int.bitWidth - n.leadingZeroBitCount
        while true {
            let r = Int(next32() >> UInt32(32 - k))
            if r < n { return r }
        }
    }

    mutating func choice(_ items: [String]) -> String { items[below(items.count)] }
}

/// tools/reference/caption_corpus.py, line for line (Python evaluates an assignment's right side
/// before its subscript, and f-strings left to right; the draws below keep that order).
enum BenchCorpus {
    /// `make_sets(seed, count, min_refs, max_refs)`: (image, references, prediction).
    static func makeSets(seed: UInt32, count: Int, minReferences: Int, maxReferences: Int) -> [(image: String, references: [String], prediction: String)] {
        var rng = PythonRandom(seed: seed)
        var sets: [(String, [String], String)] = []
        sets.reserveCapacity(count)
        for i in 0..<count {
            let n = minReferences + rng.below(maxReferences - minReferences + 1)
            let refs = (0..<n).map { _ in caption(&rng) }
            sets.append((String(format: "img%05d", i), refs, prediction(&rng, refs)))
        }
        return sets
    }

    static func caption(_ rng: inout PythonRandom) -> String {
        var s = "\(rng.choice(subjects)) \(rng.choice(verbs)) \(rng.choice(objects))\(rng.choice(tails))"
        if rng.random() < 0.2 {
            let joiner = rng.choice(["and", "while", "as"])
            s += " \(joiner) \(rng.choice(subjects)) \(rng.choice(verbs)) \(rng.choice(objects))"
        }
        return decorate(&rng, s)
    }

    static func decorate(_ rng: inout PythonRandom, _ input: String) -> String {
        var sentence = input
        let r = rng.random()
        if r < 0.25 {
            let scalars = Array(sentence.unicodeScalars)
            if let first = scalars.first {
                var rest = String.UnicodeScalarView()
                rest.append(contentsOf: scalars.dropFirst())
                sentence = String(first).uppercased() + String(rest)
            }
        } else if r < 0.30 {
            sentence = sentence.uppercased()
        } else if r < 0.35 {
            sentence = pythonTitle(sentence)
        }
        let end = rng.random()
        if end < 0.45 { sentence += "." } else if end < 0.50 { sentence += " ." } else if end < 0.55 { sentence += "!" } else if end < 0.58 { sentence += "..." }
        if rng.random() < 0.05 { sentence = "  " + replaceFirstSpace(sentence, with: "  ") + " " }
        if rng.random() < 0.03 { sentence = replaceFirstSpace(sentence, with: "\t") }
        return sentence
    }

    static func replaceFirstSpace(_ s: String, with replacement: String) -> String {
        guard let range = s.range(of: " ") else { return s }
        return s.replacingCharacters(in: range, with: replacement)
    }

    /// str.title(): a cased character after a cased one is lowercased, any other is titlecased.
    static func pythonTitle(_ s: String) -> String {
        var out = ""
        var previousCased = false
        for scalar in s.unicodeScalars {
            let p = scalar.properties
            out += previousCased ? p.lowercaseMapping : p.titlecaseMapping
            previousCased = p.isLowercase || p.isUppercase || p.generalCategory == .titlecaseLetter
        }
        return out
    }

    /// Python's str.split(): runs of whitespace separate words.
    static func split(_ s: String) -> [String] {
        s.unicodeScalars.split(whereSeparator: { $0.properties.isWhitespace }).map { String(String.UnicodeScalarView($0)) }
    }

    static func perturb(_ rng: inout PythonRandom, _ reference: String) -> String {
        var words = split(reference)
        if words.isEmpty { return reference }
        let action = rng.random()
        if action < 0.3 && words.count > 3 {
            words.remove(at: rng.below(words.count))
        } else if action < 0.5 {
            let i = rng.below(words.count)
            words.insert(words[i], at: i)
        } else if action < 0.7 {
            let word = rng.choice(["a", "the", "dog", "man", "red", "is"])
            words[rng.below(words.count)] = word
        } else if action < 0.8 {
            words += words[..<(1 + rng.below(words.count))]
        }
        return words.joined(separator: " ")
    }

    static func prediction(_ rng: inout PythonRandom, _ references: [String]) -> String {
        let r = rng.random()
        if r < 0.03 { return "" }
        if r < 0.07 { return rng.choice(singleWords) }
        if r < 0.10 { return references[0] }
        if r < 0.75 { return perturb(&rng, rng.choice(references)) }
        return caption(&rng)
    }

    static let subjects: [String] = [
        "a man", "a woman", "two dogs", "a little girl", "the boy", "a black dog", "three people",
        "a brown-and-white cat", "an old man", "a young child", "a group of kids", "the chef", "a surfer",
        "a skier", "two women", "a football player", "the kids", "a baby", "a cyclist", "a man's dog",
        "the woman's horse", "a barista", "a café owner", "a naïve tourist", "a teen-aged boy",
        "a rock'n'roll band", "Mr. Smith", "Dr. Jones", "the U.S. team", "a São Paulo street vendor",
        "the Zürich tram", "a piñata", "an Æsop fan", "a crêpe maker",
    ]
    static let verbs: [String] = [
        "is running through", "is jumping over", "sits on", "stands near", "is playing in", "walks along",
        "rides", "is holding", "looks at", "is eating", "climbs", "swims in", "doesn't like", "isn't near",
        "can't reach", "won't leave", "is cooking", "waves at", "is sitting by", "plays with",
        "leans against", "is throwing", "catches",
    ]
    static let objects: [String] = [
        "the grass", "a red ball", "the beach", "a wooden fence", "the snow", "a busy street", "a frisbee",
        "the water", "a bicycle", "a large rock", "the sidewalk", "a blue-green wave", "a crème brûlée",
        "a jalapeño pizza", "the 2nd floor", "a 3.5-meter wall", "1,000 balloons", "a $5 sandwich",
        "the 50% sale sign", "a T-shirt", "the dogs' toys", "an ice-cream cone", "the tree (an oak)",
        "a [red] kite", "a {green} sign", "the \"stop\" sign", "a 'wanted' poster", "the city's skyline",
        "a five-year-old's drawing", "the hill-side", "a café au lait", "a smörgåsbord", "the fjord",
        "a Québec flag", "a mañana sign", "the e-mail", "AT&T's store",
    ]
    static let tails: [String] = [
        "", "", "", " in the park", " at night", " on a sunny day", " while it's raining", " -- happily",
        " - slowly", " ... again", "…", " (in the background)", " with a smile", " and/or a cat",
        ", isn't it", "; they're gonna win", ": wow", " at 5 p.m.", " near the U.S.", " with friends!",
        " , fast", " in the rain?", " — near Zürich", " – today",
    ]
    static let singleWords: [String] = [
        "dog", "Dog.", "people", "Beach!", "café", "snow...", "\"cat\"", "(bird)", "—", "...",
    ]
}
