/// Every differentiable operation, with what its backward rule needs.
enum Op {
    case matmul(Tensor, Tensor, transposeA: Bool, transposeB: Bool)
    case linear(x: Tensor, weight: Tensor, bias: Tensor?)
    case add(Tensor, Tensor), subtract(Tensor, Tensor), multiply(Tensor, Tensor), divide(Tensor, Tensor)
    case scale(Tensor, Float)
    case shift(Tensor)
    case sum(Tensor, axis: Int), mean(Tensor, axis: Int)
    case sumAll(Tensor), meanAll(Tensor)
    case tanh(Tensor), sigmoid(Tensor), relu(Tensor), exp(Tensor), log(Tensor)
    case softmax(Tensor, axis: Int), logSoftmax(Tensor, axis: Int)
    case concat([Tensor], axis: Int)
    case slice(Tensor, axis: Int, start: Int)
    /// y is x's first rows, or x padded with zero rows: they share their leading rows.
    case rowResize(Tensor)
    case gatherRows(Tensor, IntTensor)
    case reshape(Tensor)
    case permute(Tensor, [Int])
    case dropout(Tensor, mask: Tensor)
    case crossEntropy(logits: Tensor, targets: IntTensor, probabilities: Tensor, ignoreIndex: Int32, valid: Int)
    /// rows: the rows of x that were kept (nil: all of them), gathered: those rows contiguously,
    /// targets: their targets, rowWeights: their weights (nil: all 1), probabilities: their softmax
    /// [rows, V] (overwritten by backward).
    case linearCrossEntropy(x: Tensor, weight: Tensor, bias: Tensor?, rows: [Int32]?, gathered: Tensor,
                            targets: [Int32], rowWeights: [Float]?, probabilities: Tensor)
    /// saved: tanh(P + q) [B, L, A] (see `additiveScores`).
    case additiveScores(projected: Tensor, query: Tensor, weight: Tensor, bias: Tensor?, saved: Tensor)
    case weightedSum(weights: Tensor, values: Tensor)
    case gruCell(x: Tensor, h: Tensor, weightIH: Tensor, weightHH: Tensor, biasIH: Tensor, biasHH: Tensor, saved: Tensor)
    case lstmCell(x: Tensor, h: Tensor, c: Tensor, weightIH: Tensor, weightHH: Tensor, biasIH: Tensor, biasHH: Tensor, saved: Tensor)
    /// packing: which rows ran at each step; xPacked, hIn (and cIn): the inputs and input states of
    /// every step in packed order [N, ·]; saved: the cells' pointwise values [N, 4H] or [N, 5H].
    case gruSequence(x: Tensor, h0: Tensor, weightIH: Tensor, weightHH: Tensor, biasIH: Tensor, biasHH: Tensor,
                     packing: SequencePacking, xPacked: Tensor, hIn: Tensor, saved: Tensor)
    case lstmSequence(x: Tensor, h0: Tensor, c0: Tensor, weightIH: Tensor, weightHH: Tensor, biasIH: Tensor, biasHH: Tensor,
                      packing: SequencePacking, xPacked: Tensor, hIn: Tensor, cIn: Tensor, saved: Tensor)
}

