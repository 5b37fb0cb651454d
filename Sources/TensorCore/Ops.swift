#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// The closed set of differentiable operations. Each computes its forward value here and, while a
// tape is recording and an input needs a gradient, records an `Op` whose backward rule lives in
// `Gradients.swift`. Shapes are given as comments: B batch, T time, I/H/O feature sizes.

@inline(__always)
func record(_ op: @autoclosure () -> Op, inputs: [Tensor], outputs: [Tensor]) {
    guard willRecord(inputs), let tape = Tape.active else { return }
    tape.append(op(), outputs: outputs)
}

/// Whether an op on `inputs` will be recorded: a tape is active and some input needs a gradient.
/// Fused ops ask first, to save what backward needs only when it will run.
@inline(__always)
func willRecord(_ inputs: [Tensor]) -> Bool {
    Tape.isRecording && inputs.contains(where: \.requiresGrad)
}

/// Both gate projections of a recurrent cell: (x·W_ihᵀ + b_ih, h·W_hhᵀ + b_hh), each [B, gates·H].
private func gateProjections(_ x: Tensor, _ h: Tensor, weightIH: Tensor, weightHH: Tensor, biasIH: Tensor, biasHH: Tensor,
                             gates: Int, cell: String) -> (gi: Tensor, gh: Tensor) {
    let (batch, hidden) = (h.shape[0], h.shape[1])
    precondition(weightIH.shape == [gates * hidden, x.shape[1]] && weightHH.shape == [gates * hidden, hidden],
                 "\(cell): weights do not fit x \(x.shape), h \(h.shape)")
    let gi = Tensor(uninitialized: [batch, gates * hidden])
    gemm(x.data, weightIH.data, gi.data, m: batch, n: gates * hidden, k: x.shape[1], transposeB: true, bias: biasIH.data, weight: weightIH.storage)
    return (gi, hiddenGates(h, weightHH: weightHH, biasHH: biasHH, gates: gates))
}

/// h·W_hhᵀ + b_hh [B, gates·H]: the recurrent half of a cell's gate projections.
private func hiddenGates(_ h: Tensor, weightHH: Tensor, biasHH: Tensor, gates: Int) -> Tensor {
    let (batch, hidden) = (h.shape[0], h.shape[1])
    let gh = Tensor(uninitialized: [batch, gates * hidden])
    gemm(h.data, weightHH.data, gh.data, m: batch, n: gates * hidden, k: hidden, transposeB: true, bias: biasHH.data, weight: weightHH.storage)
    return gh
}

/// C (+)= op(A)·op(B) (+ bias) on raw row-major buffers through the cached oneDNN primitive, in
/// the task's `MatmulPrecision`. `weight` names B's storage when B is a weight (B = its start): in
/// bfloat16 its converted copy is then kept until an optimizer changes it, not made on every call.
/// `convertedA`: A already rounded to bfloat16, for a product that `gemmRoundsToBFloat16` (see
/// `MatmulCache.multiply`).
@inline(__always)
func gemm(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>,
          m: Int, n: Int, k: Int, batch: Int = 1, transposeA: Bool = false, transposeB: Bool = false,
          bias: UnsafePointer<Float>? = nil, accumulate: Bool = false, weight: TensorStorage? = nil,
          convertedA: UnsafePointer<UInt16>? = nil) {
    let key = matmulKey(m: m, n: n, k: k, batch: batch, transposeA: transposeA, transposeB: transposeB,
                        bias: bias != nil, accumulate: accumulate, weight: weight != nil)
    if let weight { precondition(UnsafePointer(weight.pointer) == b, "gemm: weight storage is not B") }
    MatmulCache.multiply(key, a: a, b: b, bias: bias, c: c, weight: weight, convertedA: convertedA)
}

/// Whether `gemm` rounds the operands of an m×k·k×n product to bfloat16.
func gemmRoundsToBFloat16(m: Int, n: Int, k: Int) -> Bool {
    matmulKey(m: m, n: n, k: k, transposeB: false, bias: false, weight: false).bfloat16
}

