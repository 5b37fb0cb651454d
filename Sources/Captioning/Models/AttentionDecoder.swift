import Layers
import TensorCore

/// One step of an attention decoder.
public struct AttentionStep {
    public var state: DecoderState
    /// The vector [B, H] the output layer reads, before dropout.
    public var output: Tensor
    public var alpha: Tensor              // [B, L]
    public var sentinel: Tensor?          // [B, 1] (adaptive attention's β)
}

/// A decoder that attends over the grid at every word: it writes one step, `advance`, and shares
/// the rest — the packed teacher-forced loop, the output layer, decoding steps — from here.
public protocol AttentionDecoder: CaptionDecoder {
    var embed: Embedding { get }
    /// One step from the input words' embeddings [B, E].
    func advance(_ state: DecoderState, embedded: Tensor) -> AttentionStep
}

extension AttentionDecoder {
    public func forward(_ features: ImageFeatures, tokens: IntTensor) -> (logits: Tensor, attention: Tensor?) {
        let (y, alphas) = teacherForced(features, tokens: tokens, packed: false)
        return (outputLayer(y), alphas)                          // [B, T-1, V], [B, T-1, L]
    }

    /// Packed (see `LengthOrder`): zero after each caption's last target.
    public func outputFeatures(_ features: ImageFeatures, tokens: IntTensor) -> (features: Tensor, attention: Tensor?) {
        teacherForced(features, tokens: tokens, packed: true)
    }

    public func step(_ state: DecoderState, words: IntTensor) -> DecoderStep {
        let r = advance(state, embedded: embed(words))
        if !Tape.isRecording && (!dropout.training || dropout.probability == 0) {
            // A beam's few rows of logits come with their normalisers, made in the product's pass.
            let (logits, statistics) = linearLogits(r.output, weight: outputLayer.weight, bias: outputLayer.bias)   // [B, V]
            return DecoderStep(state: r.state, logits: logits, attention: r.alpha, sentinel: r.sentinel, logitStatistics: statistics)
        }
        return DecoderStep(state: r.state, logits: outputLayer(dropout(r.output)), attention: r.alpha, sentinel: r.sentinel)
    }

    /// The dropped-out outputs [B, T-1, H] and attention weights [B, T-1, L] of teacher forcing.
    private func teacherForced(_ features: ImageFeatures, tokens: IntTensor, packed: Bool) -> (features: Tensor, attention: Tensor?) {
        let rows = LengthOrder(tokens: tokens, packed: packed)
        let (inputs, _) = teacherForcing(rows.sorted(tokens))
        var state = initialState(rows.sorted(features))
        let emb = embed(inputs)                                   // [B, T-1, E]
        let (y, alphas) = rows.run(words: emb, outputWidth: config.hiddenSize, cells: state.memory[0].shape[1]) { word, n in
            // The n captions still running are the first n rows: views, no copies.
            let running = DecoderState(hidden: state.hidden.prefixRows(n), cell: nil, memory: state.memory.map { $0.prefixRows(n) })
            let r = advance(running, embedded: word)
            state.hidden = r.state.hidden                         // [n, H]
            return (r.output, r.alpha)                            // [n, H], [n, L]
        }
        return (dropout(y), alphas)
    }
}
