import CaptionData
import Layers
import TensorCore

/// The decoders of SPEC §2, by their command-line names.
public enum Architecture: String, CaseIterable, Codable, Sendable {
    case showTellGRU = "show-tell-gru"
    case showTellLSTM = "show-tell-lstm"
    case softAttentionGRU = "soft-attention-gru"
    case adaptiveAttentionGRU = "adaptive-attention-gru"

    /// Whether the decoder reads the spatial grid (attention) or only its mean.
    public var usesGrid: Bool { self == .softAttentionGRU || self == .adaptiveAttentionGRU }
    /// λ of the doubly stochastic attention penalty in the training loss.
    public var defaultAttentionPenalty: Float { self == .softAttentionGRU ? 1 : 0 }
}

/// Sizes and options of a decoder; saved in the model file.
public struct DecoderConfig: Codable, Equatable, Sendable {
    public var architecture: Architecture
    public var vocabularySize: Int
    public var featureSize: Int         // C
    public var embeddingSize: Int = 256 // E
    public var hiddenSize: Int = 512    // H
    public var attentionSize: Int = 256 // A (soft attention; adaptive uses H/2 as the twin does)
    public var dropout: Float = 0.5

    public init(architecture: Architecture, vocabularySize: Int, featureSize: Int, embeddingSize: Int = 256,
                hiddenSize: Int = 512, attentionSize: Int = 256, dropout: Float = 0.5) {
        self.architecture = architecture
        self.vocabularySize = vocabularySize
        self.featureSize = featureSize
        self.embeddingSize = embeddingSize
        self.hiddenSize = hiddenSize
        self.attentionSize = attentionSize
        self.dropout = dropout
    }
}

/// Image features for a batch: the pooled vector, and the spatial grid for attention models.
public struct ImageFeatures {
    public var pooled: Tensor    // [B, C]
    public var grid: Tensor?     // [B, L, C]

    public init(pooled: Tensor, grid: Tensor?) {
        self.pooled = pooled
        self.grid = grid
    }

    public var batch: Int { pooled.shape[0] }

    /// The features of images `rows` (in that order, repeats allowed).
    public func rows(_ rows: [Int32]) -> ImageFeatures {
        ImageFeatures(pooled: selectRows(pooled, rows), grid: grid.map { selectRows($0, rows) })
    }
}

/// Rows of a tensor along its first axis, in the given order (a differentiable gather).
func selectRows(_ t: Tensor, _ rows: [Int32]) -> Tensor {
    let width = t.count / max(t.shape[0], 1)
    let picked = gatherRows(t.reshaped([t.shape[0], width]), IntTensor(rows))
    return picked.reshaped([rows.count] + t.shape.dropFirst())
}

/// What a decoder carries from one word to the next: the recurrent state and the per-image tensors
/// it computed once (projected grid and the like), all with the batch on the first axis.
public struct DecoderState {
    public var hidden: Tensor            // [B, H]
    public var cell: Tensor?             // [B, H] for LSTMs
    public var memory: [Tensor]          // per-image precomputations, batch first

    /// The state of rows `rows` (beam search follows the surviving hypotheses this way).
    public func rows(_ rows: [Int32]) -> DecoderState {
        DecoderState(hidden: selectRows(hidden, rows), cell: cell.map { selectRows($0, rows) },
                     memory: memory.map { selectRows($0, rows) })
    }
}

/// One decoding step's result for a batch.
public struct DecoderStep {
    public var state: DecoderState
    public var logits: Tensor            // [B, V]
    public var attention: Tensor?        // [B, L]
    public var sentinel: Tensor?         // [B, 1] (adaptive attention's β)
    /// The logits' row normalisers and block maxima, when the output product made them in passing.
    public var logitStatistics: LogitStatistics? = nil
}