/// The product `gemm` runs, in the task's precision.
private func matmulKey(m: Int, n: Int, k: Int, batch: Int = 1, transposeA: Bool = false, transposeB: Bool,
                       bias: Bool, accumulate: Bool = false, weight: Bool) -> MatmulKey {
    var key = MatmulKey(batch: batch, m: m, n: n, k: k, transposeA: transposeA, transposeB: transposeB,
                        bias: bias, accumulate: accumulate)
    // Products too small to gain from AMX stay float32, so tiny shapes pay no conversion.
    key.bfloat16 = batch == 1 && m * n * k >= minimumBFloat16Work && Precision.effectiveMatmul == .bfloat16
    key.blockedB = key.bfloat16 && weight   // converted and re-blocked once per weight version, in the cache
    return key
}

/// m·n·k below which a product stays float32 in bfloat16 mode.
let minimumBFloat16Work = 1 << 15

/// colSums[j] += Σ_r x[r, j]: the bias gradient of a GEMM.
/// The columns split across the cores; each column still adds its rows in order, so the sums do
/// not depend on the thread count.
func addColumnSums(_ x: UnsafePointer<Float>, rows: Int, cols: Int, rowStride: Int? = nil, into sums: UnsafeMutablePointer<Float>) {
    let stride = rowStride ?? cols
    // Chunks of whole cache lines of columns, enough rows·columns per thread to pay the hand-off.
    let lines = (cols + 15) / 16
    Threads.parallelRanges(lines, minimumPerThread: max(1, 65_536 / max(rows * 16, 1))) { chunk in
        let (start, end) = (chunk.lowerBound * 16, min(cols, chunk.upperBound * 16))
        for r in 0..<rows {
            let row = x + r * stride
            for j in start..<end { sums[j] += row[j] }
        }
    }
}

// MARK: - Products

/// Matrix product of 2-D tensors, or batched product of 3-D tensors with the same batch:
/// op(a) [.., M, K] · op(b) [.., K, N] → [.., M, N], where op transposes the last two axes when asked.
public func matmul(_ a: Tensor, _ b: Tensor, transposeA: Bool = false, transposeB: Bool = false) -> Tensor {
    precondition(a.rank == b.rank && (a.rank == 2 || a.rank == 3), "matmul needs two 2-D or two 3-D tensors, got \(a.shape) and \(b.shape)")
    let batch = a.rank == 3 ? a.shape[0] : 1
    precondition(a.rank == 2 || b.shape[0] == batch, "matmul batch sizes differ: \(a.shape) and \(b.shape)")
    let (ar, ac) = (a.shape[a.rank - 2], a.shape[a.rank - 1])
    let (br, bc) = (b.shape[b.rank - 2], b.shape[b.rank - 1])
    let (m, k) = transposeA ? (ac, ar) : (ar, ac)
    let (k2, n) = transposeB ? (bc, br) : (br, bc)
    precondition(k == k2, "matmul inner sizes differ: \(a.shape)\(transposeA ? "ᵀ" : "") · \(b.shape)\(transposeB ? "ᵀ" : "")")
    let out = Tensor(uninitialized: a.rank == 3 ? [batch, m, n] : [m, n])
    gemm(a.data, b.data, out.data, m: m, n: n, k: k, batch: batch, transposeA: transposeA, transposeB: transposeB)
    record(.matmul(a, b, transposeA: transposeA, transposeB: transposeB), inputs: [a, b], outputs: [out])
    return out
}

/// `linear` for rows of logits x [B, I] → [B, O], with each row's log-softmax normaliser and its
/// maximum over every block of `LogitStatistics.block` columns (for a search) when they come
/// almost free: a beam's few rows get them from the product's own pass, while each tile of logits
/// is still in registers (`FewRows`). nil for other products, whose caller computes what it needs
/// (`logSumExpRows`). Forward only: refuses a recording tape.
public func linearLogits(_ x: Tensor, weight: Tensor, bias: Tensor?) -> (logits: Tensor, statistics: LogitStatistics?) {
    precondition(!willRecord([x, weight] + (bias.map { [$0] } ?? [])), "linearLogits has no gradient; call linear instead")
    let (outFeatures, inFeatures) = (weight.shape[0], weight.shape[1])
    precondition(bias == nil || bias!.shape == [outFeatures], "linearLogits: bias \(bias!.shape) is not [\(outFeatures)]")
    guard x.rank == 2, x.shape[1] == inFeatures,
          case let key = matmulKey(m: x.shape[0], n: outFeatures, k: inFeatures, transposeB: true, bias: bias != nil, weight: true),
          FewRows.takes(key)
    else { return (linear(x, weight: weight, bias: bias), nil) }
    let rows = x.shape[0]
    let logits = Tensor(uninitialized: [rows, outFeatures])
    let tiles = (outFeatures + FewRows.tileColumns - 1) / FewRows.tileColumns
    var pieces = [Float](repeating: 0, count: rows * tiles * 2)
    pieces.withUnsafeMutableBufferPointer {
        MatmulCache.multiplyFewRows(key, a: x.data, weight: weight.storage, bias: bias.map { UnsafePointer($0.data) }, c: logits.data,
                                    statistics: $0.baseAddress!)
    }
    return (logits, LogitStatistics(tilePieces: pieces, rows: rows, tiles: tiles))
}

