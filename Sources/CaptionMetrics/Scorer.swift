import Foundation

/// What to compute and how.
public struct ScoringOptions: Sendable {
    public var bleuFlavour: BleuFlavour
    /// Only used by the `nltk` flavour; NLTK's default is no smoothing (method0).
    public var nltkSmoothing: NLTKSmoothing
    /// Run METEOR through Java when it is available.
    public var meteor: Bool
    /// nil: find Java and the jar with `MeteorScorer.locate()`.
    public var meteorScorer: MeteorScorer?
    /// Tokenise with the pycocoevalcap-compatible PTB tokenizer (false: text is already tokenised and
    /// is split on spaces, as pycocoevalcap's scorers do).
    public var tokenize: Bool
    /// Worker threads for tokenising and scoring (default: all cores).
    public var threads: Int

    public init(bleuFlavour: BleuFlavour = .coco, nltkSmoothing: NLTKSmoothing = .method0, meteor: Bool = true,
                meteorScorer: MeteorScorer? = nil, tokenize: Bool = true,
                threads: Int = ProcessInfo.processInfo.activeProcessorCount) {
        self.bleuFlavour = bleuFlavour
        self.nltkSmoothing = nltkSmoothing
        self.meteor = meteor
        self.meteorScorer = meteorScorer
        self.tokenize = tokenize
        self.threads = max(1, threads)
    }
}

/// One image to score: its prediction and its reference captions.
public struct ScoringItem: Sendable {
    public var image: String
    public var prediction: String
    public var references: [String]

    public init(image: String, prediction: String, references: [String]) {
        self.image = image
        self.prediction = prediction
        self.references = references
    }
}

/// Scores of one image.
public struct ImageScore: Sendable, Encodable {
    public var image: String
    /// BLEU-1...4 of this image alone (coco flavour: pycocoevalcap's per-image list; nltk flavour: NLTK's
    /// corpus_bleu over this one image, i.e. sentence_bleu). nil where NLTK itself raises.
    public var bleu: [Double?]
    public var meteor: Double?
    public var rougeL: Double
    public var ciderD: Double

    /// One JSON object, keys in a fixed order: image, BLEU-1..4, METEOR, ROUGE-L, CIDEr-D.
    public func jsonLine() -> String {
        let fields: [(String, String)] = [
            ("image", jsonStringLiteral(image)), ("BLEU-1", jsonNumber(bleu[0])), ("BLEU-2", jsonNumber(bleu[1])),
            ("BLEU-3", jsonNumber(bleu[2])), ("BLEU-4", jsonNumber(bleu[3])), ("METEOR", jsonNumber(meteor)),
            ("ROUGE-L", jsonNumber(rougeL)), ("CIDEr-D", jsonNumber(ciderD)),
        ]
        return "{" + fields.map { "\(jsonStringLiteral($0.0)):\($0.1)" }.joined(separator: ",") + "}"
    }

    enum CodingKeys: String, CodingKey { case image }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(image, forKey: .image)
        try MetricKey.encode(bleu: bleu, meteor: meteor, rougeL: rougeL, ciderD: ciderD, to: encoder)
    }
}

/// The metrics' JSON keys, shared by per-image and corpus scores.
enum MetricKey: String, CodingKey {
    case bleu1 = "BLEU-1", bleu2 = "BLEU-2", bleu3 = "BLEU-3", bleu4 = "BLEU-4"
    case meteor = "METEOR", rougeL = "ROUGE-L", ciderD = "CIDEr-D"

    /// Adds the metrics to the object `encoder` writes (beside its other keys).
    static func encode(bleu: [Double?], meteor: Double?, rougeL: Double, ciderD: Double, to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: MetricKey.self)
        for (key, value) in zip([MetricKey.bleu1, .bleu2, .bleu3, .bleu4], bleu) { try c.encode(value, forKey: key) }
        try c.encode(meteor, forKey: .meteor)
        try c.encode(rougeL, forKey: .rougeL)
        try c.encode(ciderD, forKey: .ciderD)
    }
}

