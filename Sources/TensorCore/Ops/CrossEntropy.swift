#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

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

extension Gradients {
    /// Backward of `crossEntropy`, mean over the n valid rows: dlogits = (softmax − onehot(target))·dy/n,
    /// zero on ignored rows.
    static func crossEntropyBackward(logits: Tensor, targets: IntTensor, probabilities: Tensor, ignoreIndex: Int32,
                                     valid: Int, dLoss g: Tensor) {
        let (rows, classes) = (logits.shape[0], logits.shape[1])
        let d = Tensor(uninitialized: logits.shape)
        let scale = g.data[0] / Float(valid)
        let pp = probabilities.data, pd = d.data
        Threads.parallelRanges(rows, minimumPerThread: max(1, 65_536 / max(classes, 1))) { range in
            for r in range {
                let t = targets.values[r]
                let src = pp + r * classes, dst = pd + r * classes
                if t == ignoreIndex {
                    dst.update(repeating: 0, count: classes)
                } else {
                    for j in 0..<classes { dst[j] = src[j] * scale }
                    dst[Int(t)] -= scale
                }
            }
        }
        accumulate(logits, d, fresh: true)
    }
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

extension Gradients {
    /// Backward of `linearCrossEntropy` (maths above): dz = a·(p − onehot)·dy/n over p (a = 1 unless
    /// weighted), then the three GEMM-side gradients over the kept rows. Weighted rows take the
    /// float32 pass; the products still round.
    static func linearCrossEntropyBackward(x: Tensor, weight w: Tensor, bias: Tensor?, rows: [Int32]?, gathered: Tensor,
                                           targets: [Int32], rowWeights: [Float]?, probabilities: Tensor, dLoss g: Tensor) {
        let (n, classes) = (probabilities.shape[0], probabilities.shape[1])
        let inF = w.shape[1]
        let scale = g.data[0] / Float(n)
        let pd = probabilities.data
        let dBias = bias.flatMap { $0.requiresGrad ? gradBuffer($0).data : nil }
        // Both products round dz to bfloat16 (their m·n·k is the same): round it once, in the
        // pass that forms it, with the bias gradient; p itself is then left as it is.
        var dz: RoundedGradient?
        if rowWeights == nil, gemmRoundsToBFloat16(m: n, n: inF, k: classes), let rounded = RoundedGradient(rows: n, width: classes) {
            targets.withUnsafeBufferPointer { kt in
                Kernels.crossEntropyGradient(probabilities: pd, rows: n, classes: classes, targets: kt.baseAddress!,
                                             scale: scale, into: rounded.row(0), columnSums: dBias)
            }
            dz = rounded
        } else {
            targets.withUnsafeBufferPointer { kt in
                Threads.parallelRanges(n, minimumPerThread: max(1, 65_536 / max(classes, 1))) { range in
                    for r in range {
                        let row = pd + r * classes, rowScale = scale * (rowWeights?[r] ?? 1)
                        for j in 0..<classes { row[j] *= rowScale }
                        row[Int(kt[r])] -= rowScale
                    }
                }
            }
            if let dBias { addColumnSums(pd, rows: n, cols: classes, into: dBias) }
        }
        if x.requiresGrad {
            let dx = gradBuffer(x)
            if let rows {
                let dGathered = Tensor(uninitialized: [n, inF])
                gemm(pd, w.data, dGathered.data, m: n, n: inF, k: classes, weight: w.storage,
                     convertedA: dz?.operand(m: n, n: inF, k: classes))
                for (i, r) in rows.enumerated() {
                    let dst = dx.data + Int(r) * inF, src = dGathered.data + i * inF
                    for j in 0..<inF { dst[j] += src[j] }
                }
            } else {
                gemm(pd, w.data, dx.data, m: n, n: inF, k: classes, accumulate: true, weight: w.storage,
                     convertedA: dz?.operand(m: n, n: inF, k: classes))
            }
        }
        if w.requiresGrad {
            let (dw, accumulate) = gradTarget(w)
            gemm(pd, gathered.data, dw.data, m: classes, n: inF, k: n, transposeA: true, accumulate: accumulate,
                 convertedA: dz?.operand(m: classes, n: inF, k: n))
        }
        withExtendedLifetime(dz) {}                                // the products read it through raw pointers
    }
}