/// All backward rules, in one place. Given the op, its outputs and d(loss)/d(output) for each
/// (nil where an output did not reach the loss), each rule adds d(loss)/d(input) into the inputs
/// that require gradients.
enum Gradients {
    /// `deferred` collects weight gradients to compute at the end of the pass (see
    /// `DeferredWeightGradients`).
    static func backward(_ op: Op, outputs: [Tensor], outputGrads: [Tensor?], deferred: DeferredWeightGradients) {
        let y = outputs[0]
        guard let g = outputGrads[0] ?? (outputs.count > 1 ? Tensor(zeros: y.shape) : nil) else { return }
        switch op {

        // C = op(A)·op(B):  d op(A) = dC·op(B)ᵀ,  d op(B) = op(A)ᵀ·dC, transposed back to storage order.
        case let .matmul(a, b, ta, tb):
            let batch = a.rank == 3 ? a.shape[0] : 1
            let (m, n) = (y.shape[y.rank - 2], y.shape[y.rank - 1])
            let k = ta ? a.shape[a.rank - 2] : a.shape[a.rank - 1]
            if a.requiresGrad {
                let da = gradBuffer(a)
                if ta { gemm(b.data, g.data, da.data, m: k, n: m, k: n, batch: batch, transposeA: tb, transposeB: true, accumulate: true) }
                else { gemm(g.data, b.data, da.data, m: m, n: k, k: n, batch: batch, transposeA: false, transposeB: !tb, accumulate: true) }
            }
            if b.requiresGrad {
                let db = gradBuffer(b)
                if tb { gemm(g.data, a.data, db.data, m: n, n: k, k: m, batch: batch, transposeA: true, transposeB: ta, accumulate: true) }
                else { gemm(a.data, g.data, db.data, m: k, n: n, k: m, batch: batch, transposeA: !ta, transposeB: false, accumulate: true) }
            }

        // y = x·Wᵀ + b:  dx = dy·W,  dW = dyᵀ·x,  db = Σ_rows dy.
        case let .linear(x, w, bias):
            let (outF, inF) = (w.shape[0], w.shape[1])
            let rows = x.count / max(inF, 1)
            if x.requiresGrad {
                let (dx, accumulate) = gradTarget(x)
                gemm(g.data, w.data, dx.data, m: rows, n: inF, k: outF, accumulate: accumulate, weight: w.storage)
            }
            if w.requiresGrad { deferred.add(w, dOut: g, input: x, rows: rows) }
            if let bias, bias.requiresGrad { addColumnSums(g.data, rows: rows, cols: outF, into: gradBuffer(bias).data) }

        // Broadcasting: the gradient is summed back over the broadcast axes.
        case let .add(a, b):
            accumulate(a, Kernels.reduce(g, to: a.shape), fresh: a.shape != g.shape)
            accumulate(b, Kernels.reduce(g, to: b.shape), fresh: b.shape != g.shape)
        case let .subtract(a, b):
            accumulate(a, Kernels.reduce(g, to: a.shape), fresh: a.shape != g.shape)
            if b.requiresGrad { accumulate(b, Kernels.reduce(Kernels.map(g) { -$0 }, to: b.shape), fresh: true) }
        // d(a⊙b) = dy⊙b, dy⊙a
        case let .multiply(a, b):
            if a.requiresGrad { accumulate(a, Kernels.reduce(Kernels.broadcast(g, b, *), to: a.shape), fresh: true) }
            if b.requiresGrad { accumulate(b, Kernels.reduce(Kernels.broadcast(g, a, *), to: b.shape), fresh: true) }
        // d(a/b) = dy/b, −dy⊙a/b²
        case let .divide(a, b):
            if a.requiresGrad { accumulate(a, Kernels.reduce(Kernels.broadcast(g, b, /), to: a.shape), fresh: true) }
            if b.requiresGrad {
                let q = Kernels.broadcast(Kernels.broadcast(g, y, *), b, /)   // dy⊙(a/b)/b
                accumulate(b, Kernels.reduce(Kernels.map(q) { -$0 }, to: b.shape), fresh: true)
            }
        case let .scale(a, s):
            accumulate(a, Kernels.map(g) { $0 * s }, fresh: true)
        case let .shift(a):
            accumulate(a, g, fresh: false)

        // Reductions: the gradient is spread back over the reduced axis (÷ its length for the mean).
        case let .sum(x, axis):
            accumulate(x, Kernels.expand(g, alongAxis: axis, of: x.shape, scale: 1), fresh: true)
        case let .mean(x, axis):
            accumulate(x, Kernels.expand(g, alongAxis: axis, of: x.shape, scale: 1 / Float(x.shape[axis])), fresh: true)
        case let .sumAll(x):
            accumulate(x, Tensor(shape: x.shape, repeating: g.data[0]), fresh: true)
        case let .meanAll(x):
            accumulate(x, Tensor(shape: x.shape, repeating: g.data[0] / Float(x.count)), fresh: true)

        // Pointwise functions, from their outputs where that is cheaper:
        // tanh' = 1 − y²,  σ' = y(1 − y),  relu' = [y > 0],  exp' = y,  log' = 1/x.
        case let .tanh(x):
            accumulate(x, Kernels.zip(g, y) { d, t in d * (1 - t * t) }, fresh: true)
        case let .sigmoid(x):
            accumulate(x, Kernels.zip(g, y) { d, s in d * s * (1 - s) }, fresh: true)
        case let .relu(x):
            accumulate(x, Kernels.zip(g, y) { d, r in r > 0 ? d : 0 }, fresh: true)
        case let .exp(x):
            accumulate(x, Kernels.zip(g, y, *), fresh: true)
        case let .log(x):
            accumulate(x, Kernels.zip(g, x, /), fresh: true)

        // softmax: dx = y⊙(dy − Σ dy⊙y);  log-softmax: dx = dy − softmax(x)⊙Σ dy.
        case let .softmax(x, axis):
            accumulate(x, Kernels.softmaxBackward(y, g, axis: axis, log: false), fresh: true)
        case let .logSoftmax(x, axis):
            accumulate(x, Kernels.softmaxBackward(y, g, axis: axis, log: true), fresh: true)

        // Shape ops route the gradient back to where each element came from.
        case let .concat(parts, axis):
            var start = 0
            for p in parts {
                if p.requiresGrad { Kernels.copyBlock(g, into: gradBuffer(p), axis: axis, start: start, gather: true, add: true) }
                start += p.shape[axis]
            }
        case let .slice(x, axis, start):
            if x.requiresGrad { Kernels.copyBlock(g, into: gradBuffer(x), axis: axis, start: start, add: true) }
        case let .rowResize(x):
            // d(shared leading rows) passes through; rows only one side has get nothing. A
            // prefix view's gradient already is x's (`gradBuffer` made it so): nothing to add.
            if x.requiresGrad, x.grad?.storage !== g.storage {
                let shared = min(x.count, g.count)
                let dx = gradBuffer(x).data, dy = g.data
                for i in 0..<shared { dx[i] += dy[i] }
            }
        case let .reshape(x):
            accumulate(x, g, fresh: false)
        case let .permute(x, perm):
            var inverse = perm
            for (i, p) in perm.enumerated() { inverse[p] = i }
            accumulate(x, Kernels.permute(g, inverse), fresh: true)
        // Embedding: rows picked by id; their gradients are scatter-added back (ids may repeat).
        case let .gatherRows(table, ids):
            if table.requiresGrad { Kernels.scatterAddRows(g, ids, into: gradBuffer(table)) }
        case let .dropout(x, mask):
            accumulate(x, Kernels.zip(g, mask, *), fresh: true)

        // Cross-entropy, mean over the n valid rows: dlogits = (softmax − onehot(target)) · dy / n.
        case let .crossEntropy(logits, targets, probabilities, ignoreIndex, valid):
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

        // Fused output layer + cross-entropy (maths beside `linearCrossEntropy` in Ops.swift):
        // dz = a·(p − onehot)·dy/n over p (a = 1 unless weighted), then the three GEMM-side
        // gradients over kept rows. Weighted rows take the fp32 pass; the products still round.
        case let .linearCrossEntropy(x, w, bias, rows, gathered, targets, rowWeights, probabilities):
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

        // Fused additive attention scores: one pass (AttentionKernels.scoresBackward, maths there).
        case let .additiveScores(p, q, w, bias, saved):
            AttentionKernels.scoresBackward(batch: p.shape[0], cells: p.shape[1], width: p.shape[2], saved: saved.data,
                                            weight: w.data, dScores: g.data,
                                            dProjected: p.requiresGrad ? gradBuffer(p).data : nil,
                                            dQuery: q.requiresGrad ? gradBuffer(q).data : nil,
                                            dWeight: w.requiresGrad ? gradBuffer(w).data : nil,
                                            dBias: bias.flatMap { $0.requiresGrad ? gradBuffer($0).data : nil })

        // Attention context c = Σ_l α_l V_l (AttentionKernels.weightedSumBackward).
        case let .weightedSum(weights, values):
            AttentionKernels.weightedSumBackward(batch: values.shape[0], cells: values.shape[1], width: values.shape[2],
                                                 weights: weights.data, values: values.data, dOut: g.data,
                                                 dWeights: weights.requiresGrad ? gradBuffer(weights).data : nil,
                                                 dValues: values.requiresGrad ? gradBuffer(values).data : nil)

        // GRU cell: pointwise backward (Recurrent.gruBackward), then the two GEMMs' gradients.
        case let .gruCell(x, h, wIH, wHH, bIH, bHH, saved):
            let (batch, hidden) = (h.shape[0], h.shape[1])
            let dgi = Tensor(uninitialized: [batch, 3 * hidden]), dgh = Tensor(uninitialized: [batch, 3 * hidden])
            let dhDirect = Tensor(uninitialized: [batch, hidden])
            Recurrent.gruBackward(batch: batch, hidden: hidden, dhNext: g.data, dhNextStride: hidden, saved: saved.data,
                                  h: h.data, hStride: hidden, dgi: dgi.data, dgiStride: 3 * hidden, dgh: dgh.data,
                                  dh: dhDirect.data, dhStride: hidden)
            linearGradients(dOut: dgi, input: x, weight: wIH, bias: bIH, rows: batch, deferred: deferred)
            accumulate(h, dhDirect, fresh: true)
            linearGradients(dOut: dgh, input: h, weight: wHH, bias: bHH, rows: batch, deferred: deferred)

        case let .lstmCell(x, h, c, wIH, wHH, bIH, bHH, saved):
            let (batch, hidden) = (h.shape[0], h.shape[1])
            let dgates = Tensor(uninitialized: [batch, 4 * hidden]), dc = Tensor(uninitialized: [batch, hidden])
            let gc = outputGrads[1]
            Recurrent.lstmBackward(batch: batch, hidden: hidden, dhNext: g.data, dhNextStride: hidden,
                                   dcNext: gc.map { UnsafePointer($0.data) }, dcNextStride: hidden, saved: saved.data,
                                   c: c.data, cStride: hidden, dgates: dgates.data, dgatesStride: 4 * hidden,
                                   dc: dc.data, dcStride: hidden)
            accumulate(c, dc, fresh: true)
            linearGradients(dOut: dgates, input: x, weight: wIH, bias: bIH, rows: batch, deferred: deferred)
            linearGradients(dOut: dgates, input: h, weight: wHH, bias: bHH, rows: batch, deferred: deferred)

        // GRU over a sequence, backward through time in packed order (see Sequences.swift): per step
        // the fused pointwise backward over the rows alive and one dgh·W_hh GEMM into their dh; the
        // weight gradients as single GEMMs over all packed rows at the end.
        case let .gruSequence(x, h0, wIH, wHH, bIH, bHH, packing, xPacked, hIn, saved):
            let hidden = h0.shape[1], total = packing.total
            let dgi = Tensor(uninitialized: [total, 3 * hidden])              // [N, 3H]
            let dgh = Tensor(uninitialized: [total, 3 * hidden])              // [N, 3H]
            // Each read by two products (dh and dW_hh; dx and dW_ih): rounded once, as they are formed.
            let dgiRounded = RoundedGradient(rows: total, width: 3 * hidden), dghRounded = RoundedGradient(rows: total, width: 3 * hidden)
            let dh = Tensor(zeros: [packing.batch, hidden])                    // sorted rows
            let dhNext = Tensor(uninitialized: [packing.batch, hidden])
            let dy = Tensor(uninitialized: [total, hidden])                    // g in packed order
            packing.pack(g.data, width: hidden, into: dy.data)
            for t in stride(from: packing.steps - 1, through: 0, by: -1) where packing.active[t] > 0 {
                let (n, row) = (packing.active[t], packing.offsets[t])
                Kernels.add(dy.data + row * hidden, dh.data, into: dhNext.data, count: n * hidden)
                Recurrent.gruBackward(batch: n, hidden: hidden, dhNext: dhNext.data, dhNextStride: hidden,
                                      saved: saved.data + row * 4 * hidden, h: hIn.data + row * hidden, hStride: hidden,
                                      dgi: dgi.data + row * 3 * hidden, dgiStride: 3 * hidden,
                                      dgh: dgh.data + row * 3 * hidden, dh: dh.data, dhStride: hidden,
                                      dgiRounded: dgiRounded?.row(row), dghRounded: dghRounded?.row(row))
                gemm(dgh.data + row * 3 * hidden, wHH.data, dh.data, m: n, n: hidden, k: 3 * hidden, accumulate: true, weight: wHH.storage,
                     convertedA: dghRounded?.operand(from: row, m: n, n: hidden, k: 3 * hidden))
            }
            if h0.requiresGrad {
                let dh0 = Tensor(uninitialized: h0.shape)
                packing.unsortRows(dh.data, width: hidden, into: dh0.data)
                accumulate(h0, dh0, fresh: true)
            }
            if wHH.requiresGrad {
                let (dw, accumulate) = gradTarget(wHH)
                gemm(dgh.data, hIn.data, dw.data, m: 3 * hidden, n: hidden, k: total, transposeA: true, accumulate: accumulate,
                     convertedA: dghRounded?.operand(m: 3 * hidden, n: hidden, k: total))
            }
            if bHH.requiresGrad { addColumnSums(dgh.data, rows: total, cols: 3 * hidden, into: gradBuffer(bHH).data) }
            sequenceInputGradients(dgates: dgi, rounded: dgiRounded, x: x, xPacked: xPacked, weight: wIH, bias: bIH, packing: packing)
            withExtendedLifetime((dgiRounded, dghRounded)) {}          // the products read them through raw pointers

        case let .lstmSequence(x, h0, c0, wIH, wHH, bIH, bHH, packing, xPacked, hIn, cIn, saved):
            let hidden = h0.shape[1], total = packing.total
            let dgates = Tensor(uninitialized: [total, 4 * hidden])          // [N, 4H], shared by both GEMMs
            // Read by four products (dh, dW_hh, dx, dW_ih): rounded once, as it is formed.
            let dgatesRounded = RoundedGradient(rows: total, width: 4 * hidden)
            let dh = Tensor(zeros: [packing.batch, hidden])                    // sorted rows
            // d(last cell) enters each row at its last step; until then the row is not touched.
            let dc = Tensor(zeros: [packing.batch, hidden])
            if let gc = outputGrads[1] { packing.sortRows(gc.data, width: hidden, into: dc.data) }
            let dhNext = Tensor(uninitialized: [packing.batch, hidden])
            let dy = Tensor(uninitialized: [total, hidden])
            packing.pack(g.data, width: hidden, into: dy.data)
            for t in stride(from: packing.steps - 1, through: 0, by: -1) where packing.active[t] > 0 {
                let (n, row) = (packing.active[t], packing.offsets[t])
                Kernels.add(dy.data + row * hidden, dh.data, into: dhNext.data, count: n * hidden)
                let dgt = dgates.data + row * 4 * hidden
                Recurrent.lstmBackward(batch: n, hidden: hidden, dhNext: dhNext.data, dhNextStride: hidden,
                                       dcNext: dc.data, dcNextStride: hidden, saved: saved.data + row * 5 * hidden,
                                       c: cIn.data + row * hidden, cStride: hidden, dgates: dgt, dgatesStride: 4 * hidden,
                                       dc: dc.data, dcStride: hidden, dgatesRounded: dgatesRounded?.row(row))
                gemm(dgt, wHH.data, dh.data, m: n, n: hidden, k: 4 * hidden, weight: wHH.storage,
                     convertedA: dgatesRounded?.operand(from: row, m: n, n: hidden, k: 4 * hidden))
            }
            for (state, sorted) in [(h0, dh), (c0, dc)] where state.requiresGrad {
                let d = Tensor(uninitialized: state.shape)
                packing.unsortRows(sorted.data, width: hidden, into: d.data)
                accumulate(state, d, fresh: true)
            }
            if wHH.requiresGrad {
                let (dw, accumulate) = gradTarget(wHH)
                gemm(dgates.data, hIn.data, dw.data, m: 4 * hidden, n: hidden, k: total, transposeA: true, accumulate: accumulate,
                     convertedA: dgatesRounded?.operand(m: 4 * hidden, n: hidden, k: total))
            }
            if bHH.requiresGrad { addColumnSums(dgates.data, rows: total, cols: 4 * hidden, into: gradBuffer(bHH).data) }
            sequenceInputGradients(dgates: dgates, rounded: dgatesRounded, x: x, xPacked: xPacked, weight: wIH, bias: bIH, packing: packing)
            withExtendedLifetime(dgatesRounded) {}                     // the products read it through raw pointers
        }
    }

