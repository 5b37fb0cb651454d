import Foundation
import TestSupport

/// The committed output of tools/reference/make_metric_fixtures.py.
struct ParityFixture: Decodable {
    struct Image: Decodable {
        let image: String
        let references: [String]
        let prediction: String
        let tokenized_references: [String]
        let tokenized_prediction: String
        let bleu: [Double]
        let rouge_l: Double
        let cider_d: Double
        let meteor: Double?
    }
    let images: [Image]
    let corpus: [String: Double]
    let nltk_corpus_bleu: [String: [Double?]]
}

struct TokenizerCase: Decodable {
    let raw: String
    let tokenized: String
}

/// The committed fixtures of this test target (tools/reference/make_metric_fixtures.py writes them).
let fixtures = Fixtures(bundle: .module)

/// The parsed fixtures, read once for all the suites.
extension Fixtures {
    static let parity: ParityFixture = try! fixtures.json(ParityFixture.self, "metric_parity.json")
    static let tokenizerStress: [TokenizerCase] = try! fixtures.json([TokenizerCase].self, "tokenizer_stress.json")
    static let tokenizerCases: [TokenizerCase] = try! fixtures.json([TokenizerCase].self, "tokenizer_cases.json")
}
