import Foundation

/// Which BLEU definition to compute.
public enum BleuFlavour: String, Sendable, CaseIterable, Codable {
    /// pycocoevalcap's `Bleu(4)`: corpus BLEU, closest reference length, tiny=1e-15 and small=1e-9
    /// added to every ratio (so a zero count gives a tiny, not a zero, precision).
    case coco
    /// `nltk.translate.bleu_score.corpus_bleu` with uniform weights (1/n,…,1/n) of length n for BLEU-n.
    case nltk
}

/// NLTK's `SmoothingFunction().methodN` (Chen & Cherry 2014), with NLTK's defaults epsilon=0.1, alpha=5, k=5.
/// As in NLTK's `corpus_bleu`, methods 5, 6 and 7 look at the *last* hypothesis and its references
/// (a quirk of NLTK's loop variables), and method 4 uses the corpus hypothesis length.
public enum NLTKSmoothing: Int, Sendable, CaseIterable, Codable {
    case method0 = 0, method1, method2, method3, method4, method5, method6, method7
}

/// Everything BLEU needs to know about one candidate: clipped n-gram matches and lengths.
struct BleuStatistics {
    var testLength: Int
    var closestReferenceLength: Int
    /// Clipped matches of (k+1)-grams.
    var correct: (Int, Int, Int, Int)
    /// (k+1)-grams in the candidate.
    var guess: (Int, Int, Int, Int)

    func correct(_ k: Int) -> Int {
        switch k { case 0: return correct.0; case 1: return correct.1; case 2: return correct.2; default: return correct.3 }
    }
    func guess(_ k: Int) -> Int {
        switch k { case 0: return guess.0; case 1: return guess.1; case 2: return guess.2; default: return guess.3 }
    }

    init(_ item: EncodedItem, scratch: inout [Int32]) {
        let testLength = item.candidate.length
        self.testLength = testLength
        // pycocoevalcap: min((abs(l - testlen), l)); NLTK: min by (abs, l): ties go to the shorter reference.
        var best = Int.max, bestLength = 0
        for reference in item.references {
            let distance = abs(reference.length - testLength)
            if distance < best || (distance == best && reference.length < bestLength) {
                best = distance
                bestLength = reference.length
            }
        }
        closestReferenceLength = bestLength
        var matches = [0, 0, 0, 0]
        for k in 0..<4 {
            let candidate = item.candidate.ngrams[k]
            maxReferenceCounts(candidate, item.references.map { $0.ngrams[k] }, into: &scratch)
            var total = 0
            for i in 0..<candidate.count { total += Int(min(candidate[i].count, scratch[i])) }
            matches[k] = total
        }
        correct = (matches[0], matches[1], matches[2], matches[3])
        guess = (max(0, testLength), max(0, testLength - 1), max(0, testLength - 2), max(0, testLength - 3))
    }
}

enum CocoBleu {
    static let tiny = 1e-15
    static let small = 1e-9

    /// BLEU-1...4 of summed statistics, exactly as `BleuScorer.compute_score(option="closest")`.
    static func score(testLength: Int, referenceLength: Int, correct: [Int], guess: [Int]) -> [Double] {
        var bleus: [Double] = []
        var bleu = 1.0
        for k in 0..<4 {
            bleu *= (Double(correct[k]) + tiny) / (Double(guess[k]) + small)
            bleus.append(pow(bleu, 1.0 / Double(k + 1)))
        }
        let ratio = (Double(testLength) + tiny) / (Double(referenceLength) + small)
        if ratio < 1 {
            let penalty = exp(1 - 1 / ratio)
            for k in 0..<4 { bleus[k] *= penalty }
        }
        return bleus
    }

    static func score(_ s: BleuStatistics) -> [Double] {
        score(testLength: s.testLength, referenceLength: s.closestReferenceLength,
              correct: [s.correct.0, s.correct.1, s.correct.2, s.correct.3],
              guess: [s.guess.0, s.guess.1, s.guess.2, s.guess.3])
    }

    static func corpus(_ all: [BleuStatistics]) -> [Double] {
        let sums = BleuSums(all)
        return score(testLength: sums.testLength, referenceLength: sums.referenceLength, correct: sums.correct, guess: sums.guess)
    }
}

/// A corpus's BLEU statistics summed over its sentences, as both flavours start from them.
struct BleuSums {
    var testLength = 0, referenceLength = 0
    var correct = [0, 0, 0, 0], guess = [0, 0, 0, 0]

    /// `guessOfSentence` maps each sentence's n-gram count before it is added (NLTK counts at least 1).
    init(_ all: [BleuStatistics], guessOfSentence: (Int) -> Int = { $0 }) {
        for s in all {
            testLength += s.testLength
            referenceLength += s.closestReferenceLength
            for k in 0..<4 {
                correct[k] += s.correct(k)
                guess[k] += guessOfSentence(s.guess(k))
            }
        }
    }
}

enum NLTKBleu {
    static let epsilon = 0.1
    static let alpha = 5.0
    static let k = 5.0