/// A caption decoder: teacher-forced forward for training, step-by-step for decoding.
public protocol CaptionDecoder: Module {
    var config: DecoderConfig { get }
    /// Every parameter, as the constructor took them from its `ParameterSource`: the state dict.
    var registeredParameters: ParameterRegistry { get }
    /// The dropout before the output layer, the decoder's only training-time behaviour.
    var dropout: Dropout { get }
    /// Teacher forcing. tokens [B, T] = <start> w… <end> <pad>…; returns logits [B, T−1, V] for
    /// the targets tokens[:, 1:], and the attention weights [B, T−1, L] where the model has them.
    func forward(_ features: ImageFeatures, tokens: IntTensor) -> (logits: Tensor, attention: Tensor?)
    /// Teacher forcing up to the output layer: the (dropped-out) vectors [B, T−1, H] that
    /// `outputLayer` maps to `forward`'s logits, and the attention weights. Positions whose target
    /// is padding may be left uncomputed (zero): the loss ignores them.
    func outputFeatures(_ features: ImageFeatures, tokens: IntTensor) -> (features: Tensor, attention: Tensor?)
    /// The last layer, H → V.
    var outputLayer: Linear { get }
    func initialState(_ features: ImageFeatures) -> DecoderState
    func step(_ state: DecoderState, words: IntTensor) -> DecoderStep
}

/// What every decoder shares: its parameters are those it registered, and training only switches its dropout.
extension CaptionDecoder {
    public var namedParameters: [(name: String, tensor: Tensor)] { registeredParameters.named }

    public func setTraining(_ training: Bool) { dropout.setTraining(training) }

    /// The generator behind dropout masks; training reseeds it every step so runs repeat exactly.
    public var dropoutGenerator: RandomGenerator {
        get { dropout.generator }
        set { dropout.generator = newValue }
    }

    /// Teacher forcing with scheduled sampling (Bengio et al. 2015): at each step, each caption's
    /// input word is the model's own previous greedy choice with probability `probability`, else the
    /// true previous word. Runs step by step, so it is slower than `forward`. `rows`: these captions
    /// are rows rows.lowerBound… of a batch of `batchRows` (`ProcessGroup`), and take that batch's
    /// draws for them.
    public func forwardScheduled(_ features: ImageFeatures, tokens: IntTensor, probability: Float,
                                 rng: inout RandomGenerator, firstRow: Int = 0, batchRows: Int? = nil) -> (logits: Tensor, attention: Tensor?) {
        let (inputs, _) = teacherForcing(tokens)
        let (b, steps) = (inputs.shape[0], inputs.shape[1])
        let batchRows = batchRows ?? b
        var state = initialState(features)
        var logits: [Tensor] = [], alphas: [Tensor] = []
        var previous: [Int32]? = nil
        for t in 0..<steps {
            var words = (0..<b).map { inputs.values[$0 * steps + t] }
            if let previous {
                for row in 0..<batchRows {
                    let draw = rng.unit(), r = row - firstRow
                    if r >= 0 && r < b && draw < probability { words[r] = previous[r] }
                }
            }
            let out = step(state, words: IntTensor(words))
            state = out.state
            logits.append(out.logits.unsqueezed(axis: 1))
            if let a = out.attention { alphas.append(a.unsqueezed(axis: 1)) }
            let v = out.logits.shape[1]
            previous = (0..<b).map { r in
                let row = out.logits.data + r * v
                var best = 0
                for j in 1..<v where row[j] > row[best] { best = j }
                return Int32(best)
            }
        }
        return (concat(logits, axis: 1), alphas.isEmpty ? nil : concat(alphas, axis: 1))
    }
}

/// Builds the decoder of `config` with parameters from `source` (initialised or loaded).
public func makeDecoder(_ config: DecoderConfig, source: ParameterSource) throws -> CaptionDecoder {
    switch config.architecture {
    case .showTellGRU, .showTellLSTM: return try ShowTell(config, source: source)
    case .softAttentionGRU: return try SoftAttention(config, source: source)
    case .adaptiveAttentionGRU: return try AdaptiveAttention(config, source: source)
    }
}

/// tokens [B, T] → (inputs [B, T−1] = tokens[:, :-1], targets [B·(T−1)] = tokens[:, 1:] flattened).
func teacherForcing(_ tokens: IntTensor) -> (inputs: IntTensor, targets: IntTensor) {
    let (b, t) = (tokens.shape[0], tokens.shape[1])
    var inputs = [Int32](), targets = [Int32]()
    inputs.reserveCapacity(b * (t - 1))
    targets.reserveCapacity(b * (t - 1))
    for r in 0..<b {
        let row = tokens[r]
        inputs += row.dropLast()
        targets += row.dropFirst()
    }
    return (IntTensor(shape: [b, t - 1], values: inputs), IntTensor(shape: [b * (t - 1)], values: targets))
}

