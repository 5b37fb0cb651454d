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
/// Identity when not training or p = 0. `firstRow`: the rows of `x` are rows firstRow… of a larger
/// batch, and get that batch's masks for them (see `RandomGenerator.fillMask`).
public func dropout(_ x: Tensor, p: Float, training: Bool, rng: inout RandomGenerator, firstRow: Int = 0) -> Tensor {
    guard training, p > 0 else { return x }
    precondition(p < 1, "dropout probability must be below 1")
    let mask = Tensor(uninitialized: x.shape)
    let keep = 1 / (1 - p)
    let rowSize = x.rank == 0 || x.shape[0] == 0 ? 0 : x.count / x.shape[0]
    rng.fillMask(mask.data, count: x.count, dropBelow: p, keep: keep, skip: firstRow * rowSize)
    let out = Kernels.zip(x, mask, *)
    record(.dropout(x, mask: mask), inputs: [x], outputs: [out])
    return out
}
