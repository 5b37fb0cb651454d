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
