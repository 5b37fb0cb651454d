import Layers
import TensorCore

/// Knowing When to Look with a GRU: spatial attention on h_t plus a visual sentinel.
/// Parameter names are the twin's `AdaptiveAttention` (attention size H/2 as there).
///   v_i = relu(proj_v grid_i)   g = relu(proj_g mean(grid))   x_t = [embed(w); g]
///   gate = σ(sent_x x_t + sent_h h)   h' = GRUCell(x_t, h)   s = gate ⊙ tanh(h')
///   z_i = att_w tanh(att_v v_i + att_g h'),  z_s = att_w tanh(att_s s + att_g h')
///   [α; β] = softmax([z; z_s])   ĉ = β s + Σ α_i v_i   logits = out(dropout(ĉ + h'))
public final class AdaptiveAttention: AttentionDecoder {
    public let config: DecoderConfig
    public let registeredParameters = ParameterRegistry()
    public let embed: Embedding, dropout: Dropout, outputLayer: Linear
    let projV: Linear, projG: Linear, cell: GRUCell, sentX: Linear, sentH: Linear
    let attV: Linear, attG: Linear, attS: Linear, attW: Linear

    public init(_ config: DecoderConfig, source parent: ParameterSource) throws {
        self.config = config
        let source = parent.registering(into: registeredParameters)
        let (v, c, e, h) = (config.vocabularySize, config.featureSize, config.embeddingSize, config.hiddenSize)
        embed = try Embedding(v, e, source: source.child("embed"))
        projV = try Linear(c, h, source: source.child("proj_v"))
        projG = try Linear(c, h, source: source.child("proj_g"))
        cell = try GRUCell(inputSize: e + h, hiddenSize: h, source: source.child("cell"))
        sentX = try Linear(e + h, h, source: source.child("sent_x"))
        sentH = try Linear(h, h, source: source.child("sent_h"))
        attV = try Linear(h, h / 2, source: source.child("att_v"))
        attG = try Linear(h, h / 2, source: source.child("att_g"))
        attS = try Linear(h, h / 2, source: source.child("att_s"))
        attW = try Linear(h / 2, 1, source: source.child("att_w"))
        dropout = Dropout(config.dropout, generator: source.makeGenerator())
        outputLayer = try Linear(h, v, source: source.child("out"))
    }

    public func initialState(_ features: ImageFeatures) -> DecoderState {
        let grid = features.grid!                                 // [B, L, C]
        let v = projV(grid).relu()                                // [B, L, H]
        let g = projG(grid.mean(axis: 1)).relu()                  // [B, H]
        let pv = attV(v)                                          // [B, L, H/2]
        let h = Tensor(zeros: [grid.shape[0], config.hiddenSize])
        return DecoderState(hidden: h, cell: nil, memory: [v, g, pv])
    }

    /// One step: the pre-output vector is ĉ + h'.
    public func advance(_ state: DecoderState, embedded: Tensor) -> AttentionStep {
        let (v, g, pv) = (state.memory[0], state.memory[1], state.memory[2])
        let x = concat([embedded, g], axis: 1)                    // [B, E+H]
        let sentinelGate = (sentX(x) + sentH(state.hidden)).sigmoid()
        let h = cell(x, state.hidden)                             // [B, H]
        let s = sentinelGate * h.tanh()                           // [B, H]
        let hg = attG(h)                                          // [B, H/2]
        let z = additiveScores(pv, hg, weight: attW.weight, bias: attW.bias)                        // [B, L]
        let zs = additiveScores(attS(s).unsqueezed(axis: 1), hg, weight: attW.weight, bias: attW.bias)   // [B, 1]
        let a = concat([z, zs], axis: 1).softmax(axis: 1)         // [B, L+1]
        let cells = v.shape[1]
        let alpha = a.slice(axis: 1, start: 0, length: cells)     // [B, L]
        let beta = a.slice(axis: 1, start: cells, length: 1)      // [B, 1]
        let c = weightedSum(alpha, v)                             // [B, H]
        var next = state
        next.hidden = h
        return AttentionStep(state: next, output: beta * s + c + h, alpha: alpha, sentinel: beta)
    }
}
