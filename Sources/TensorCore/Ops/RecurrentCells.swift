// One step of a GRU or LSTM cell, forward and backward side by side:
//   gi = x·W_ihᵀ + b_ih,  gh = h·W_hhᵀ + b_hh     the two gate GEMMs, on oneDNN
//   h' (and c') from gi, gh, h (and c)            fused pointwise (`Recurrent`, equations there)
// Backward: the pointwise backward gives dgi and dgh (one d(gates) for the LSTM, gates = gi + gh), then
//   dx = dgi·W_ih,  dh += dgh·W_hh,  dW_ih = dgiᵀ·x,  dW_hh = dghᵀ·h,  db = Σ_rows d(gates).

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

extension Gradients {
    /// Backward of `gruCell`: the pointwise backward (`Recurrent.gruBackward`) gives dgi, dgh and the
    /// direct part of dh; then gi = x·W_ihᵀ + b_ih and gh = h·W_hhᵀ + b_hh pass them to x, h and the weights.
    static func gruCellBackward(x: Tensor, h: Tensor, weightIH wIH: Tensor, weightHH wHH: Tensor, biasIH bIH: Tensor,
                                biasHH bHH: Tensor, saved: Tensor, dOut g: Tensor, deferred: DeferredWeightGradients) {
        let (batch, hidden) = (h.shape[0], h.shape[1])
        let dgi = Tensor(uninitialized: [batch, 3 * hidden]), dgh = Tensor(uninitialized: [batch, 3 * hidden])
        let dhDirect = Tensor(uninitialized: [batch, hidden])
        Recurrent.gruBackward(batch: batch, hidden: hidden, dhNext: g.data, dhNextStride: hidden, saved: saved.data,
                              h: h.data, hStride: hidden, dgi: dgi.data, dgiStride: 3 * hidden, dgh: dgh.data,
                              dh: dhDirect.data, dhStride: hidden)
        linearGradients(dOut: dgi, input: x, weight: wIH, bias: bIH, rows: batch, deferred: deferred)
        accumulate(h, dhDirect, fresh: true)
        linearGradients(dOut: dgh, input: h, weight: wHH, bias: bHH, rows: batch, deferred: deferred)
    }
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

extension Gradients {
    /// Backward of `lstmCell`: the pointwise backward (`Recurrent.lstmBackward`) gives d(gates) and dc;
    /// both gate GEMMs share d(gates) (gates = gi + gh).
    static func lstmCellBackward(x: Tensor, h: Tensor, c: Tensor, weightIH wIH: Tensor, weightHH wHH: Tensor, biasIH bIH: Tensor,
                                 biasHH bHH: Tensor, saved: Tensor, dH g: Tensor, dC gc: Tensor?, deferred: DeferredWeightGradients) {
        let (batch, hidden) = (h.shape[0], h.shape[1])
        let dgates = Tensor(uninitialized: [batch, 4 * hidden]), dc = Tensor(uninitialized: [batch, hidden])
        Recurrent.lstmBackward(batch: batch, hidden: hidden, dhNext: g.data, dhNextStride: hidden,
                               dcNext: gc.map { UnsafePointer($0.data) }, dcNextStride: hidden, saved: saved.data,
                               c: c.data, cStride: hidden, dgates: dgates.data, dgatesStride: 4 * hidden,
                               dc: dc.data, dcStride: hidden)
        accumulate(c, dc, fresh: true)
        linearGradients(dOut: dgates, input: x, weight: wIH, bias: bIH, rows: batch, deferred: deferred)
        linearGradients(dOut: dgates, input: h, weight: wHH, bias: bHH, rows: batch, deferred: deferred)
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
