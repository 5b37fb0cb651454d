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

/// The backward rules. Given the op, its outputs and d(loss)/d(output) for each (nil where an output
/// did not reach the loss), each rule adds d(loss)/d(input) into the inputs that require gradients.
/// The basic ops' rules are the table below; each fused op's rule sits beside its forward in Ops/
/// (`…Backward`), where its maths is written out.
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

        // Fused ops: the rules beside their forwards.
        case let .crossEntropy(logits, targets, probabilities, ignoreIndex, valid):
            crossEntropyBackward(logits: logits, targets: targets, probabilities: probabilities, ignoreIndex: ignoreIndex,
                                 valid: valid, dLoss: g)
        case let .linearCrossEntropy(x, w, bias, rows, gathered, targets, rowWeights, probabilities):
            linearCrossEntropyBackward(x: x, weight: w, bias: bias, rows: rows, gathered: gathered, targets: targets,
                                       rowWeights: rowWeights, probabilities: probabilities, dLoss: g)
        case let .additiveScores(p, q, w, bias, saved):
            additiveScoresBackward(projected: p, query: q, weight: w, bias: bias, saved: saved, dScores: g)
        case let .weightedSum(weights, values):
            weightedSumBackward(weights: weights, values: values, dOut: g)
        case let .gruCell(x, h, wIH, wHH, bIH, bHH, saved):
            gruCellBackward(x: x, h: h, weightIH: wIH, weightHH: wHH, biasIH: bIH, biasHH: bHH, saved: saved, dOut: g,
                            deferred: deferred)
        case let .lstmCell(x, h, c, wIH, wHH, bIH, bHH, saved):
            lstmCellBackward(x: x, h: h, c: c, weightIH: wIH, weightHH: wHH, biasIH: bIH, biasHH: bHH, saved: saved,
                             dH: g, dC: outputGrads[1], deferred: deferred)
        case let .gruSequence(x, h0, wIH, wHH, bIH, bHH, packing, xPacked, hIn, saved):
            gruSequenceBackward(x: x, h0: h0, weightIH: wIH, weightHH: wHH, biasIH: bIH, biasHH: bHH, packing: packing,
                                xPacked: xPacked, hIn: hIn, saved: saved, dY: g)
        case let .lstmSequence(x, h0, c0, wIH, wHH, bIH, bHH, packing, xPacked, hIn, cIn, saved):
            lstmSequenceBackward(x: x, h0: h0, c0: c0, weightIH: wIH, weightHH: wHH, biasIH: bIH, biasHH: bHH,
                                 packing: packing, xPacked: xPacked, hIn: hIn, cIn: cIn, saved: saved, dY: g, dC: outputGrads[1])
        }
    }
}