/// Corpus scores, per-image scores and what could not be scored.
public struct MetricReport: Sendable, Encodable {
    /// BLEU-1...4; an entry is nil only for NLTK smoothing method6 on inputs where NLTK raises.
    public var bleu: [Double?]
    /// nil when METEOR was not requested or could not run (see `meteorUnavailable`).
    public var meteor: Double?
    public var rougeL: Double
    public var ciderD: Double
    public var bleuFlavour: BleuFlavour
    /// One sentence saying why METEOR is missing, with the fix; nil when it ran or was not requested.
    public var meteorUnavailable: String?
    /// Images that had both a prediction and at least one reference.
    public var imagesScored: Int
    /// Predictions whose image has no reference caption (not scored).
    public var predictionsWithoutReferences: [String]
    /// Images with references but no prediction (not scored).
    public var imagesWithoutPredictions: [String]
    /// How many different captions the scored predictions hold (a model that writes the same sentence
    /// for every photo, a known failure of this family, has few).
    public var distinctPredictions: Int
    public var perImage: [ImageScore]

    enum CodingKeys: String, CodingKey {
        case imagesScored = "images_scored"
        case predictionsWithoutReferences = "predictions_without_references"
        case imagesWithoutPredictions = "images_without_predictions"
        case distinctPredictions = "distinct_predictions"
        case bleuFlavour = "bleu_flavour", meteorUnavailable = "meteor_unavailable"
    }

    /// The JSON object `{"BLEU-1":…,…,"CIDEr-D":…}` plus the counts (per-image scores are written separately).
    public func encode(to encoder: Encoder) throws {
        try MetricKey.encode(bleu: bleu, meteor: meteor, rougeL: rougeL, ciderD: ciderD, to: encoder)
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(imagesScored, forKey: .imagesScored)
        try c.encode(predictionsWithoutReferences.count, forKey: .predictionsWithoutReferences)
        try c.encode(imagesWithoutPredictions.count, forKey: .imagesWithoutPredictions)
        try c.encode(distinctPredictions, forKey: .distinctPredictions)
        try c.encode(bleuFlavour, forKey: .bleuFlavour)
        try c.encodeIfPresent(meteorUnavailable, forKey: .meteorUnavailable)
    }

    /// The JSON object as one line, keys in the order above (JSONEncoder on Linux does not keep order).
    public func jsonString() -> String {
        var fields = namedScores.map { (name: $0.name, value: jsonNumber($0.value)) }
        fields.append(("images_scored", String(imagesScored)))
        fields.append(("predictions_without_references", String(predictionsWithoutReferences.count)))
        fields.append(("images_without_predictions", String(imagesWithoutPredictions.count)))
        fields.append(("distinct_predictions", String(distinctPredictions)))
        fields.append(("bleu_flavour", jsonStringLiteral(bleuFlavour.rawValue)))
        if let meteorUnavailable { fields.append(("meteor_unavailable", jsonStringLiteral(meteorUnavailable))) }
        return "{" + fields.map { "\(jsonStringLiteral($0.name)):\($0.value)" }.joined(separator: ",") + "}"
    }

    /// Metric names and values in the order of the JSON object.
    public var namedScores: [(name: String, value: Double?)] {
        [("BLEU-1", bleu[0]), ("BLEU-2", bleu[1]), ("BLEU-3", bleu[2]), ("BLEU-4", bleu[3]),
         ("METEOR", meteor), ("ROUGE-L", rougeL), ("CIDEr-D", ciderD)]
    }
}

/// Shortest round-tripping decimal, or null (JSON has no NaN or infinity).
func jsonNumber(_ value: Double?) -> String {
    guard let value, value.isFinite else { return "null" }
    return "\(value)"
}

/// A JSON string literal.
func jsonStringLiteral(_ text: String) -> String {
    var out = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        case _ where scalar.value < 0x20:
            let hex = String(scalar.value, radix: 16)
            out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out + "\""
}

/// BLEU-1...4, METEOR, ROUGE-L and CIDEr-D, equal to pycocoevalcap (and NLTK for the nltk BLEU flavour).
public struct CaptionScorer: Sendable {
    public var options: ScoringOptions

    public init(options: ScoringOptions = ScoringOptions()) {
        self.options = options
    }