/// y = x·Wᵀ + b over the last axis, PyTorch's `nn.Linear`: x [.., I], weight [O, I], bias [O] → [.., O].
public func linear(_ x: Tensor, weight: Tensor, bias: Tensor?) -> Tensor {
    let inFeatures = weight.shape[1], outFeatures = weight.shape[0]
    precondition(x.shape.last == inFeatures, "linear: input \(x.shape) does not end in \(inFeatures) features")
    precondition(bias == nil || bias!.shape == [outFeatures], "linear: bias \(bias!.shape) is not [\(outFeatures)]")
    let rows = x.count / max(inFeatures, 1)
    let out = Tensor(uninitialized: Array(x.shape.dropLast()) + [outFeatures])
    gemm(x.data, weight.data, out.data, m: rows, n: outFeatures, k: inFeatures, transposeB: true, bias: bias?.data, weight: weight.storage)
    record(.linear(x: x, weight: weight, bias: bias), inputs: [x, weight] + (bias.map { [$0] } ?? []), outputs: [out])
    return out
}

// MARK: - Elementwise with broadcasting

public func + (a: Tensor, b: Tensor) -> Tensor {
    let out = Kernels.broadcast(a, b, +)
    record(.add(a, b), inputs: [a, b], outputs: [out])
    return out
}

public func - (a: Tensor, b: Tensor) -> Tensor {
    let out = Kernels.broadcast(a, b, -)
    record(.subtract(a, b), inputs: [a, b], outputs: [out])
    return out
}

public func * (a: Tensor, b: Tensor) -> Tensor {
    let out = Kernels.broadcast(a, b, *)
    record(.multiply(a, b), inputs: [a, b], outputs: [out])
    return out
}

public func / (a: Tensor, b: Tensor) -> Tensor {
    let out = Kernels.broadcast(a, b, /)
    record(.divide(a, b), inputs: [a, b], outputs: [out])
    return out
}

public func * (a: Tensor, s: Float) -> Tensor {
    let out = Kernels.map(a) { $0 * s }
    record(.scale(a, s), inputs: [a], outputs: [out])
    return out
}

public func * (s: Float, a: Tensor) -> Tensor { a * s }
public prefix func - (a: Tensor) -> Tensor { a * -1 }

public func + (a: Tensor, s: Float) -> Tensor {
    let out = Kernels.map(a) { $0 + s }
    record(.shift(a), inputs: [a], outputs: [out])
    return out
}

public func + (s: Float, a: Tensor) -> Tensor { a + s }
public func - (a: Tensor, s: Float) -> Tensor { a + (-s) }
public func - (s: Float, a: Tensor) -> Tensor { (-a) + s }

// MARK: - Unary

extension Tensor {
    public func tanh() -> Tensor {
        let out = Kernels.squash(self, sigmoid: false)
        record(.tanh(self), inputs: [self], outputs: [out])
        return out
    }
    public func sigmoid() -> Tensor {
        let out = Kernels.squash(self, sigmoid: true)
        record(.sigmoid(self), inputs: [self], outputs: [out])
        return out
    }
    public func relu() -> Tensor { unary(.relu(self)) { max($0, 0) } }
    public func exp() -> Tensor { unary(.exp(self)) { expf($0) } }
    public func log() -> Tensor { unary(.log(self)) { logf($0) } }

