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
