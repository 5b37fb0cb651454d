// Whole recurrent layers over a batch-first sequence, each forward beside its backward.
//
// Rows may stop early (`lengths`, as PyTorch's pack_padded_sequence): a row is computed for its first
// lengths[b] steps only, and its outputs after that are zero. The work is laid out "packed": rows
// sorted longest first, so the rows alive at step t are a prefix of that order, and step t's rows
// sit contiguously after step t−1's. Captions are padded to the longest in the batch, so skipping
// the dead rows skips the padding's share of the GEMMs.

/// Which rows of a [B, T, …] sequence are computed at each step, and where they live packed.
public struct SequencePacking {
    public let batch: Int, steps: Int
    /// Packed position i (within any step) → the batch row it is.
    public let order: [Int]
    /// Rows alive at step t: the first active[t] of `order`.
    public let active: [Int]
    /// First packed row of step t; offsets[steps] is the number of packed rows.
    let offsets: [Int]

    /// lengths[b] ∈ 0…steps: how many steps row b runs.
    public init(lengths: [Int], steps: Int) {
        precondition(lengths.allSatisfy { $0 >= 0 && $0 <= steps }, "sequence lengths must lie in 0…\(steps)")
        batch = lengths.count
        self.steps = steps
        order = lengths.indices.sorted { lengths[$0] > lengths[$1] || (lengths[$0] == lengths[$1] && $0 < $1) }
        active = (0..<steps).map { t in lengths.reduce(0) { $0 + ($1 > t ? 1 : 0) } }
        var offsets = [0]
        for n in active { offsets.append(offsets.last! + n) }
        self.offsets = offsets
    }

    var total: Int { offsets[steps] }

    /// Copies rows of a batch-first [B, T, W] buffer into packed [total, W] order.
    func pack(_ source: UnsafePointer<Float>, width: Int, into packed: UnsafeMutablePointer<Float>) {
        for t in 0..<steps {
            for i in 0..<active[t] {
                (packed + (offsets[t] + i) * width).update(from: source + (order[i] * steps + t) * width, count: width)
            }
        }
    }

    /// Adds (or writes) packed [total, W] rows into a batch-first [B, T, W] buffer; rows not alive
    /// are left as they are.
    func unpack(_ packed: UnsafePointer<Float>, width: Int, into target: UnsafeMutablePointer<Float>, add: Bool) {
        for t in 0..<steps {
            for i in 0..<active[t] {
                let src = packed + (offsets[t] + i) * width, dst = target + (order[i] * steps + t) * width
                if add { for j in 0..<width { dst[j] += src[j] } } else { dst.update(from: src, count: width) }
            }
        }
    }

    /// Row b of a [B, W] buffer to position i of a sorted one, or back.
    func sortRows(_ source: UnsafePointer<Float>, width: Int, into sorted: UnsafeMutablePointer<Float>) {
        for (i, b) in order.enumerated() { (sorted + i * width).update(from: source + b * width, count: width) }
    }

    func unsortRows(_ sorted: UnsafePointer<Float>, width: Int, into target: UnsafeMutablePointer<Float>) {
        for (i, b) in order.enumerated() { (target + b * width).update(from: sorted + i * width, count: width) }
    }

    /// The packed rows of step t's input state h_t: step t−1's outputs (or the sorted initial state).
    func copyInputs(step t: Int, initial: UnsafePointer<Float>, outputs: UnsafePointer<Float>, width: Int,
                    into inputs: UnsafeMutablePointer<Float>) {
        let source = t == 0 ? initial : outputs + offsets[t - 1] * width
        (inputs + offsets[t] * width).update(from: source, count: active[t] * width)
    }
}