    /// The input side of a packed recurrent layer: gi = xPacked·W_ihᵀ + b_ih, so dW_ih and db_ih come
    /// from the packed rows and dx is scattered back to [B, T, I] (zero where a row did not run).
    /// `rounded` is dgates in bfloat16, when the backward pass made it.
    private static func sequenceInputGradients(dgates: Tensor, rounded: RoundedGradient?, x: Tensor, xPacked: Tensor, weight: Tensor,
                                               bias: Tensor, packing: SequencePacking) {
        let (outF, inF) = (weight.shape[0], weight.shape[1])
        let total = packing.total
        if x.requiresGrad {
            let dxPacked = Tensor(uninitialized: [total, inF])
            gemm(dgates.data, weight.data, dxPacked.data, m: total, n: inF, k: outF, weight: weight.storage,
                 convertedA: rounded?.operand(m: total, n: inF, k: outF))
            if total == packing.batch * packing.steps, x.grad == nil {
                let dx = Tensor(uninitialized: x.shape)
                packing.unpack(dxPacked.data, width: inF, into: dx.data, add: false)
                accumulate(x, dx, fresh: true)
            } else {
                packing.unpack(dxPacked.data, width: inF, into: gradBuffer(x).data, add: true)
            }
        }
        if weight.requiresGrad {
            let (dw, accumulate) = gradTarget(weight)
            gemm(dgates.data, xPacked.data, dw.data, m: outF, n: inF, k: total, transposeA: true, accumulate: accumulate,
                 convertedA: rounded?.operand(m: outF, n: inF, k: total))
        }
        if bias.requiresGrad { addColumnSums(dgates.data, rows: total, cols: outF, into: gradBuffer(bias).data) }
    }

