import Foundation

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

enum Fixtures {
    static func url(_ name: String) -> URL {
        guard let url = Bundle.module.url(forResource: "Fixtures/\(name)", withExtension: nil) else {
            fatalError("missing fixture \(name); run tools/reference/make_metric_fixtures.py")
        }
        return url
    }

    static let parity: ParityFixture = {
        try! JSONDecoder().decode(ParityFixture.self, from: Data(contentsOf: url("metric_parity.json")))
    }()

    static let tokenizerStress: [TokenizerCase] = {
        try! JSONDecoder().decode([TokenizerCase].self, from: Data(contentsOf: url("tokenizer_stress.json")))
    }()

    static let tokenizerCases: [TokenizerCase] = {
        try! JSONDecoder().decode([TokenizerCase].self, from: Data(contentsOf: url("tokenizer_cases.json")))
    }()
}