extension CaptionDecoder {
    /// `captionLoss(forward(features, tokens))` with the output layer fused into the cross-entropy
    /// (`linearCrossEntropy`): no logits for padding, no [B, T−1, V] tensor kept for backward. Same
    /// value and gradients as the unfused pair, same dropout draws.
    public func trainingLoss(_ features: ImageFeatures, tokens: IntTensor, attentionPenalty: Float, share: BatchShare = .whole) -> Tensor {
        let (y, attention) = outputFeatures(features, tokens: tokens)
        let (_, targets) = teacherForcing(tokens)
        let layer = outputLayer
        let ce = linearCrossEntropy(y.reshaped([-1, layer.inFeatures]), weight: layer.weight, bias: layer.bias,
                                    targets: targets, ignoreIndex: SpecialToken.pad)
        return share.combine(crossEntropy: ce, attention: attention, targets: targets, penalty: attentionPenalty)
    }
}

/// Per caption, the steps that have a target: 1 + the last position whose target is not padding.
func targetLengths(_ tokens: IntTensor) -> [Int] {
    let (b, t) = (tokens.shape[0], tokens.shape[1])
    return (0..<b).map { r in
        var n = t - 1
        while n > 0 && tokens.values[r * t + n] == SpecialToken.pad { n -= 1 }
        return n
    }
}

/// The attention decoders' packed teacher forcing: the batch's captions sorted longest first (the
/// order `SequencePacking` gives the recurrent layers), so the captions still running at step t are
/// the first alive[t] rows and each step computes only those (the rest of a padded batch is about
/// 40% of its positions).
struct LengthOrder {
    let order: [Int32]      // sorted position → batch row
    let inverse: [Int32]    // batch row → sorted position
    let alive: [Int]        // rows still running at each step
    let isIdentity: Bool

    /// packed: false keeps the batch as it is with every row running every step (`forward`).
    init(tokens: IntTensor, packed: Bool) {
        let steps = tokens.shape[1] - 1
        let lengths = packed ? targetLengths(tokens) : Array(repeating: steps, count: tokens.shape[0])
        let packing = SequencePacking(lengths: lengths, steps: steps)
        order = packing.order.map(Int32.init)
        var inverse = [Int32](repeating: 0, count: order.count)
        for (position, row) in packing.order.enumerated() { inverse[row] = Int32(position) }
        self.inverse = inverse
        alive = packing.active
        isIdentity = packing.order == Array(packing.order.indices)
    }

    func sorted(_ features: ImageFeatures) -> ImageFeatures { isIdentity ? features : features.rows(order) }

    func sorted(_ tokens: IntTensor) -> IntTensor {
        if isIdentity { return tokens }
        let t = tokens.shape[1]
        return IntTensor(shape: tokens.shape, values: order.flatMap { tokens.values[Int($0) * t..<(Int($0) + 1) * t] })
    }

    /// The teacher-forced loop: for each step, `step(word, n)` advances the n captions still running
    /// (the first n sorted rows) given their input words [n, E] (a view of `words` [B, steps, E],
    /// sorted), and returns their output [n, W] and attention weights [n, L]. Returns those as
    /// [B, steps, W] and [B, steps, L] in batch order, zero where a caption had ended.
    func run(words: Tensor, outputWidth: Int, cells: Int,
             _ step: (_ word: Tensor, _ n: Int) -> (output: Tensor, alpha: Tensor)) -> (outputs: Tensor, alphas: Tensor) {
        var outputs: [Tensor] = [], alphas: [Tensor] = []
        for (t, n) in alive.enumerated() {
            if n == 0 {                                           // a padding-only column
                outputs.append(Tensor(zeros: [0, outputWidth]))
                alphas.append(Tensor(zeros: [0, cells]))
                continue
            }
            let r = step(words.slice(axis: 1, start: t, length: 1).squeezed(axis: 1).prefixRows(n), n)
            outputs.append(r.output)
            alphas.append(r.alpha)
        }
        return (unsorted(outputs), unsorted(alphas))
    }