    /// Scores every image that has both references and a prediction, in image-id order; the others are
    /// counted in the report, never silently dropped.
    public func evaluate(references: [String: [String]], predictions: [String: String]) throws -> MetricReport {
        var items: [ScoringItem] = []
        var withoutReferences: [String] = []
        for (image, prediction) in predictions {
            if let refs = references[image], !refs.isEmpty {
                items.append(ScoringItem(image: image, prediction: prediction, references: refs))
            } else {
                withoutReferences.append(image)
            }
        }
        items.sort { $0.image < $1.image }
        let withoutPredictions = references.keys.filter { predictions[$0] == nil }.sorted()
        var report = try evaluate(items)
        report.predictionsWithoutReferences = withoutReferences.sorted()
        report.imagesWithoutPredictions = withoutPredictions
        return report
    }

    /// Scores `items` in the given order (the order matters only to NLTK smoothing methods 5–7).
    /// Items without references are reported in `predictionsWithoutReferences`.
    public func evaluate(_ allItems: [ScoringItem]) throws -> MetricReport {
        let items = allItems.filter { !$0.references.isEmpty }
        let withoutReferences = allItems.filter { $0.references.isEmpty }.map(\.image)

        // 1. Tokenise and intern words, chunk by chunk in parallel (candidate first, then references).
        let ranges = chunkRanges(items.count)
        //    The tokenizer sees the caption that follows each one in pycocoevalcap's tokenizer input
        //    (all references in item order, then separately all predictions), as two CoreNLP rules do.
        let chunks: [WordInterning.Chunk] = parallelMap(ranges, minimumPerThread: 1) { range in
            var chunk = WordInterning.Chunk()
            for i in range {
                let item = items[i]
                guard options.tokenize else {
                    for sentence in [item.prediction] + item.references { chunk.add(sentence.split(separator: " ").map(String.init)) }
                    continue
                }
                let next = i + 1 < items.count ? items[i + 1] : nil
                chunk.add(PTBTokenizer.tokens(item.prediction, followedBy: next?.prediction))
                for (j, reference) in item.references.enumerated() {
                    let following = j + 1 < item.references.count ? item.references[j + 1] : next?.references.first
                    chunk.add(PTBTokenizer.tokens(reference, followedBy: following))
                }
            }
            return chunk
        }

        // 2. Global word ids (serial merge of the small chunk vocabularies), then n-gram ids (serial:
        //    one table gives dense ids), then counting and per-image scores (parallel).
        let (remaps, wordCount) = WordInterning.merge(chunks)
        let interner = NGramInterner(wordCount: wordCount)
        var ngramIds: [[[[Int32]]]] = []  // item → sentence → order → ids
        ngramIds.reserveCapacity(items.count)
        for (chunkIndex, range) in ranges.enumerated() {
            let chunk = chunks[chunkIndex], remap = remaps[chunkIndex]
            var sentence = 0
            for item in items[range] {
                var perSentence: [[[Int32]]] = []
                for _ in 0..<(1 + item.references.count) {
                    perSentence.append(interner.ngramIds(chunk.sentences[sentence].map { remap[Int($0)] }))
                    sentence += 1
                }
                ngramIds.append(perSentence)
            }
        }
        let encoded: [EncodedItem] = parallelMap(ngramIds, minimumPerThread: 64) { sentences in
            var scratch: [Int32] = []
            let all = sentences.map { EncodedSentence(ngramIds: $0, scratch: &scratch) }
            return EncodedItem(candidate: all[0], references: Array(all.dropFirst()))
        }
        let weights = CiderD.Weights(items: encoded, idCounts: interner.idCounts)
        let perImage: [(BleuStatistics, Double, Double)] = parallelMap(encoded, minimumPerThread: 64) { item in
            var scratch: [Int32] = []
            return (BleuStatistics(item, scratch: &scratch), RougeL.score(item, scratch: &scratch), CiderD.score(item, weights))
        }
        let statistics = perImage.map(\.0)

        let corpusBleu: [Double?]
        let imageBleu: [[Double?]]
        switch options.bleuFlavour {
        case .coco:
            corpusBleu = CocoBleu.corpus(statistics)
            imageBleu = statistics.map { CocoBleu.score($0) }
        case .nltk:
            corpusBleu = NLTKBleu.corpus(statistics, last: encoded.last, smoothing: options.nltkSmoothing)
            imageBleu = zip(statistics, encoded).map { NLTKBleu.corpus([$0.0], last: $0.1, smoothing: options.nltkSmoothing) }
        }

        // 4. METEOR on the tokenised text, as pycocoevalcap does.
        var meteor: Double?
        var meteorScores: [Double]?
        var meteorUnavailable: String?
        if options.meteor && !items.isEmpty {
            let scorer: MeteorScorer?
            if let given = options.meteorScorer {
                scorer = given
            } else {
                switch MeteorScorer.locate() {
                case .success(let found): scorer = found
                case .failure(let reason): scorer = nil; meteorUnavailable = reason.description
                }
            }
            if let scorer {
                // METEOR reads the tokenised text, as in pycocoevalcap.
                var pairs: [(hypothesis: String, references: [String])] = []
                for (chunkIndex, range) in ranges.enumerated() {
                    let chunk = chunks[chunkIndex]
                    var sentence = 0
                    for item in items[range] {
                        let texts = (0...item.references.count).map { offset in
                            chunk.sentences[sentence + offset].map { chunk.vocabulary[Int($0)] }.joined(separator: " ")
                        }
                        sentence += texts.count
                        pairs.append((hypothesis: texts[0], references: Array(texts.dropFirst())))
                    }
                }
                do {
                    let result = try scorer.score(pairs)
                    meteor = result.corpus
                    meteorScores = result.perItem
                } catch {
                    // The other metrics stay valid; the report says why METEOR is missing.
                    meteorUnavailable = "METEOR failed: \(error)"
                }
            }
        }

        let images = items.indices.map { i in
            ImageScore(image: items[i].image, bleu: imageBleu[i], meteor: meteorScores?[i],
                       rougeL: perImage[i].1, ciderD: perImage[i].2)
        }
        return MetricReport(
            bleu: corpusBleu, meteor: meteor,
            rougeL: mean(perImage.map(\.1)), ciderD: mean(perImage.map(\.2)),
            bleuFlavour: options.bleuFlavour, meteorUnavailable: meteorUnavailable,
            imagesScored: items.count, predictionsWithoutReferences: withoutReferences,
            imagesWithoutPredictions: [], distinctPredictions: Set(items.map(\.prediction)).count, perImage: images)
    }

