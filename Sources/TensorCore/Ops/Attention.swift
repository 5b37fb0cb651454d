/// Additive attention scores (Bahdanau; the f_att of Show, Attend and Tell), fused:
///
///   t[b,l,:] = tanh(P[b,l,:] + q[b,:])        P [B, L, A]: the projected cells, q [B, A]: the projected query
///   e[b,l]   = w · t[b,l,:] + bias            w [1, A] (or [A]), bias [1]
///
/// Composed from primitives this is a broadcast add, a tanh and a width-1 linear layer, with two
/// [B, L, A] temporaries and a GEMV per step, and in backward a broadcast reduction and a thin GEMM
/// each way. Fused, one pass over P computes e and keeps t for backward; backward is one pass too:
///
///   dpre[b,l,:] = de[b,l] · w ⊙ (1 − t²)       (through the tanh)
///   dP += dpre      dq[b,:] += Σ_l dpre[b,l,:]      dw += Σ_{b,l} de[b,l] · t[b,l,:]      dbias += Σ de
public func additiveScores(_ projected: Tensor, _ query: Tensor, weight: Tensor, bias: Tensor?) -> Tensor {
    precondition(projected.rank == 3, "additiveScores: the projected cells must be [B, L, A], not \(projected.shape)")
    let (batch, cells, width) = (projected.shape[0], projected.shape[1], projected.shape[2])
    precondition(query.shape == [batch, width], "additiveScores: the query must be [\(batch), \(width)], not \(query.shape)")
    precondition(weight.count == width, "additiveScores: the score weight must have \(width) values, not \(weight.count)")
    precondition(bias == nil || bias!.count == 1, "additiveScores: the score bias must be one value")
    let scores = Tensor(uninitialized: [batch, cells])
    let inputs = [projected, query, weight] + (bias.map { [$0] } ?? [])
    let saved = willRecord(inputs) ? Tensor(uninitialized: [batch, cells, width]) : nil
    AttentionKernels.scoresForward(batch: batch, cells: cells, width: width, projected: projected.data, query: query.data,
                                   weight: weight.data, bias: bias?.data[0] ?? 0, scores: scores.data, saved: saved?.data)
    if let saved {
        record(.additiveScores(projected: projected, query: query, weight: weight, bias: bias, saved: saved),
               inputs: inputs, outputs: [scores])
    }
    return scores
}

extension Gradients {
    /// Backward of `additiveScores`: one pass (`AttentionKernels.scoresBackward`, maths above).
    static func additiveScoresBackward(projected p: Tensor, query q: Tensor, weight w: Tensor, bias: Tensor?, saved: Tensor,
                                       dScores g: Tensor) {
        AttentionKernels.scoresBackward(batch: p.shape[0], cells: p.shape[1], width: p.shape[2], saved: saved.data,
                                        weight: w.data, dScores: g.data,
                                        dProjected: p.requiresGrad ? gradBuffer(p).data : nil,
                                        dQuery: q.requiresGrad ? gradBuffer(q).data : nil,
                                        dWeight: w.requiresGrad ? gradBuffer(w).data : nil,
                                        dBias: bias.flatMap { $0.requiresGrad ? gradBuffer($0).data : nil })
    }
}

enum AttentionKernels {
    /// Runs `body` for each image of the batch, the images split across the cores; `work` is one
    /// image's share of the pass.
    private static func forEachImage(_ batch: Int, work: Int, _ body: (Int) -> Void) {
        Threads.parallelRanges(batch, minimumPerThread: Threads.minimumRows(rowWork: work)) { rows in
            for b in rows { body(b) }
        }
    }

    static func scoresForward(batch: Int, cells L: Int, width A: Int,
                              projected: UnsafePointer<Float>, query: UnsafePointer<Float>,
                              weight w: UnsafePointer<Float>, bias: Float,
                              scores: UnsafeMutablePointer<Float>, saved: UnsafeMutablePointer<Float>?) {
        let vectorEnd = A & ~7
        forEachImage(batch, work: L * A) { b in
            let q = query + b * A
            for l in 0..<L {
                let p = projected + (b * L + l) * A
                let t = saved.map { $0 + (b * L + l) * A }
                var lanes = SIMD8<Float>()
                var j = 0
                while j < vectorEnd {
                    let tj = fastTanh(load8(p + j) + load8(q + j))
                    if let t { store8(tj, t + j) }
                    lanes += tj * load8(w + j)
                    j += 8
                }
                var e = lanes.sum()
                while j < A {
                    let tj = fastTanh(p[j] + q[j])
                    t?[j] = tj
                    e += tj * w[j]
                    j += 1
                }
                scores[b * L + l] = e + bias
            }
        }
    }

