import Foundation
import Testing
import Layers
import TensorCore
@testable import Captioning

/// Unrecorded decoding steps of the show-tell models look their input gates up in a `WordGateTable`
/// instead of multiplying by W_ih: the logits equal a recorded step's, and the table follows the
/// weights when they change.
@Suite struct WordGateTableTests {
    @Test(arguments: [Architecture.showTellGRU, .showTellLSTM])
    func lookedUpStepsMatchMultipliedOnes(_ arch: Architecture) throws {
        let config = DecoderConfig(architecture: arch, vocabularySize: 50, featureSize: 12, embeddingSize: 8,
                                   hiddenSize: 16, dropout: 0)
        let decoder = try makeDecoder(config, source: .initialise(seed: 3))
        decoder.setTraining(false)
        var rng = RandomGenerator(seed: 1)
        let features = ImageFeatures(pooled: Tensor.randn([4, 12], rng: &rng), grid: nil)
        let words = IntTensor([5, 17, 2, 49])
        /// Two steps, so the second reads a state the first produced.
        func logits(recorded: Bool) -> [Float] {
            func run() -> [Float] {
                let first = decoder.step(decoder.initialState(features), words: words)
                return decoder.step(first.state, words: IntTensor([1, 1, 3, 3])).logits.scalars
            }
            return recorded ? Tape().record(run) : Tape.withoutRecording(run)
        }
        func expectSame(_ a: [Float], _ b: [Float], _ what: String) {
            let worst = zip(a, b).map { abs($0 - $1) }.max() ?? 0
            #expect(worst <= 1e-5, "\(arch) \(what): looked-up and multiplied steps differ by \(worst)")
        }
        let before = logits(recorded: false)
        expectSame(before, logits(recorded: true), "fresh model")

        // New embedding and input weights: the table is built again from them.
        let params = Dictionary(uniqueKeysWithValues: decoder.namedParameters.map { ($0.name, $0.tensor) })
        for name in ["embed.weight", "rnn.weight_ih_l0", "rnn.bias_ih_l0"] {
            let p = try #require(params[name])
            p.assign(Tensor(shape: p.shape, values: p.scalars.map { $0 * -1.5 + 0.01 }))
        }
        let after = logits(recorded: false)
        expectSame(after, logits(recorded: true), "changed weights")
        #expect(zip(before, after).contains { abs($0 - $1) > 1e-3 }, "\(arch): the steps still read the old table")
    }
}
