import Foundation
import Testing
import TestSupport
@testable import CaptionMetrics

/// Compares the native metrics with pycocoevalcap / NLTK outputs stored by make_metric_fixtures.py.
@Suite("Metric parity with pycocoevalcap and NLTK")
struct MetricParityTests {
    static let tolerance = 1e-6

    static func items(tokenized: Bool) -> [ScoringItem] {
        Fixtures.parity.images.map {
            tokenized
                ? ScoringItem(image: $0.image, prediction: $0.tokenized_prediction, references: $0.tokenized_references)
                : ScoringItem(image: $0.image, prediction: $0.prediction, references: $0.references)
        }
    }

    static func report(tokenized: Bool, flavour: BleuFlavour = .coco, smoothing: NLTKSmoothing = .method0) throws -> MetricReport {
        let options = ScoringOptions(bleuFlavour: flavour, nltkSmoothing: smoothing, meteor: false, tokenize: !tokenized)
        return try CaptionScorer(options: options).evaluate(items(tokenized: tokenized))
    }

    @Test("corpus and per-image BLEU-1..4 (coco), ROUGE-L and CIDEr-D match pycocoevalcap to 1e-6",
          arguments: [false, true])
    func cocoMetricsMatch(pretokenized: Bool) throws {
        let report = try Self.report(tokenized: pretokenized)
        let expected = Fixtures.parity.corpus
        #expect(report.imagesScored == Fixtures.parity.images.count)
        for n in 0..<4 {
            let diff = abs(report.bleu[n]! - expected["BLEU-\(n + 1)"]!)
            #expect(diff < Self.tolerance, "corpus BLEU-\(n + 1) off by \(diff)")
        }
        #expect(abs(report.rougeL - expected["ROUGE-L"]!) < Self.tolerance)
        #expect(abs(report.ciderD - expected["CIDEr-D"]!) < Self.tolerance)
        let corpusDiffs = (0..<4).map { abs(report.bleu[$0]! - expected["BLEU-\($0 + 1)"]!) }
            + [abs(report.rougeL - expected["ROUGE-L"]!), abs(report.ciderD - expected["CIDEr-D"]!)]
        print("parity (pretokenized=\(pretokenized)) corpus abs diffs BLEU-1..4, ROUGE-L, CIDEr-D: \(corpusDiffs)")

        var worst = [String: Double]()
        for (image, fixture) in zip(report.perImage, Fixtures.parity.images) {
            #expect(image.image == fixture.image)
            for n in 0..<4 { worst["BLEU-\(n + 1)", default: 0] = max(worst["BLEU-\(n + 1)", default: 0], abs(image.bleu[n]! - fixture.bleu[n])) }
            worst["ROUGE-L", default: 0] = max(worst["ROUGE-L", default: 0], abs(image.rougeL - fixture.rouge_l))
            worst["CIDEr-D", default: 0] = max(worst["CIDEr-D", default: 0], abs(image.ciderD - fixture.cider_d))
        }
        for (metric, diff) in worst.sorted(by: { $0.key < $1.key }) {
            #expect(diff < Self.tolerance, "per-image \(metric): max abs diff \(diff)")
        }
        print("parity (pretokenized=\(pretokenized)) max abs per-image diffs: \(worst.sorted { $0.key < $1.key })")
    }

    @Test("NLTK corpus_bleu, no smoothing and SmoothingFunction method1..method7, matches NLTK to 1e-6",
          arguments: NLTKSmoothing.allCases)
    func nltkBleuMatches(smoothing: NLTKSmoothing) throws {
        let report = try Self.report(tokenized: true, flavour: .nltk, smoothing: smoothing)
        let expected = Fixtures.parity.nltk_corpus_bleu["method\(smoothing.rawValue)"]!
        let diffs = (0..<4).compactMap { n in report.bleu[n].flatMap { a in expected[n].map { abs(a - $0) } } }
        print("nltk method\(smoothing.rawValue) max abs diff \(diffs.max() ?? 0) over \(diffs.count) BLEU-n values")
        for n in 0..<4 {
            switch (report.bleu[n], expected[n]) {
            case (nil, nil):
                break  // NLTK raises here (method6 needs trigrams); so do we, by returning nil
            case let (actual?, wanted?):
                #expect(abs(actual - wanted) < Self.tolerance, "method\(smoothing.rawValue) BLEU-\(n + 1): \(actual) vs NLTK \(wanted)")
            case let (actual, wanted):
                Issue.record("method\(smoothing.rawValue) BLEU-\(n + 1): \(String(describing: actual)) vs NLTK \(String(describing: wanted))")
            }
        }
    }

    // Runs only where Java and meteor-1.5.jar are present (scripts/bootstrap fetches the jar); elsewhere
    // Swift Testing reports it as skipped, because METEOR cannot run without the official jar.
    @Test("METEOR through meteor-1.5.jar matches pycocoevalcap to 1e-4",
          .enabled(if: (try? MeteorScorer.locate().get()) != nil, "needs Java and .cache/pycocoevalcap/meteor/meteor-1.5.jar (run scripts/bootstrap)"))
    func meteorMatches() throws {
        let fixture = Fixtures.parity
        guard let expected = fixture.corpus["METEOR"] else {
            Issue.record("fixtures were generated without Java; regenerate them with Java installed")
            return
        }
        let options = ScoringOptions(meteor: true, tokenize: false)
        let report = try CaptionScorer(options: options).evaluate(Self.items(tokenized: true))
        let corpus = try #require(report.meteor)
        #expect(abs(corpus - expected) < 1e-4)
        var worst = 0.0
        for (image, wanted) in zip(report.perImage, fixture.images) {
            worst = max(worst, abs((image.meteor ?? .nan) - (wanted.meteor ?? .nan)))
        }
        #expect(worst < 1e-4, "per-image METEOR max abs diff \(worst)")
        print("METEOR corpus diff \(abs(corpus - expected)), per-image max abs diff \(worst)")
    }
}