/// The packing of a recurrent layer's rows, its inputs in packed order xPacked [N, I], and their
/// gate pre-activations gi = xPacked·W_ihᵀ + b_ih [N, gates·H] in one GEMM for all steps.
private func packedInputGates(_ x: Tensor, _ h0: Tensor, weightIH: Tensor, weightHH: Tensor, biasIH: Tensor, gates: Int,
                              lengths: [Int]?, op: String) -> (SequencePacking, xPacked: Tensor, gi: Tensor) {
    let (batch, steps, inFeatures) = (x.shape[0], x.shape[1], x.shape[2])
    let hidden = h0.shape[1]
    precondition(weightIH.shape == [gates * hidden, inFeatures] && weightHH.shape == [gates * hidden, hidden] && h0.shape[0] == batch,
                 "\(op): weights do not fit x \(x.shape), h0 \(h0.shape)")
    let packing = SequencePacking(lengths: lengths ?? Array(repeating: steps, count: batch), steps: steps)
    let xPacked = Tensor(uninitialized: [packing.total, inFeatures])                // [N, I]
    packing.pack(x.data, width: inFeatures, into: xPacked.data)
    let gi = Tensor(uninitialized: [packing.total, gates * hidden])                 // [N, gates·H]
    gemm(xPacked.data, weightIH.data, gi.data, m: packing.total, n: gates * hidden, k: inFeatures, transposeB: true,
         bias: biasIH.data, weight: weightIH.storage)
    return (packing, xPacked, gi)
}

/// A whole batch-first GRU layer (`nn.GRU(batch_first=True)`, one layer): x [B, T, I], h0 [B, H] →
/// y [B, T, H]. With `lengths`, row b runs for lengths[b] steps and y is zero after them. The input
/// GEMM runs once for all steps; each step is one [alive, H]·[H, 3H] GEMM and the fused cell.
public func gruSequence(_ x: Tensor, _ h0: Tensor, weightIH: Tensor, weightHH: Tensor, biasIH: Tensor, biasHH: Tensor,
                        lengths: [Int]? = nil) -> Tensor {
    let (batch, steps, hidden) = (x.shape[0], x.shape[1], h0.shape[1])
    let (packing, xPacked, gi) = packedInputGates(x, h0, weightIH: weightIH, weightHH: weightHH, biasIH: biasIH, gates: 3,
                                                  lengths: lengths, op: "gruSequence")
    let total = packing.total
    let h0Sorted = Tensor(uninitialized: [batch, hidden])
    packing.sortRows(h0.data, width: hidden, into: h0Sorted.data)
    let hIn = Tensor(uninitialized: [total, hidden]), hOut = Tensor(uninitialized: [total, hidden])   // [N, H]
    let inputs = [x, h0, weightIH, weightHH, biasIH, biasHH]
    let saved = willRecord(inputs) ? Tensor(uninitialized: [total, 4 * hidden]) : nil
    let gh = Tensor(uninitialized: [batch, 3 * hidden])
    for t in 0..<steps where packing.active[t] > 0 {
        let (n, row) = (packing.active[t], packing.offsets[t])
        packing.copyInputs(step: t, initial: h0Sorted.data, outputs: hOut.data, width: hidden, into: hIn.data)
        gemm(hIn.data + row * hidden, weightHH.data, gh.data, m: n, n: 3 * hidden, k: hidden, transposeB: true,
             bias: biasHH.data, weight: weightHH.storage)
        Recurrent.gruForward(batch: n, hidden: hidden, gi: gi.data + row * 3 * hidden, giStride: 3 * hidden,
                             gh: gh.data, h: hIn.data + row * hidden, hStride: hidden,
                             out: hOut.data + row * hidden, outStride: hidden, saved: saved.map { $0.data + row * 4 * hidden })
    }
    let y = total == batch * steps ? Tensor(uninitialized: [batch, steps, hidden]) : Tensor(zeros: [batch, steps, hidden])
    packing.unpack(hOut.data, width: hidden, into: y.data, add: false)
    if let saved {
        record(.gruSequence(x: x, h0: h0, weightIH: weightIH, weightHH: weightHH, biasIH: biasIH, biasHH: biasHH,
                            packing: packing, xPacked: xPacked, hIn: hIn, saved: saved), inputs: inputs, outputs: [y])
    }
    return y
}