    /// `corpus_bleu(refs, hyps, weights=(1/n,)*n, smoothing_function=method)` for n = 1...4.
    /// `last` is the corpus's last item (NLTK's smoothing sees only it). nil where NLTK raises
    /// (method6 needs trigrams and a non-zero trigram precision).
    static func corpus(_ all: [BleuStatistics], last: EncodedItem?, smoothing: NLTKSmoothing) -> [Double?] {
        // modified_precision divides by max(1, sum(counts)) for each sentence.
        let sums = BleuSums(all, guessOfSentence: { max(1, $0) })
        let (hypLength, refLength, numerators, denominators) = (sums.testLength, sums.referenceLength, sums.correct, sums.guess)
        let brevity: Double
        if hypLength > refLength { brevity = 1 } else if hypLength == 0 { brevity = 0 } else {
            brevity = exp(1 - Double(refLength) / Double(hypLength))
        }
        return (1...4).map { n in
            if numerators[0] == 0 { return 0 }
            guard let precisions = smooth(Array(numerators[0..<n]), Array(denominators[0..<n]),
                                          hypLength: hypLength, last: last, method: smoothing) else { return nil }
            let weight = 1.0 / Double(n)
            var sum = 0.0
            for p in precisions where p > 0 { sum += weight * log(p) }
            return brevity * exp(sum)
        }
    }

    static func smooth(_ numerators: [Int], _ denominators: [Int], hypLength: Int, last: EncodedItem?,
                       method: NLTKSmoothing) -> [Double]? {
        let n = numerators.count
        let plain = (0..<n).map { Double(numerators[$0]) / Double(denominators[$0]) }
        switch method {
        case .method0:
            return (0..<n).map { numerators[$0] != 0 ? plain[$0] : Double.leastNormalMagnitude }
        case .method1:
            return (0..<n).map { numerators[$0] == 0 ? (Double(numerators[$0]) + epsilon) / Double(denominators[$0]) : plain[$0] }
        case .method2:
            return (0..<n).map { $0 == 0 ? plain[0] : Double(numerators[$0] + 1) / Double(denominators[$0] + 1) }
        case .method3:
            var result = plain, increment = 1
            for i in 0..<n where numerators[i] == 0 {
                result[i] = 1 / (pow(2, Double(increment)) * Double(denominators[i]))
                increment += 1
            }
            return result
        case .method4:
            return method4(plain, numerators, denominators, hypLength: hypLength, last: last)
        case .method5:
            return method5(plain, last: last)
        case .method6:
            return method6(plain, numerators, last: last)
        case .method7:
            let four = method4(plain, numerators, denominators, hypLength: hypLength, last: last)
            return method5(four, last: last)
        }
    }

    static func method4(_ p: [Double], _ numerators: [Int], _ denominators: [Int], hypLength: Int,
                        last: EncodedItem?) -> [Double] {
        var result = p, increment = 1
        let length = hypLength != 0 ? hypLength : (last?.candidate.length ?? 0)
        for i in 0..<p.count where numerators[i] == 0 && length > 1 {
            let numerator = 1 / (pow(2, Double(increment)) * k / log(Double(length)))
            result[i] = numerator / Double(denominators[i])
            increment += 1
        }
        return result
    }

    static func method5(_ p: [Double], last: EncodedItem?) -> [Double] {
        var plusOne = p
        plusOne.append(last.map(fiveGramPrecision) ?? 0)
        var result = p
        var previous = p[0] + 1  // m[-1]
        for i in 0..<p.count {
            result[i] = (previous + p[i] + plusOne[i + 1]) / 3
            previous = result[i]
        }
        return result
    }

    static func method6(_ p: [Double], _ numerators: [Int], last: EncodedItem?) -> [Double]? {
        guard p.count > 2, p[2] != 0 else { return nil }  // NLTK: IndexError / AssertionError
        var result = p
        let lastLength = last?.candidate.length ?? 0
        for i in 2..<p.count {
            let prior = result[i - 2] == 0 ? 0 : result[i - 1] * result[i - 1] / result[i - 2]
            let matches = Double(numerators[i])
            let count = Double(max(0, lastLength - i))
            result[i] = (matches + alpha * prior) / (count + alpha)
        }
        return result
    }

    /// NLTK's modified_precision(references, hypothesis, 5) for one item, straight from word ids.
    static func fiveGramPrecision(_ item: EncodedItem) -> Double {
        let hypothesis = item.candidate.words
        guard hypothesis.count >= 5 else { return 0 }  // Fraction(0, max(1, 0)) == 0
        func grams(_ words: [Int32]) -> [ArraySlice<Int32>] {
            words.count < 5 ? [] : (0...(words.count - 5)).map { words[$0..<($0 + 5)] }
        }
        let candidateGrams = grams(hypothesis)
        var unique: [ArraySlice<Int32>] = []
        for gram in candidateGrams where !unique.contains(where: { $0 == gram }) { unique.append(gram) }
        let referenceGrams = item.references.map { grams($0.words) }
        var numerator = 0
        for gram in unique {
            let count = candidateGrams.filter { $0 == gram }.count
            let maxReference = referenceGrams.map { grams in grams.filter { $0 == gram }.count }.max() ?? 0
            numerator += min(count, maxReference)
        }
        return Double(numerator) / Double(max(1, candidateGrams.count))
    }
}