    /// Gradients of out = input·Wᵀ + b given dOut [rows, O], accumulated into input, W and b.
    private static func linearGradients(dOut: Tensor, input: Tensor, weight: Tensor, bias: Tensor, rows: Int,
                                        deferred: DeferredWeightGradients) {
        let (outF, inF) = (weight.shape[0], weight.shape[1])
        if input.requiresGrad { gemm(dOut.data, weight.data, gradBuffer(input).data, m: rows, n: inF, k: outF, accumulate: true, weight: weight.storage) }
        if weight.requiresGrad { deferred.add(weight, dOut: dOut, input: input, rows: rows) }
        if bias.requiresGrad { addColumnSums(dOut.data, rows: rows, cols: outF, into: gradBuffer(bias).data) }
    }
}

/// Weight gradients dW += dYᵀ·X gathered during one backward pass and computed as one GEMM per
/// weight over all the rows that reached it. A decoder step contributes only its batch's rows, so
/// a product per step would read and write all of dW for a thin slice of work; stacking the steps'
/// rows first makes it one well-shaped product. A weight that is itself computed (not a leaf) is
/// flushed before its own backward rule runs, so its gradient is complete when it is used.
final class DeferredWeightGradients {
    private struct Part { let dOut: Tensor, input: Tensor, rows: Int }
    private var pending: [ObjectIdentifier: (weight: Tensor, parts: [Part])] = [:]
    private var order: [ObjectIdentifier] = []