extension Gradients {
    /// Backward of `gruSequence`, through time in packed order: per step the fused pointwise backward
    /// over the rows alive and one dgh·W_hh GEMM into their dh; the weight gradients as single GEMMs
    /// over all packed rows at the end.
    static func gruSequenceBackward(x: Tensor, h0: Tensor, weightIH wIH: Tensor, weightHH wHH: Tensor, biasIH bIH: Tensor,
                                    biasHH bHH: Tensor, packing: SequencePacking, xPacked: Tensor, hIn: Tensor, saved: Tensor,
                                    dY g: Tensor) {
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
        initialStateGradient(h0, sorted: dh, packing: packing)
        packedWeightGradients(dgates: dgh, rounded: dghRounded, inputs: hIn, weight: wHH, bias: bHH, rows: total)
        sequenceInputGradients(dgates: dgi, rounded: dgiRounded, x: x, xPacked: xPacked, weight: wIH, bias: bIH, packing: packing)
        withExtendedLifetime((dgiRounded, dghRounded)) {}          // the products read them through raw pointers
    }
}

/// A whole batch-first LSTM layer: x [B, T, I], h0 and c0 [B, H] → (y [B, T, H], c [B, H]), c being
/// each row's cell after its last step (c_T without `lengths`).
public func lstmSequence(_ x: Tensor, _ h0: Tensor, _ c0: Tensor, weightIH: Tensor, weightHH: Tensor, biasIH: Tensor, biasHH: Tensor,
                         lengths: [Int]? = nil) -> (y: Tensor, c: Tensor) {
    let (batch, steps, hidden) = (x.shape[0], x.shape[1], h0.shape[1])
    let (packing, xPacked, gi) = packedInputGates(x, h0, weightIH: weightIH, weightHH: weightHH, biasIH: biasIH, gates: 4,
                                                  lengths: lengths, op: "lstmSequence")
    let total = packing.total
    let h0Sorted = Tensor(uninitialized: [batch, hidden]), c0Sorted = Tensor(uninitialized: [batch, hidden])
    packing.sortRows(h0.data, width: hidden, into: h0Sorted.data)
    packing.sortRows(c0.data, width: hidden, into: c0Sorted.data)
    let hIn = Tensor(uninitialized: [total, hidden]), hOut = Tensor(uninitialized: [total, hidden])   // [N, H]
    let cIn = Tensor(uninitialized: [total, hidden]), cOut = Tensor(uninitialized: [total, hidden])   // [N, H]
    let inputs = [x, h0, c0, weightIH, weightHH, biasIH, biasHH]
    let saved = willRecord(inputs) ? Tensor(uninitialized: [total, 5 * hidden]) : nil
    let gh = Tensor(uninitialized: [batch, 4 * hidden])
    // Each row's last cell; rows that never run keep c0.
    let cLastSorted = c0Sorted.copy()
    for t in 0..<steps where packing.active[t] > 0 {
        let (n, row) = (packing.active[t], packing.offsets[t])
        packing.copyInputs(step: t, initial: h0Sorted.data, outputs: hOut.data, width: hidden, into: hIn.data)
        packing.copyInputs(step: t, initial: c0Sorted.data, outputs: cOut.data, width: hidden, into: cIn.data)
        gemm(hIn.data + row * hidden, weightHH.data, gh.data, m: n, n: 4 * hidden, k: hidden, transposeB: true,
             bias: biasHH.data, weight: weightHH.storage)
        Recurrent.lstmForward(batch: n, hidden: hidden, gi: gi.data + row * 4 * hidden, giStride: 4 * hidden,
                              gh: gh.data, c: cIn.data + row * hidden, cStride: hidden,
                              hOut: hOut.data + row * hidden, hOutStride: hidden,
                              cOut: cOut.data + row * hidden, cOutStride: hidden,
                              saved: saved.map { $0.data + row * 5 * hidden })
        // Rows whose last step this is: active[t+1]..<active[t].
        let next = t + 1 < steps ? packing.active[t + 1] : 0
        if next < n {
            (cLastSorted.data + next * hidden).update(from: cOut.data + (row + next) * hidden, count: (n - next) * hidden)
        }
    }
    let y = total == batch * steps ? Tensor(uninitialized: [batch, steps, hidden]) : Tensor(zeros: [batch, steps, hidden])
    packing.unpack(hOut.data, width: hidden, into: y.data, add: false)
    let cLast = Tensor(uninitialized: [batch, hidden])
    packing.unsortRows(cLastSorted.data, width: hidden, into: cLast.data)
    if let saved {
        record(.lstmSequence(x: x, h0: h0, c0: c0, weightIH: weightIH, weightHH: weightHH, biasIH: biasIH, biasHH: biasHH,
                             packing: packing, xPacked: xPacked, hIn: hIn, cIn: cIn, saved: saved),
               inputs: inputs, outputs: [y, cLast])
    }
    return (y, cLast)
}