    private func mean(_ values: [Double]) -> Double {
        values.isEmpty ? 0 : values.reduce(0, +) / Double(values.count)
    }

    /// Contiguous ranges splitting `count` items into a few chunks per thread.
    private func chunkRanges(_ count: Int) -> [Range<Int>] {
        let chunks = max(1, min(options.threads * 4, count / 64))
        return (0..<chunks).map { ($0 * count / chunks)..<(($0 + 1) * count / chunks) }
    }

    /// `transform` over `input` on `options.threads` threads, in contiguous chunks, order preserved.
    private func parallelMap<T, R>(_ input: [T], minimumPerThread: Int, _ transform: (T) -> R) -> [R] {
        let count = input.count
        let chunks = min(options.threads * 4, max(1, count / minimumPerThread))
        if options.threads == 1 || chunks <= 1 { return input.map(transform) }
        var results = [R?](repeating: nil, count: count)
        results.withUnsafeMutableBufferPointer { buffer in
            let output = buffer
            DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
                let lower = chunk * count / chunks, upper = (chunk + 1) * count / chunks
                for i in lower..<upper { output[i] = transform(input[i]) }
            }
        }
        return results.map { $0! }
    }
}

/// Times `CaptionScorer.evaluate` (BLEU, ROUGE-L, CIDEr-D and tokenisation; no METEOR) on the given
/// data, returning the report and the best wall time in seconds over `repeats` runs.
public func benchmarkEvaluate(references: [String: [String]], predictions: [String: String],
                              repeats: Int = 3, options: ScoringOptions = ScoringOptions(meteor: false))
    throws -> (report: MetricReport, seconds: Double)
{
    var best = Double.infinity
    var report: MetricReport?
    for _ in 0..<max(1, repeats) {
        let start = DispatchTime.now().uptimeNanoseconds
        report = try CaptionScorer(options: options).evaluate(references: references, predictions: predictions)
        best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
    }
    return (report!, best)
}