    /// Per-step outputs [alive[t], W] (sorted rows) → [B, steps, W] in batch order, zero where a
    /// caption had ended.
    private func unsorted(_ perStep: [Tensor]) -> Tensor {
        let batch = order.count
        let stacked = concat(perStep.map { $0.paddedRows(to: batch).unsqueezed(axis: 1) }, axis: 1)   // [B, steps, W]
        return isIdentity ? stacked : selectRows(stacked, inverse)
    }
}

/// The twin's `caption_loss`: mean cross-entropy over real target tokens (padding ignored),
/// plus λ · mean_b Σ_i (1 − Σ_t α_bti)², t running over steps whose target is not padding.
public func captionLoss(logits: Tensor, attention: Tensor?, tokens: IntTensor, attentionPenalty: Float, share: BatchShare = .whole) -> Tensor {
    let (_, targets) = teacherForcing(tokens)
    let v = logits.shape[logits.rank - 1]
    let ce = crossEntropy(logits.reshaped([-1, v]), targets: targets, ignoreIndex: SpecialToken.pad)
    return share.combine(crossEntropy: ce, attention: attention, targets: targets, penalty: attentionPenalty)
}

/// The part of a batch one process computes when a `ProcessGroup` shares it out. The loss's two
/// means are over the whole batch: cross-entropy over its target tokens, the attention penalty over
/// its captions. A part's means are over its own, so each is weighted by the part's fraction of
/// what it averages; the parts' losses and gradients then sum to the whole batch's.
public struct BatchShare: Sendable, Equatable {
    /// The part's target tokens over the batch's, and its captions over the batch's.
    public var targets: Float, captions: Float
    public static let whole = BatchShare(targets: 1, captions: 1)

    public init(targets: Float, captions: Float) {
        self.targets = targets
        self.captions = captions
    }

    func combine(crossEntropy ce: Tensor, attention: Tensor?, targets ids: IntTensor, penalty: Float) -> Tensor {
        let weighted = targets == 1 ? ce : ce * targets
        guard let attention, penalty > 0 else { return weighted }
        return weighted + attentionLoss(attention, targets: ids, penalty: penalty * captions)
    }
}

/// λ · mean_b Σ_i (1 − Σ_t α_bti)² over the steps whose target is not padding.
func attentionLoss(_ attention: Tensor, targets: IntTensor, penalty: Float) -> Tensor {
    let (b, steps) = (attention.shape[0], attention.shape[1])
    let mask = Tensor(shape: [b, steps, 1], values: targets.values.map { $0 != SpecialToken.pad ? 1 : 0 })
    let covered = (attention * mask).sum(axis: 1)              // [B, L]
    let shortfall = 1 - covered
    return (shortfall * shortfall).sum(axis: 1).mean() * penalty
}

extension DecoderConfig {
    /// The sizes of a twin state dict, read off its weight shapes (for `caption import`).
    public static func infer(_ architecture: Architecture, from weights: [String: Tensor], origin: String) throws -> DecoderConfig {
        func shape(_ key: String) throws -> [Int] {
            guard let t = weights[key] else { throw WeightError.missing(key: key, origin: origin) }
            return t.shape
        }
        let embed = try shape("embed.weight")
        guard embed.count == 2 else { throw WeightError.shape(key: "embed.weight", expected: [0, 0], found: embed, origin: origin) }
        let (vocabulary, embedding) = (embed[0], embed[1])
        switch architecture {
        case .showTellGRU, .showTellLSTM:
            let initH = try shape("init_h.weight")
            return DecoderConfig(architecture: architecture, vocabularySize: vocabulary, featureSize: initH[1],
                                 embeddingSize: embedding, hiddenSize: initH[0])
        case .softAttentionGRU:
            let initH = try shape("init_h.weight"), attV = try shape("att_v.weight")
            return DecoderConfig(architecture: architecture, vocabularySize: vocabulary, featureSize: initH[1],
                                 embeddingSize: embedding, hiddenSize: initH[0], attentionSize: attV[0])
        case .adaptiveAttentionGRU:
            let projV = try shape("proj_v.weight")
            return DecoderConfig(architecture: architecture, vocabularySize: vocabulary, featureSize: projV[1],
                                 embeddingSize: embedding, hiddenSize: projV[0])
        }
    }
}