extension Gradients {
    /// Backward of `lstmSequence`, as `gruSequenceBackward`; d(gates) is shared by both GEMMs, and
    /// the last cell's gradient enters each row at its last step.
    static func lstmSequenceBackward(x: Tensor, h0: Tensor, c0: Tensor, weightIH wIH: Tensor, weightHH wHH: Tensor,
                                     biasIH bIH: Tensor, biasHH bHH: Tensor, packing: SequencePacking, xPacked: Tensor,
                                     hIn: Tensor, cIn: Tensor, saved: Tensor, dY g: Tensor, dC gc: Tensor?) {
        let hidden = h0.shape[1], total = packing.total
        let dgates = Tensor(uninitialized: [total, 4 * hidden])          // [N, 4H], shared by both GEMMs
        // Read by four products (dh, dW_hh, dx, dW_ih): rounded once, as it is formed.
        let dgatesRounded = RoundedGradient(rows: total, width: 4 * hidden)
        let dh = Tensor(zeros: [packing.batch, hidden])                    // sorted rows
        // d(last cell) enters each row at its last step; until then the row is not touched.
        let dc = Tensor(zeros: [packing.batch, hidden])
        if let gc { packing.sortRows(gc.data, width: hidden, into: dc.data) }
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
        initialStateGradient(h0, sorted: dh, packing: packing)
        initialStateGradient(c0, sorted: dc, packing: packing)
        packedWeightGradients(dgates: dgates, rounded: dgatesRounded, inputs: hIn, weight: wHH, bias: bHH, rows: total)
        sequenceInputGradients(dgates: dgates, rounded: dgatesRounded, x: x, xPacked: xPacked, weight: wIH, bias: bIH, packing: packing)
        withExtendedLifetime(dgatesRounded) {}                     // the products read it through raw pointers
    }

    /// An initial state's gradient, from the sorted rows the backward pass kept it in.
    private static func initialStateGradient(_ state: Tensor, sorted: Tensor, packing: SequencePacking) {
        guard state.requiresGrad else { return }
        let d = Tensor(uninitialized: state.shape)
        packing.unsortRows(sorted.data, width: state.shape[1], into: d.data)
        accumulate(state, d, fresh: true)
    }

    /// dW (+)= dgatesᵀ·inputs and db += Σ dgates over all packed rows, one GEMM per weight.
    /// `rounded` is dgates in bfloat16, when the backward pass made it.
    private static func packedWeightGradients(dgates: Tensor, rounded: RoundedGradient?, inputs: Tensor, weight: Tensor,
                                              bias: Tensor, rows total: Int) {
        let (outF, inF) = (weight.shape[0], weight.shape[1])
        if weight.requiresGrad {
            let (dw, accumulate) = gradTarget(weight)
            gemm(dgates.data, inputs.data, dw.data, m: outF, n: inF, k: total, transposeA: true, accumulate: accumulate,
                 convertedA: rounded?.operand(m: outF, n: inF, k: total))
        }
        if bias.requiresGrad { addColumnSums(dgates.data, rows: total, cols: outF, into: gradBuffer(bias).data) }
    }

    /// The input side of a packed recurrent layer: gi = xPacked·W_ihᵀ + b_ih, so dW_ih and db_ih come
    /// from the packed rows and dx is scattered back to [B, T, I] (zero where a row did not run).
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
        packedWeightGradients(dgates: dgates, rounded: rounded, inputs: xPacked, weight: weight, bias: bias, rows: total)
    }
}
