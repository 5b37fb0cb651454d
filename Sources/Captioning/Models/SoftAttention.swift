import Layers
import TensorCore

/// Show, Attend and Tell with a GRU cell: additive attention over the grid, a gated context,
/// and the context fed with the word embedding. Parameter names are the twin's `SoftAttention`.
///   e_i = att_w · tanh(att_v v_i + att_h h),  α = softmax(e),  z = σ(gate h) ⊙ Σ α_i v_i
///   h' = GRUCell([embed(w); z], h)
public final class SoftAttention: CaptionDecoder {
    public let config: DecoderConfig
    let embed: Embedding, initH: Linear, attV: Linear, attH: Linear, attW: Linear, gate: Linear
    let cell: GRUCell, drop: Dropout, out: Linear

    public init(_ config: DecoderConfig, source: ParameterSource) throws {
        self.config = config
        let (v, c, e, h, a) = (config.vocabularySize, config.featureSize, config.embeddingSize, config.hiddenSize, config.attentionSize)
        embed = try Embedding(v, e, source: source.child("embed"))
        initH = try Linear(c, h, source: source.child("init_h"))
        attV = try Linear(c, a, source: source.child("att_v"))
        attH = try Linear(h, a, source: source.child("att_h"))
        attW = try Linear(a, 1, source: source.child("att_w"))
        gate = try Linear(h, c, source: source.child("gate"))
        cell = try GRUCell(inputSize: e + c, hiddenSize: h, source: source.child("cell"))
        drop = Dropout(config.dropout, generator: source.makeGenerator())
        out = try Linear(h, v, source: source.child("out"))
    }

    public var namedParameters: [(name: String, tensor: Tensor)] {
        prefixed("embed", embed) + prefixed("init_h", initH) + prefixed("att_v", attV) + prefixed("att_h", attH)
            + prefixed("att_w", attW) + prefixed("gate", gate) + prefixed("cell", cell) + prefixed("out", out)
    }

    public func setTraining(_ training: Bool) { drop.setTraining(training) }

    public var dropoutGenerator: RandomGenerator {
        get { drop.generator }
        set { drop.generator = newValue }
    }

    public func initialState(_ features: ImageFeatures) -> DecoderState {
        let grid = features.grid!                                 // [B, L, C]
        let h = initH(grid.mean(axis: 1)).tanh()                  // [B, H]
        let projected = attV(grid)                                // [B, L, A]
        return DecoderState(hidden: h, cell: nil, memory: [grid, projected])
    }

    /// The gated context and attention weights for state h.
    func attend(grid: Tensor, projected: Tensor, h: Tensor) -> (context: Tensor, alpha: Tensor) {
        let scores = additiveScores(projected, attH(h), weight: attW.weight, bias: attW.bias)       // [B, L]
        let alpha = scores.softmax(axis: 1)                                                     // [B, L]
        let context = weightedSum(alpha, grid)                                                  // [B, C]
        return (gate(h).sigmoid() * context, alpha)
    }

    public func forward(_ features: ImageFeatures, tokens: IntTensor) -> (logits: Tensor, attention: Tensor?) {
        let (y, alphas) = teacherForced(features, tokens: tokens, packed: false)
        return (out(y), alphas)                                   // [B, T-1, V], [B, T-1, L]
    }

    public var outputLayer: Linear { out }

    /// Packed (see `LengthOrder`): zero after each caption's last target.
    public func outputFeatures(_ features: ImageFeatures, tokens: IntTensor) -> (features: Tensor, attention: Tensor?) {
        teacherForced(features, tokens: tokens, packed: true)
    }

    private func teacherForced(_ features: ImageFeatures, tokens: IntTensor, packed: Bool) -> (features: Tensor, attention: Tensor?) {
        let rows = LengthOrder(tokens: tokens, packed: packed)
        let (inputs, _) = teacherForcing(rows.sorted(tokens))
        var state = initialState(rows.sorted(features))
        let emb = embed(inputs)                                   // [B, T-1, E]
        let (y, alphas) = rows.run(words: emb, outputWidth: config.hiddenSize, cells: state.memory[0].shape[1]) { word, n in
            // The n captions still running are the first n rows: views, no copies.
            let h = state.hidden.prefixRows(n)                                                  // [n, H]
            let (context, alpha) = attend(grid: state.memory[0].prefixRows(n), projected: state.memory[1].prefixRows(n), h: h)
            state.hidden = cell(concat([word, context], axis: 1), h)                            // [n, H]
            return (state.hidden, alpha)                                                        // [n, H], [n, L]
        }
        return (drop(y), alphas)                                  // [B, T-1, H], [B, T-1, L]
    }

    public func step(_ state: DecoderState, words: IntTensor) -> DecoderStep {
        let (context, alpha) = attend(grid: state.memory[0], projected: state.memory[1], h: state.hidden)
        var next = state
        next.hidden = cell(concat([embed(words), context], axis: 1), state.hidden)
        return DecoderStep(state: next, logits: out(drop(next.hidden)), attention: alpha, sentinel: nil)
    }
}
