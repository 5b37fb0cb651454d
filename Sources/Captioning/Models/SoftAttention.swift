import Layers
import TensorCore

/// Show, Attend and Tell with a GRU cell: additive attention over the grid, a gated context,
/// and the context fed with the word embedding. Parameter names are the twin's `SoftAttention`.
///   e_i = att_w · tanh(att_v v_i + att_h h),  α = softmax(e),  z = σ(gate h) ⊙ Σ α_i v_i
///   h' = GRUCell([embed(w); z], h)
public final class SoftAttention: AttentionDecoder {
    public let config: DecoderConfig
    public let registeredParameters = ParameterRegistry()
    public let embed: Embedding, dropout: Dropout, outputLayer: Linear
    let initH: Linear, attV: Linear, attH: Linear, attW: Linear, gate: Linear, cell: GRUCell

    public init(_ config: DecoderConfig, source parent: ParameterSource) throws {
        self.config = config
        let source = parent.registering(into: registeredParameters)
        let (v, c, e, h, a) = (config.vocabularySize, config.featureSize, config.embeddingSize, config.hiddenSize, config.attentionSize)
        embed = try Embedding(v, e, source: source.child("embed"))
        initH = try Linear(c, h, source: source.child("init_h"))
        attV = try Linear(c, a, source: source.child("att_v"))
        attH = try Linear(h, a, source: source.child("att_h"))
        attW = try Linear(a, 1, source: source.child("att_w"))
        gate = try Linear(h, c, source: source.child("gate"))
        cell = try GRUCell(inputSize: e + c, hiddenSize: h, source: source.child("cell"))
        dropout = Dropout(config.dropout, generator: source.makeGenerator())
        outputLayer = try Linear(h, v, source: source.child("out"))
    }

    public func initialState(_ features: ImageFeatures) -> DecoderState {
        let grid = features.grid!                                 // [B, L, C]
        let h = initH(grid.mean(axis: 1)).tanh()                  // [B, H]
        let projected = attV(grid)                                // [B, L, A]
        return DecoderState(hidden: h, cell: nil, memory: [grid, projected])
    }

    public func advance(_ state: DecoderState, embedded: Tensor) -> AttentionStep {
        let (grid, projected, h) = (state.memory[0], state.memory[1], state.hidden)
        let scores = additiveScores(projected, attH(h), weight: attW.weight, bias: attW.bias)       // [B, L]
        let alpha = scores.softmax(axis: 1)                                                     // [B, L]
        let context = gate(h).sigmoid() * weightedSum(alpha, grid)                              // [B, C]
        var next = state
        next.hidden = cell(concat([embedded, context], axis: 1), h)                             // [B, H]
        return AttentionStep(state: next, output: next.hidden, alpha: alpha, sentinel: nil)
    }
}
