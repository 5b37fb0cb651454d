import Foundation
import Testing
import TestSupport
@testable import CaptionMetrics

@Suite("Metric edge cases")
struct EdgeCaseTests {
    static func fixture(_ id: String) -> ParityFixture.Image {
        Fixtures.parity.images.first { $0.image == id }!
    }

    /// Per-image scores of the fixture's edge images, computed inside the whole fixture set (CIDEr-D's
    /// document frequencies depend on the set), compared with pycocoevalcap.
    @Test("empty, one-word, punctuation-only, longer-than-references, one-reference and identical candidates",
          arguments: ["edge-empty", "edge-one-ref", "edge-identical", "edge-longer", "edge-one-word", "edge-punct-only"])
    func edgeImagesMatchPycocoevalcap(id: String) throws {
        let items = Fixtures.parity.images.map { ScoringItem(image: $0.image, prediction: $0.prediction, references: $0.references) }
        let report = try CaptionScorer(options: ScoringOptions(meteor: false)).evaluate(items)
        let expected = Self.fixture(id)
        let actual = try #require(report.perImage.first { $0.image == id })
        for n in 0..<4 { #expect(abs(actual.bleu[n]! - expected.bleu[n]) < 1e-6) }
        #expect(abs(actual.rougeL - expected.rouge_l) < 1e-6)
        #expect(abs(actual.ciderD - expected.cider_d) < 1e-6)
    }

    @Test("an empty candidate scores zero ROUGE-L and CIDEr-D and a tiny BLEU")
    func emptyCandidate() throws {
        let report = try CaptionScorer(options: ScoringOptions(meteor: false))
            .evaluate([ScoringItem(image: "a", prediction: "", references: ["a dog runs", "a cat sleeps"]),
                       ScoringItem(image: "b", prediction: "a bird", references: ["a bird flies"])])
        let empty = report.perImage[0]
        #expect(empty.rougeL == 0)
        #expect(empty.ciderD == 0)
        for n in 0..<4 { #expect(empty.bleu[n]! < 1e-9) }
    }

    @Test("a candidate identical to its only reference gets BLEU 1 and ROUGE-L 1")
    func identicalCandidate() throws {
        let report = try CaptionScorer(options: ScoringOptions(meteor: false))
            .evaluate([ScoringItem(image: "a", prediction: "A dog runs on the grass.", references: ["a dog runs on the grass"]),
                       ScoringItem(image: "b", prediction: "a bird", references: ["two birds fly"])])
        let same = report.perImage[0]
        for n in 0..<4 { #expect(abs(same.bleu[n]! - 1) < 1e-9) }
        #expect(abs(same.rougeL - 1) < 1e-12)
        #expect(same.ciderD > 0)
    }

    @Test("predictions without references and images without predictions are counted, not scored")
    func unmatchedImagesAreReported() throws {
        let references = ["img1": ["a dog runs"], "img2": ["a cat sleeps"], "img3": []]
        let predictions = ["img1": "a dog runs", "img4": "a horse", "img3": "nothing"]
        let report = try CaptionScorer(options: ScoringOptions(meteor: false))
            .evaluate(references: references, predictions: predictions)
        #expect(report.imagesScored == 1)
        #expect(report.predictionsWithoutReferences == ["img3", "img4"])
        #expect(report.imagesWithoutPredictions == ["img2"])
        #expect(report.perImage.map(\.image) == ["img1"])
        let json = report.jsonString()
        #expect(json.contains("\"predictions_without_references\":2"))
        #expect(json.contains("\"images_without_predictions\":1"))
        #expect(json.contains("\"images_scored\":1"))
        #expect(json.contains("\"distinct_predictions\":1"))
    }

    @Test("distinct predictions count the different captions among the scored images")
    func distinctPredictionsAreCounted() throws {
        let references = ["a": ["a dog runs"], "b": ["a cat sleeps"], "c": ["a dog"], "d": ["a man"]]
        let predictions = ["a": "a dog runs", "b": "a dog runs", "c": "a dog", "d": "a dog runs"]
        let report = try CaptionScorer(options: ScoringOptions(meteor: false)).evaluate(references: references, predictions: predictions)
        #expect(report.imagesScored == 4 && report.distinctPredictions == 2)
    }

    @Test("the JSON report has exactly the metric keys of the spec plus the counts")
    func jsonKeys() throws {
        let report = try CaptionScorer(options: ScoringOptions(meteor: false))
            .evaluate([ScoringItem(image: "a", prediction: "a dog", references: ["a dog runs"])])
        let object = try JSONSerialization.jsonObject(with: Data(report.jsonString().utf8)) as! [String: Any]
        for key in ["BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "METEOR", "ROUGE-L", "CIDEr-D",
                    "images_scored", "predictions_without_references", "images_without_predictions", "distinct_predictions"] {
            #expect(object[key] != nil, "missing \(key)")
        }
    }

    @Test("results do not depend on the number of threads")
    func threadCountIndependent() throws {
        let items = Fixtures.parity.images.map { ScoringItem(image: $0.image, prediction: $0.prediction, references: $0.references) }
        let one = try CaptionScorer(options: ScoringOptions(meteor: false, threads: 1)).evaluate(items)
        let two = try CaptionScorer(options: ScoringOptions(meteor: false, threads: 2)).evaluate(items)
        #expect(one.bleu == two.bleu)
        #expect(one.ciderD == two.ciderD)
        #expect(one.rougeL == two.rougeL)
    }

    @Test("METEOR without Java or without the jar is reported unavailable with a one-line fix")
    func meteorUnavailableMessages() {
        let noJava = MeteorScorer.locate(environment: ["PATH": "/nonexistent"])
        #expect(noJava.failure == .noJava)
        #expect(MeteorScorer.Unavailable.noJava.description.contains("apt-get install default-jre-headless"))
        #expect(MeteorScorer.Unavailable.noJar(searched: ["x"]).description.contains("scripts/bootstrap"))
        #expect(!MeteorScorer.Unavailable.noJava.description.contains("\n"))
    }

    @Test("METEOR's protocol line drops ||| and double spaces from the hypothesis, as meteor.py does")
    func meteorScoreLine() {
        #expect(MeteorScorer.scoreLine(hypothesis: "a ||| b  c", references: ["r one", "r two"])
                == "SCORE ||| r one ||| r two ||| a b c")
    }
}

extension Result {
    var failure: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}