    private func unary(_ op: @autoclosure () -> Op, _ f: (Float) -> Float) -> Tensor {
        let out = Kernels.map(self, f)
        record(op(), inputs: [self], outputs: [out])
        return out
    }
}

// MARK: - Reductions

extension Tensor {
    /// Sum over `axis`; the axis is kept with length 1 when `keepDims`.
    public func sum(axis: Int, keepDims: Bool = false) -> Tensor {
        reduce(axis: axis, keepDims: keepDims, mean: false)
    }

    public func mean(axis: Int, keepDims: Bool = false) -> Tensor {
        reduce(axis: axis, keepDims: keepDims, mean: true)
    }

    private func reduce(axis: Int, keepDims: Bool, mean: Bool) -> Tensor {
        let a = Shape.normalise(axis: axis, rank: rank)
        var shape = self.shape
        if keepDims { shape[a] = 1 } else { shape.remove(at: a) }
        let out = Kernels.sum(self, axis: a, outputShape: shape)
        if mean {
            let inv = 1 / Float(self.shape[a])
            for i in 0..<out.count { out.data[i] *= inv }
        }
        record(mean ? .mean(self, axis: a) : .sum(self, axis: a), inputs: [self], outputs: [out])
        return out
    }

    /// Sum of every element, as a scalar tensor.
    public func sum() -> Tensor {
        let out = Tensor(shape: [], values: [total()])
        record(.sumAll(self), inputs: [self], outputs: [out])
        return out
    }

    public func mean() -> Tensor {
        let out = Tensor(shape: [], values: [total() / Float(count)])
        record(.meanAll(self), inputs: [self], outputs: [out])
        return out
    }

    private func total() -> Float {
        var s: Double = 0
        for i in 0..<count { s += Double(data[i]) }
        return Float(s)
    }
}

// MARK: - Softmax

extension Tensor {
    public func softmax(axis: Int) -> Tensor {
        let a = Shape.normalise(axis: axis, rank: rank)
        let out = Kernels.softmax(self, axis: a, log: false)
        record(.softmax(self, axis: a), inputs: [self], outputs: [out])
        return out
    }

    public func logSoftmax(axis: Int) -> Tensor {
        let a = Shape.normalise(axis: axis, rank: rank)
        let out = Kernels.softmax(self, axis: a, log: true)
        record(.logSoftmax(self, axis: a), inputs: [self], outputs: [out])
        return out
    }
}

// MARK: - Shape and indexing

/// Joins tensors along `axis`; all other dimensions must agree.
public func concat(_ tensors: [Tensor], axis: Int) -> Tensor {
    precondition(!tensors.isEmpty, "concat needs at least one tensor")
    let first = tensors[0]
    let a = Shape.normalise(axis: axis, rank: first.rank)
    var shape = first.shape
    shape[a] = 0
    for t in tensors {
        var other = t.shape
        other[a] = 0
        precondition(other == { var s = first.shape; s[a] = 0; return s }(), "concat: shapes \(first.shape) and \(t.shape) differ off axis \(a)")
        shape[a] += t.shape[a]
    }
    let out = Tensor(uninitialized: shape)
    var start = 0
    for t in tensors {
        Kernels.copyBlock(t, into: out, axis: a, start: start)
        start += t.shape[a]
    }
    record(.concat(tensors, axis: a), inputs: tensors, outputs: [out])
    return out
}

extension Tensor {
    /// Elements `start ..< start + length` along `axis`.
    public func slice(axis: Int, start: Int, length: Int) -> Tensor {
        let a = Shape.normalise(axis: axis, rank: rank)
        precondition(start >= 0 && length >= 0 && start + length <= shape[a], "slice \(start)..<\(start + length) is outside axis \(a) of \(shape)")
        var outShape = shape
        outShape[a] = length
        let out = Tensor(uninitialized: outShape)
        Kernels.copyBlock(self, into: out, axis: a, start: start, gather: true)
        record(.slice(self, axis: a, start: start), inputs: [self], outputs: [out])
        return out
    }