    /// dW += dOutᵀ·input for dOut [rows, O] and input [rows, I], at the end of the pass.
    func add(_ weight: Tensor, dOut: Tensor, input: Tensor, rows: Int) {
        let key = ObjectIdentifier(weight)
        if pending[key] == nil { order.append(key); pending[key] = (weight, []) }
        pending[key]!.parts.append(Part(dOut: dOut, input: input, rows: rows))
    }

    /// Computes `t`'s pending gradient, if it has one.
    func flush(_ t: Tensor) {
        guard !pending.isEmpty, let entry = pending.removeValue(forKey: ObjectIdentifier(t)) else { return }
        compute(entry.weight, entry.parts)
    }

    func flushAll() {
        for key in order { if let entry = pending.removeValue(forKey: key) { compute(entry.weight, entry.parts) } }
        order = []
    }

    private func compute(_ w: Tensor, _ parts: [Part]) {
        let (outF, inF) = (w.shape[0], w.shape[1])
        let total = parts.reduce(0) { $0 + $1.rows }
        let (dw, accumulate) = gradTarget(w)
        if parts.count == 1 {
            gemm(parts[0].dOut.data, parts[0].input.data, dw.data, m: outF, n: inF, k: total, transposeA: true, accumulate: accumulate)
            return
        }
        let dOut = Tensor(uninitialized: [total, outF]), input = Tensor(uninitialized: [total, inF])   // the steps' rows, stacked
        var row = 0
        for part in parts {
            (dOut.data + row * outF).update(from: part.dOut.data, count: part.rows * outF)
            (input.data + row * inF).update(from: part.input.data, count: part.rows * inF)
            row += part.rows
        }
        gemm(dOut.data, input.data, dw.data, m: outF, n: inF, k: total, transposeA: true, accumulate: accumulate)
    }
}
