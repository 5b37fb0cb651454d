import Testing
import TestSupport
@testable import CaptionMetrics

@Suite("PTB tokenisation (pycocoevalcap parity)")
struct TokenizerTests {
    @Test("every fixture sentence tokenises exactly as pycocoevalcap's Java PTBTokenizer")
    func fixtureSentencesMatchJava() {
        // pycocoevalcap tokenises all references in one Java run and all predictions in another.
        let images = Fixtures.parity.images
        let references = images.flatMap(\.references)
        let expectedReferences = images.flatMap(\.tokenized_references)
        let predictions = images.map(\.prediction)
        let expectedPredictions = images.map(\.tokenized_prediction)
        var mismatches: [String] = []
        var checked = 0
        for (raw, expected) in [(references, expectedReferences), (predictions, expectedPredictions)] {
            let actual = PTBTokenizer.tokens(ofCaptionsInFileOrder: raw).map { $0.joined(separator: " ") }
            for i in raw.indices {
                checked += 1
                if actual[i] != expected[i] {
                    mismatches.append("\(raw[i].debugDescription)\n  java:  \(expected[i])\n  swift: \(actual[i])")
                }
            }
        }
        #expect(checked > 2000)
        #expect(mismatches.isEmpty, "\(mismatches.count) mismatches:\n\(mismatches.prefix(30).joined(separator: "\n"))")
    }

    @Test("hand-written hard sentences tokenise as the Java tokenizer does")
    func hardSentencesMatchJava() {
        let cases = Fixtures.tokenizerCases
        let actual = PTBTokenizer.tokens(ofCaptionsInFileOrder: cases.map(\.raw)).map { $0.joined(separator: " ") }
        var mismatches: [String] = []
        for (item, tokens) in zip(cases, actual) where tokens != item.tokenized {
            mismatches.append("\(item.raw.debugDescription)\n  java:  \(item.tokenized)\n  swift: \(tokens)")
        }
        #expect(cases.count > 40)
        #expect(mismatches.isEmpty, "\(mismatches.count) mismatches:\n\(mismatches.joined(separator: "\n"))")
    }

    @Test("2,500 word-soup sentences of tricky tokens match the Java tokenizer exactly")
    func stressSentencesMatchJava() {
        let cases = Fixtures.tokenizerStress
        let actual = PTBTokenizer.tokens(ofCaptionsInFileOrder: cases.map(\.raw)).map { $0.joined(separator: " ") }
        var mismatches: [String] = []
        for (item, tokens) in zip(cases, actual) where tokens != item.tokenized {
            mismatches.append("\(item.raw.debugDescription)\n  java:  \(item.tokenized)\n  swift: \(tokens)")
        }
        #expect(cases.count == 2500)
        #expect(mismatches.isEmpty, "\(mismatches.count) mismatches:\n\(mismatches.prefix(20).joined(separator: "\n"))")
    }
}