    /// The first `rows` rows (along axis 0) as a view sharing this tensor's storage: no copy. Packed
    /// decoding loops shrink their batch this way as captions end (rows sorted longest first).
    public func prefixRows(_ rows: Int) -> Tensor {
        precondition(rank >= 1 && rows >= 0 && rows <= shape[0], "prefixRows \(rows) of \(shape)")
        if rows == shape[0] { return self }
        let out = Tensor(shape: [rows] + shape.dropFirst(), storage: storage)
        record(.rowResize(self), inputs: [self], outputs: [out])
        if out.requiresGrad { out.leadingRowsOf = self }
        return out
    }

    /// This tensor as the first rows of a zero tensor with `rows` rows (the inverse of `prefixRows`).
    public func paddedRows(to rows: Int) -> Tensor {
        precondition(rank >= 1 && rows >= shape[0], "paddedRows to \(rows) of \(shape)")
        if rows == shape[0] { return self }
        let out = Tensor(zeros: [rows] + shape.dropFirst())
        out.data.update(from: data, count: count)
        record(.rowResize(self), inputs: [self], outputs: [out])
        return out
    }

    /// Consecutive pieces of the given sizes along `axis`.
    public func split(axis: Int, sizes: [Int]) -> [Tensor] {
        let a = Shape.normalise(axis: axis, rank: rank)
        precondition(sizes.reduce(0, +) == shape[a], "split sizes \(sizes) do not add up to \(shape[a])")
        var start = 0
        return sizes.map { n in
            defer { start += n }
            return slice(axis: a, start: start, length: n)
        }
    }

    /// Same values, new shape (one dimension may be -1). Shares storage: no copy.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        var shape = newShape
        if let i = shape.firstIndex(of: -1) {
            let known = shape.enumerated().filter { $0.offset != i }.map(\.element).reduce(1, *)
            shape[i] = known == 0 ? 0 : count / known
        }
        precondition(shape.reduce(1, *) == count, "cannot reshape \(self.shape) to \(newShape)")
        let out = Tensor(shape: shape, storage: storage)
        record(.reshape(self), inputs: [self], outputs: [out])
        return out
    }

    public func unsqueezed(axis: Int) -> Tensor {
        var s = shape
        s.insert(1, at: axis < 0 ? axis + rank + 1 : axis)
        return reshaped(s)
    }

    public func squeezed(axis: Int) -> Tensor {
        let a = Shape.normalise(axis: axis, rank: rank)
        precondition(shape[a] == 1, "squeeze: axis \(a) of \(shape) is not 1")
        var s = shape
        s.remove(at: a)
        return reshaped(s)
    }

    /// Axes reordered: result.shape[i] = shape[perm[i]]. Copies.
    public func permuted(_ perm: [Int]) -> Tensor {
        precondition(perm.sorted() == Array(0..<rank), "permutation \(perm) does not fit rank \(rank)")
        let out = Kernels.permute(self, perm)
        record(.permute(self, perm), inputs: [self], outputs: [out])
        return out
    }

    public func transposed(_ a: Int, _ b: Int) -> Tensor {
        var perm = Array(0..<rank)
        perm.swapAt(Shape.normalise(axis: a, rank: rank), Shape.normalise(axis: b, rank: rank))
        return permuted(perm)
    }
}

/// Rows of `table` [N, D] at `ids` → ids.shape + [D]: embedding lookup (gradient is a scatter-add).
public func gatherRows(_ table: Tensor, _ ids: IntTensor) -> Tensor {
    precondition(table.rank == 2, "gatherRows needs a 2-D table, got \(table.shape)")
    let out = Kernels.gatherRows(table, ids)
    record(.gatherRows(table, ids), inputs: [table], outputs: [out])
    return out
}

// MARK: - Dropout

/// Inverted dropout: zeroes each element with probability `p` and scales the rest by 1/(1−p).
/// Identity when not training or p = 0.
public func dropout(_ x: Tensor, p: Float, training: Bool, rng: inout RandomGenerator) -> Tensor {
    guard training, p > 0 else { return x }
    precondition(p < 1, "dropout probability must be below 1")
    let mask = Tensor(uninitialized: x.shape)
    let keep = 1 / (1 - p)
    rng.fillMask(mask.data, count: x.count, dropBelow: p, keep: keep)
    let out = Kernels.zip(x, mask, *)
    record(.dropout(x, mask: mask), inputs: [x], outputs: [out])
    return out
}

