import Layers
import TensorCore

/// Show and Tell (init-inject): the pooled CNN vector sets the initial state; a GRU or LSTM reads
/// teacher-forced word embeddings. Parameter names are the twin's `ShowTell`.
public final class ShowTell: CaptionDecoder {
    public let config: DecoderConfig
    let embed: Embedding, initH: Linear, initC: Linear?
    let gru: GRU?, lstm: LSTM?
    let drop: Dropout, out: Linear
    /// Decoding reads the recurrent input projection from here instead of multiplying by W_ih.
    private let wordGates = WordGateTable()

    public init(_ config: DecoderConfig, source: ParameterSource) throws {
        precondition(!config.architecture.usesGrid, "ShowTell is the pooled-feature decoder")
        self.config = config
        let (v, c, e, h) = (config.vocabularySize, config.featureSize, config.embeddingSize, config.hiddenSize)
        let isLSTM = config.architecture == .showTellLSTM
        embed = try Embedding(v, e, source: source.child("embed"))
        initH = try Linear(c, h, source: source.child("init_h"))
        initC = isLSTM ? try Linear(c, h, source: source.child("init_c")) : nil
        gru = isLSTM ? nil : try GRU(inputSize: e, hiddenSize: h, source: source.child("rnn"))
        lstm = isLSTM ? try LSTM(inputSize: e, hiddenSize: h, source: source.child("rnn")) : nil
        drop = Dropout(config.dropout, generator: source.makeGenerator())
        out = try Linear(h, v, source: source.child("out"))
    }

    public var namedParameters: [(name: String, tensor: Tensor)] {
        prefixed("embed", embed) + prefixed("init_h", initH) + (initC.map { prefixed("init_c", $0) } ?? [])
            + prefixed("rnn", (gru as Module?) ?? lstm!) + prefixed("out", out)
    }

    public func setTraining(_ training: Bool) { drop.setTraining(training) }

    public var dropoutGenerator: RandomGenerator {
        get { drop.generator }
        set { drop.generator = newValue }
    }

    public func forward(_ features: ImageFeatures, tokens: IntTensor) -> (logits: Tensor, attention: Tensor?) {
        (out(sequence(features, tokens: tokens, lengths: nil)), nil)   // [B, T-1, V]
    }

    public var outputLayer: Linear { out }

    /// Packed: each caption's recurrence stops at its last target, so padding costs nothing.
    public func outputFeatures(_ features: ImageFeatures, tokens: IntTensor) -> (features: Tensor, attention: Tensor?) {
        (sequence(features, tokens: tokens, lengths: targetLengths(tokens)), nil)
    }

    /// The dropped-out recurrent outputs [B, T-1, H]; with `lengths`, zero after each caption's end.
    private func sequence(_ features: ImageFeatures, tokens: IntTensor, lengths: [Int]?) -> Tensor {
        let (inputs, _) = teacherForcing(tokens)
        let x = embed(inputs)                                     // [B, T-1, E]
        let state = initialState(features)
        let y: Tensor                                             // [B, T-1, H]
        if let gru {
            y = gru(x, state.hidden, lengths: lengths)
        } else {
            y = lstm!(x, (state.hidden, state.cell!), lengths: lengths).y
        }
        return drop(y)                                            // [B, T-1, H]
    }

    public func initialState(_ features: ImageFeatures) -> DecoderState {
        let h = initH(features.pooled).tanh()                     // [B, H]
        let c = initC.map { $0(features.pooled).tanh() }          // [B, H]
        return DecoderState(hidden: h, cell: c, memory: [])
    }

    public func step(_ state: DecoderState, words: IntTensor) -> DecoderStep {
        var next = state
        if Tape.isRecording {                                     // a step that may need gradients
            let x = embed(words)                                  // [B, E]
            if let gru {
                next.hidden = gru.step(x, state.hidden)
            } else {
                (next.hidden, next.cell) = lstm!.step(x, (state.hidden, state.cell!))
            }
        } else {
            let rnn = gru?.weights ?? lstm!.weights
            let gi = wordGates.inputGates(words, embedding: embed.weight, weights: rnn)   // [B, gates·H]
            if let gru {
                next.hidden = gru.step(inputGates: gi, state.hidden)
            } else {
                (next.hidden, next.cell) = lstm!.step(inputGates: gi, (state.hidden, state.cell!))
            }
            if !drop.training || drop.probability == 0 {
                // A beam's few rows of logits come with their normalisers, made in the product's pass.
                let (logits, statistics) = linearLogits(next.hidden, weight: out.weight, bias: out.bias)   // [B, V]
                return DecoderStep(state: next, logits: logits, attention: nil, sentinel: nil, logitStatistics: statistics)
            }
        }
        return DecoderStep(state: next, logits: out(drop(next.hidden)), attention: nil, sentinel: nil)
    }
}