    /// Adds into the gradients that are given (nil: that input needs none). `weightRows` [B, A] is
    /// scratch for the per-row parts of dw, summed after the parallel pass.
    static func scoresBackward(batch: Int, cells L: Int, width A: Int,
                               saved: UnsafePointer<Float>, weight w: UnsafePointer<Float>, dScores: UnsafePointer<Float>,
                               dProjected: UnsafeMutablePointer<Float>?, dQuery: UnsafeMutablePointer<Float>?,
                               dWeight: UnsafeMutablePointer<Float>?, dBias: UnsafeMutablePointer<Float>?) {
        let vectorEnd = A & ~7
        let weightRows = dWeight.map { _ in Tensor(zeros: [batch, A]) }
        let one = SIMD8<Float>(repeating: 1)
        forEachImage(batch, work: L * A) { b in
            let dq = dQuery.map { $0 + b * A }
            let dwRow = weightRows.map { $0.data + b * A }
            for l in 0..<L {
                let t = saved + (b * L + l) * A
                let dP = dProjected.map { $0 + (b * L + l) * A }
                let de = dScores[b * L + l]
                let deLanes = SIMD8<Float>(repeating: de)
                var j = 0
                while j < vectorEnd {
                    let tj = load8(t + j)
                    let dpre = deLanes * load8(w + j) * (one - tj * tj)
                    if let dP { store8(load8(dP + j) + dpre, dP + j) }
                    if let dq { store8(load8(dq + j) + dpre, dq + j) }
                    if let dwRow { store8(load8(dwRow + j) + deLanes * tj, dwRow + j) }
                    j += 8
                }
                while j < A {
                    let dpre = de * w[j] * (1 - t[j] * t[j])
                    dP?[j] += dpre
                    dq?[j] += dpre
                    dwRow?[j] += de * t[j]
                    j += 1
                }
            }
        }
        if let dWeight, let weightRows {
            for b in 0..<batch {
                for j in 0..<A { dWeight[j] += weightRows.data[b * A + j] }
            }
        }
        if let dBias {
            var total: Float = 0
            for i in 0..<(batch * L) { total += dScores[i] }
            dBias[0] += total
        }
    }
}

/// The attention context: each row's cells averaged with its weights,
///
///   c[b,:] = Σ_l α[b,l] · V[b,l,:]             α [B, L], V [B, L, C] → c [B, C]
///
/// in float32 in one pass over V (as a batched matmul, [B,1,L]·[B,L,C], oneDNN runs it as B
/// one-row products, and its backward as two more). Backward, given dc [B, C]:
///
///   dα[b,l] += dc[b,:] · V[b,l,:]              dV[b,l,:] += α[b,l] · dc[b,:]
public func weightedSum(_ weights: Tensor, _ values: Tensor) -> Tensor {
    precondition(values.rank == 3, "weightedSum: the values must be [B, L, C], not \(values.shape)")
    let (batch, cells, width) = (values.shape[0], values.shape[1], values.shape[2])
    precondition(weights.shape == [batch, cells], "weightedSum: the weights must be [\(batch), \(cells)], not \(weights.shape)")
    let out = Tensor(zeros: [batch, width])
    AttentionKernels.weightedSumForward(batch: batch, cells: cells, width: width, weights: weights.data,
                                        values: values.data, out: out.data)
    record(.weightedSum(weights: weights, values: values), inputs: [weights, values], outputs: [out])
    return out
}

extension Gradients {
    /// Backward of `weightedSum` (maths above, `AttentionKernels.weightedSumBackward`).
    static func weightedSumBackward(weights: Tensor, values: Tensor, dOut g: Tensor) {
        AttentionKernels.weightedSumBackward(batch: values.shape[0], cells: values.shape[1], width: values.shape[2],
                                             weights: weights.data, values: values.data, dOut: g.data,
                                             dWeights: weights.requiresGrad ? gradBuffer(weights).data : nil,
                                             dValues: values.requiresGrad ? gradBuffer(values).data : nil)
    }
}

extension AttentionKernels {
    static func weightedSumForward(batch: Int, cells L: Int, width C: Int, weights: UnsafePointer<Float>,
                                   values: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>) {
        forEachImage(batch, work: L * C) { b in
            let c = out + b * C
            for l in 0..<L {
                let a = weights[b * L + l], v = values + (b * L + l) * C
                for j in 0..<C { c[j] += a * v[j] }          // an axpy: LLVM vectorises it
            }
        }
    }

    static func weightedSumBackward(batch: Int, cells L: Int, width C: Int, weights: UnsafePointer<Float>,
                                    values: UnsafePointer<Float>, dOut: UnsafePointer<Float>,
                                    dWeights: UnsafeMutablePointer<Float>?, dValues: UnsafeMutablePointer<Float>?) {
        let vectorEnd = C & ~7
        forEachImage(batch, work: L * C) { b in
            let dc = dOut + b * C
            for l in 0..<L {
                let v = values + (b * L + l) * C
                if let dWeights {
                    // A dot product in eight lanes (a plain loop would not be reassociated).
                    var lanes = SIMD8<Float>(), j = 0
                    while j < vectorEnd {
                        lanes += load8(dc + j) * load8(v + j)
                        j += 8
                    }
                    var dot = lanes.sum()
                    while j < C { dot += dc[j] * v[j]; j += 1 }
                    dWeights[b * L + l] += dot
                }
                if let dValues {
                    let a = weights[b * L + l], dv = dValues + (b * L + l) * C
                    for j in 0..<C { dv[j] += a * dc[j] }
                }
            }
        }
    }
}