// MARK: - Loss

/// Mean cross-entropy of `logits` [N, V] against `targets` [N], skipping targets equal to
/// `ignoreIndex` (PyTorch's `F.cross_entropy(…, ignore_index=)`): log-softmax and NLL fused, the
/// softmax kept for backward. NaN when every target is ignored, as in PyTorch.
public func crossEntropy(_ logits: Tensor, targets: IntTensor, ignoreIndex: Int32 = -100) -> Tensor {
    precondition(logits.rank == 2 && targets.count == logits.shape[0], "crossEntropy: logits \(logits.shape) and \(targets.count) targets")
    let (n, v) = (logits.shape[0], logits.shape[1])
    let probabilities = Tensor(uninitialized: logits.shape)
    var rowLoss = [Float](repeating: 0, count: n)
    let px = logits.data, pp = probabilities.data
    rowLoss.withUnsafeMutableBufferPointer { losses in
        let lossPtr = losses.baseAddress!
        Threads.parallelRanges(n, minimumPerThread: max(1, 65_536 / max(v, 1))) { rows in
            for r in rows {
                let x = px + r * v, p = pp + r * v
                let m = maximum(x, count: v)
                p.update(from: x, count: v)
                let s = exponentiateShifted(p, count: v, shift: m)
                let inv = 1 / s
                for j in 0..<v { p[j] *= inv }
                let t = targets.values[r]
                if t != ignoreIndex {
                    precondition(t >= 0 && Int(t) < v, "target \(t) is out of range for \(v) classes")
                    lossPtr[r] = m + logf(s) - x[Int(t)]
                }
            }
        }
    }
    var valid = 0
    var total: Double = 0
    for r in 0..<n where targets.values[r] != ignoreIndex {
        valid += 1
        total += Double(rowLoss[r])
    }
    let out = Tensor(shape: [], values: [Float(total / Double(valid))])
    record(.crossEntropy(logits: logits, targets: targets, probabilities: probabilities, ignoreIndex: ignoreIndex, valid: valid),
           inputs: [logits], outputs: [out])
    return out
}

