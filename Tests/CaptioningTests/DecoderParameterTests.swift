import Foundation
import Testing
import Layers
import TensorCore
import Captioning

/// Parameters are registered once, where each decoder's constructor takes them: every trainable
/// tensor a decoder holds is in its state dict (so the optimizer and the model file see it), under
/// the twin's keys, and a decoder built from its own state dict is the same decoder.
@Suite struct DecoderParameterTests {
    static func config(_ architecture: Architecture) -> DecoderConfig {
        DecoderConfig(architecture: architecture, vocabularySize: 13, featureSize: 6, embeddingSize: 4,
                      hiddenSize: 8, attentionSize: 5, dropout: 0.3)
    }

    /// Every tensor that requires a gradient reachable from `value`'s stored properties (classes,
    /// structs, enums' payloads, optionals, tuples, arrays), not looking inside the registry: what
    /// the decoder really owns, found without asking the decoder.
    static func ownedParameters(of value: Any, seen: inout Set<ObjectIdentifier>, into found: inout [Tensor]) {
        if let tensor = value as? Tensor {
            if tensor.requiresGrad && seen.insert(ObjectIdentifier(tensor)).inserted { found.append(tensor) }
            return
        }
        if value is ParameterRegistry { return }
        if let object = value as AnyObject?, type(of: value) is AnyClass {
            guard seen.insert(ObjectIdentifier(object)).inserted else { return }
        }
        for child in Mirror(reflecting: value).children { ownedParameters(of: child.value, seen: &seen, into: &found) }
    }

    @Test(arguments: Architecture.allCases)
    func everyOwnedParameterIsInTheStateDict(_ architecture: Architecture) throws {
        let decoder = try makeDecoder(Self.config(architecture), source: .initialise(seed: 4))
        var seen = Set<ObjectIdentifier>(), owned: [Tensor] = []
        Self.ownedParameters(of: decoder, seen: &seen, into: &owned)
        let registered = Set(decoder.namedParameters.map { ObjectIdentifier($0.tensor) })
        #expect(owned.count >= 9)                                 // Show and Tell with a GRU has the fewest
        #expect(Set(owned.map(ObjectIdentifier.init)) == registered)
        #expect(decoder.namedParameters.count == Set(decoder.namedParameters.map(\.name)).count)
        #expect(decoder.parameterCount == owned.reduce(0) { $0 + $1.count })
    }

    @Test(arguments: Architecture.allCases)
    func theStateDictRebuildsTheSameDecoder(_ architecture: Architecture) throws {
        let config = Self.config(architecture)
        let decoder = try makeDecoder(config, source: .initialise(seed: 9))
        let source = ParameterSource.load(decoder.stateDict(), origin: "the first decoder")
        let copy = try makeDecoder(config, source: source)
        try source.finish()                                     // every key was taken
        #expect(copy.namedParameters.map(\.name) == decoder.namedParameters.map(\.name))
        for ((_, a), (_, b)) in zip(copy.namedParameters, decoder.namedParameters) {
            #expect(a !== b)
            #expect(a.shape == b.shape && a.scalars == b.scalars)
        }
    }

    @Test func theTwinsKeysForShowAndTellWithAnLSTM() throws {
        let decoder = try makeDecoder(Self.config(.showTellLSTM), source: .initialise(seed: 1))
        let prefixes = Set(decoder.namedParameters.map { String($0.name.split(separator: ".")[0]) })
        #expect(prefixes == ["embed", "init_h", "init_c", "rnn", "out"])
        #expect(decoder.stateDict()["rnn.weight_ih_l0"]?.shape == [32, 4])
    }

    @Test func trainingSwitchesOnlyTheDropoutAndItsGeneratorIsReseedable() throws {
        for architecture in Architecture.allCases {
            let decoder = try makeDecoder(Self.config(architecture), source: .initialise(seed: 2))
            decoder.setTraining(false)
            #expect(decoder.dropout.training == false)
            decoder.setTraining(true)
            #expect(decoder.dropout.training)
            decoder.dropoutGenerator = RandomGenerator(seed: 5)
            var expected = RandomGenerator(seed: 5)
            #expect(decoder.dropout.generator.next() == expected.next())
        }
    }
}
