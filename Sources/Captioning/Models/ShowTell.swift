import Layers
import TensorCore

/// Show and Tell (init-inject): the pooled CNN vector sets the initial state; a GRU or LSTM reads
/// teacher-forced word embeddings. Parameter names are the twin's `ShowTell`.
public final class ShowTell: CaptionDecoder {
    public let config: DecoderConfig
    public let registeredParameters = ParameterRegistry()
    public let dropout: Dropout, outputLayer: Linear
    let embed: Embedding, initH: Linear, recurrence: Recurrence
    /// Decoding reads the recurrent input projection from here instead of multiplying by W_ih.
    private let wordGates = WordGateTable()

    /// The recurrent layer: a GRU, or an LSTM with the layer that sets its initial cell.
    enum Recurrence {
        case gru(GRU)
        case lstm(LSTM, initC: Linear)

        var weights: RecurrentParameters {
            switch self {
            case let .gru(gru): gru.weights
            case let .lstm(lstm, _): lstm.weights
            }
        }
    }

    public init(_ config: DecoderConfig, source parent: ParameterSource) throws {
        precondition(!config.architecture.usesGrid, "ShowTell is the pooled-feature decoder")
        self.config = config
        let source = parent.registering(into: registeredParameters)
        let (v, c, e, h) = (config.vocabularySize, config.featureSize, config.embeddingSize, config.hiddenSize)
        embed = try Embedding(v, e, source: source.child("embed"))
        initH = try Linear(c, h, source: source.child("init_h"))
        if config.architecture == .showTellLSTM {
            let initC = try Linear(c, h, source: source.child("init_c"))
            recurrence = .lstm(try LSTM(inputSize: e, hiddenSize: h, source: source.child("rnn")), initC: initC)
        } else {
            recurrence = .gru(try GRU(inputSize: e, hiddenSize: h, source: source.child("rnn")))
        }
        dropout = Dropout(config.dropout, generator: source.makeGenerator())
        outputLayer = try Linear(h, v, source: source.child("out"))
    }

    public func forward(_ features: ImageFeatures, tokens: IntTensor) -> (logits: Tensor, attention: Tensor?) {
        (outputLayer(sequence(features, tokens: tokens, lengths: nil)), nil)   // [B, T-1, V]
    }

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
        switch recurrence {
        case let .gru(gru): y = gru(x, state.hidden, lengths: lengths)
        case let .lstm(lstm, _): y = lstm(x, (state.hidden, Self.cell(of: state)), lengths: lengths).y
        }
        return dropout(y)                                         // [B, T-1, H]
    }

    public func initialState(_ features: ImageFeatures) -> DecoderState {
        let h = initH(features.pooled).tanh()                     // [B, H]
        guard case let .lstm(_, initC) = recurrence else { return DecoderState(hidden: h, cell: nil, memory: []) }
        return DecoderState(hidden: h, cell: initC(features.pooled).tanh(), memory: [])   // c [B, H]
    }

    private static func cell(of state: DecoderState) -> Tensor {
        guard let cell = state.cell else { preconditionFailure("an LSTM decoder's state carries its cell") }
        return cell
    }

    public func step(_ state: DecoderState, words: IntTensor) -> DecoderStep {
        var next = state
        if Tape.isRecording {                                     // a step that may need gradients
            let x = embed(words)                                  // [B, E]
            switch recurrence {
            case let .gru(gru): next.hidden = gru.step(x, state.hidden)
            case let .lstm(lstm, _): (next.hidden, next.cell) = lstm.step(x, (state.hidden, Self.cell(of: state)))
            }
        } else {
            let gi = wordGates.inputGates(words, embedding: embed.weight, weights: recurrence.weights)   // [B, gates·H]
            switch recurrence {
            case let .gru(gru): next.hidden = gru.step(inputGates: gi, state.hidden)
            case let .lstm(lstm, _): (next.hidden, next.cell) = lstm.step(inputGates: gi, (state.hidden, Self.cell(of: state)))
            }
            if !dropout.training || dropout.probability == 0 {
                // A beam's few rows of logits come with their normalisers, made in the product's pass.
                let (logits, statistics) = linearLogits(next.hidden, weight: outputLayer.weight, bias: outputLayer.bias)   // [B, V]
                return DecoderStep(state: next, logits: logits, attention: nil, sentinel: nil, logitStatistics: statistics)
            }
        }
        return DecoderStep(state: next, logits: outputLayer(dropout(next.hidden)), attention: nil, sentinel: nil)
    }
}