/// The output layer and the loss in one op: mean cross-entropy of the logits x·Wᵀ + b against
/// `targets`, as `crossEntropy(linear(x, weight:, bias:), targets:, ignoreIndex:)` computes it, but
/// without the logits of ignored rows (padding) and without a separate logits tensor:
///
///   forward, over the n rows r whose target t_r is not ignored:
///     z_r = x_r·Wᵀ + b          (one GEMM over the gathered rows, into the buffer P)
///     p_r = softmax(z_r)        (in place over P)
///     loss = (1/n) Σ_r (log Σ_j exp z_rj − z_r,t_r) = (1/n) Σ_r (m_r + log s_r − z_r,t_r)
///   backward, dy = dloss:
///     dz_r = (p_r − onehot(t_r)) · dy/n                 (in place over P, or, when the products
///                                                        round to bfloat16, written once in bfloat16:
///                                                        the operand both products read, and db
///                                                        summed in the same pass)
///     dx_r = dz_r·W,  dW = Σ_r dz_rᵀ·x_r,  db = Σ_r dz_r,  and dx = 0 on ignored rows,
/// which is what the unfused ops give, since ignored rows have dz = 0. NaN when every target is ignored.
/// With `rowWeights` (one per target) each row's term is scaled by its weight a_r, still divided by
/// the n kept rows: loss = (1/n) Σ_r a_r·ce_r and dz_r = a_r·(p_r − onehot(t_r))·dy/n. Self-critical
/// training uses this with a_r = the caption's reward minus its baseline (REINFORCE).
/// x [.., I] with targets.count rows, weight [V, I], bias [V] → scalar.
public func linearCrossEntropy(_ x: Tensor, weight: Tensor, bias: Tensor?, targets: IntTensor, ignoreIndex: Int32 = -100,
                               rowWeights: [Float]? = nil) -> Tensor {
    let (v, inFeatures) = (weight.shape[0], weight.shape[1])
    precondition(x.shape.last == inFeatures && x.count == targets.count * inFeatures,
                 "linearCrossEntropy: input \(x.shape) does not hold \(targets.count) rows of \(inFeatures) features")
    precondition(bias == nil || bias!.shape == [v], "linearCrossEntropy: bias \(bias!.shape) is not [\(v)]")
    precondition(rowWeights == nil || rowWeights!.count == targets.count, "linearCrossEntropy: \(rowWeights!.count) row weights for \(targets.count) targets")
    var rows: [Int32] = [], kept: [Int32] = [], keptWeights: [Float]? = rowWeights.map { _ in [] }
    rows.reserveCapacity(targets.count)
    kept.reserveCapacity(targets.count)
    for (r, t) in targets.values.enumerated() where t != ignoreIndex {
        precondition(t >= 0 && Int(t) < v, "target \(t) is out of range for \(v) classes")
        rows.append(Int32(r))
        kept.append(t)
        if let rowWeights { keptWeights!.append(rowWeights[r]) }
    }
    let n = rows.count
    if n == 0 { return Tensor(shape: [], values: [.nan]) }
    // The rows that count, contiguous: x itself when nothing is ignored.
    let all = n == targets.count
    let gathered: Tensor
    if all {
        gathered = x
    } else {
        gathered = Tensor(uninitialized: [n, inFeatures])
        for (i, r) in rows.enumerated() {
            (gathered.data + i * inFeatures).update(from: x.data + Int(r) * inFeatures, count: inFeatures)
        }
    }
    let probabilities = Tensor(uninitialized: [n, v])
    let pp = probabilities.data
    gemm(gathered.data, weight.data, pp, m: n, n: v, k: inFeatures, transposeB: true, bias: bias?.data, weight: weight.storage)
    var rowLoss = [Float](repeating: 0, count: n)
    rowLoss.withUnsafeMutableBufferPointer { losses in
        let lossPtr = losses.baseAddress!
        kept.withUnsafeBufferPointer { kt in
            Threads.parallelRanges(n, minimumPerThread: max(1, 65_536 / max(v, 1))) { range in
                for r in range {
                    let p = pp + r * v
                    let m = maximum(p, count: v)
                    let target = p[Int(kt[r])]
                    let s = exponentiateShifted(p, count: v, shift: m)
                    let inv = 1 / s
                    for j in 0..<v { p[j] *= inv }
                    lossPtr[r] = m + logf(s) - target
                }
            }
        }
    }
    var total: Double = 0
    for r in 0..<n { total += Double(rowLoss[r]) * Double(keptWeights?[r] ?? 1) }
    let out = Tensor(shape: [], values: [Float(total / Double(n))])
    record(.linearCrossEntropy(x: x, weight: weight, bias: bias, rows: all ? nil : rows, gathered: gathered,
                               targets: kept, rowWeights: keptWeights, probabilities: probabilities),
           inputs: [x, weight] + (bias.map { [$0] } ?? []), outputs: [out])
    return out
}

// MARK: - Recurrent cells and sequences

/// One `nn.GRUCell` step: x [B, I], h [B, H], weightIH [3H, I], weightHH [3H, H], biases [3H] → h' [B, H].
public func gruCell(_ x: Tensor, _ h: Tensor, weightIH: Tensor, weightHH: Tensor, biasIH: Tensor, biasHH: Tensor) -> Tensor {
    let (batch, hidden) = (h.shape[0], h.shape[1])
    let (gi, gh) = gateProjections(x, h, weightIH: weightIH, weightHH: weightHH, biasIH: biasIH, biasHH: biasHH, gates: 3, cell: "gruCell")
    let out = Tensor(uninitialized: [batch, hidden])
    let inputs = [x, h, weightIH, weightHH, biasIH, biasHH]
    let saved = willRecord(inputs) ? Tensor(uninitialized: [batch, 4 * hidden]) : nil
    Recurrent.gruForward(batch: batch, hidden: hidden, gi: gi.data, giStride: 3 * hidden, gh: gh.data,
                         h: h.data, hStride: hidden, out: out.data, outStride: hidden, saved: saved?.data)
    if let saved {
        record(.gruCell(x: x, h: h, weightIH: weightIH, weightHH: weightHH, biasIH: biasIH, biasHH: biasHH, saved: saved),
               inputs: inputs, outputs: [out])
    }
    return out
}

