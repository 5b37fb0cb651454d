import Testing
@testable import CaptionMetrics

@Suite("PTB tokenisation (pycocoevalcap parity)")
struct TokenizerTests {
    @Test("every fixture sentence tokenises exactly as pycocoevalcap's Java PTBTokenizer")
    func fixtureSentencesMatchJava() {
        var checked = 0
        var mismatches: [String] = []
        for image in Fixtures.parity.images {
            let pairs = zip(image.references + [image.prediction],
                            image.tokenized_references + [image.tokenized_prediction])
            for (raw, expected) in pairs {
                checked += 1
                let actual = PTBTokenizer.tokenize(raw)
                if actual != expected { mismatches.append("\(raw.debugDescription)\n  java:  \(expected)\n  swift: \(actual)") }
            }
        }
        #expect(checked > 2000)
        #expect(mismatches.isEmpty, "\(mismatches.count) mismatches:\n\(mismatches.prefix(30).joined(separator: "\n"))")
    }

    @Test("hand-written hard sentences tokenise as the Java tokenizer does")
    func hardSentencesMatchJava() {
        var mismatches: [String] = []
        for item in Fixtures.tokenizerCases {
            let actual = PTBTokenizer.tokenize(item.raw)
            if actual != item.tokenized { mismatches.append("\(item.raw.debugDescription)\n  java:  \(item.tokenized)\n  swift: \(actual)") }
        }
        #expect(mismatches.isEmpty, "\(mismatches.count) mismatches:\n\(mismatches.joined(separator: "\n"))")
    }
}