/// One `nn.LSTMCell` step: x [B, I], (h, c) [B, H], weightIH [4H, I], weightHH [4H, H], biases [4H] → (h', c').
public func lstmCell(_ x: Tensor, _ h: Tensor, _ c: Tensor, weightIH: Tensor, weightHH: Tensor, biasIH: Tensor, biasHH: Tensor) -> (h: Tensor, c: Tensor) {
    let (batch, hidden) = (h.shape[0], h.shape[1])
    let (gi, gh) = gateProjections(x, h, weightIH: weightIH, weightHH: weightHH, biasIH: biasIH, biasHH: biasHH, gates: 4, cell: "lstmCell")
    let hOut = Tensor(uninitialized: [batch, hidden]), cOut = Tensor(uninitialized: [batch, hidden])
    let inputs = [x, h, c, weightIH, weightHH, biasIH, biasHH]
    let saved = willRecord(inputs) ? Tensor(uninitialized: [batch, 5 * hidden]) : nil
    Recurrent.lstmForward(batch: batch, hidden: hidden, gi: gi.data, giStride: 4 * hidden, gh: gh.data,
                          c: c.data, cStride: hidden, hOut: hOut.data, hOutStride: hidden,
                          cOut: cOut.data, cOutStride: hidden, saved: saved?.data)
    if let saved {
        record(.lstmCell(x: x, h: h, c: c, weightIH: weightIH, weightHH: weightHH, biasIH: biasIH, biasHH: biasHH, saved: saved),
               inputs: inputs, outputs: [hOut, cOut])
    }
    return (hOut, cOut)
}

/// A decoding step whose input gates gi = x·W_ihᵀ + b_ih [B, gates·H] were looked up rather than
/// multiplied (see `WordGateTable` in Layers): only h·W_hhᵀ + b_hh is computed. Forward only, so
/// the step must not be recorded for gradients.
private func hiddenProjection(inputGates gi: Tensor, _ h: Tensor, weightHH: Tensor, biasHH: Tensor, gates: Int, cell: String) -> Tensor {
    let (batch, hidden) = (h.shape[0], h.shape[1])
    precondition(gi.shape == [batch, gates * hidden] && weightHH.shape == [gates * hidden, hidden],
                 "\(cell): input gates \(gi.shape) or weights do not fit h \(h.shape)")
    precondition(!willRecord([gi, h, weightHH, biasHH]), "\(cell)(inputGates:) has no gradient; record the full cell instead")
    return hiddenGates(h, weightHH: weightHH, biasHH: biasHH, gates: gates)
}

/// `gruCell` from looked-up input gates gi [B, 3H] (decoding only).
public func gruCell(inputGates gi: Tensor, _ h: Tensor, weightHH: Tensor, biasHH: Tensor) -> Tensor {
    let (batch, hidden) = (h.shape[0], h.shape[1])
    let gh = hiddenProjection(inputGates: gi, h, weightHH: weightHH, biasHH: biasHH, gates: 3, cell: "gruCell")
    let out = Tensor(uninitialized: [batch, hidden])
    Recurrent.gruForward(batch: batch, hidden: hidden, gi: gi.data, giStride: 3 * hidden, gh: gh.data,
                         h: h.data, hStride: hidden, out: out.data, outStride: hidden, saved: nil)
    return out
}

/// `lstmCell` from looked-up input gates gi [B, 4H] (decoding only).
public func lstmCell(inputGates gi: Tensor, _ h: Tensor, _ c: Tensor, weightHH: Tensor, biasHH: Tensor) -> (h: Tensor, c: Tensor) {
    let (batch, hidden) = (h.shape[0], h.shape[1])
    let gh = hiddenProjection(inputGates: gi, h, weightHH: weightHH, biasHH: biasHH, gates: 4, cell: "lstmCell")
    let hOut = Tensor(uninitialized: [batch, hidden]), cOut = Tensor(uninitialized: [batch, hidden])
    Recurrent.lstmForward(batch: batch, hidden: hidden, gi: gi.data, giStride: 4 * hidden, gh: gh.data,
                          c: c.data, cStride: hidden, hOut: hOut.data, hOutStride: hidden,
                          cOut: cOut.data, cOutStride: hidden, saved: nil)
    return (hOut, cOut)
}
