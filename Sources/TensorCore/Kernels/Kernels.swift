/// Plain loops over raw float32 buffers: the non-GEMM work of every op, forward and backward.
/// Nothing here records on the tape; the ops and their backward rules call these.
enum Kernels {
    /// The cross-entropy gradient over softmax probabilities p [n, V] as the bfloat16 operand of the
    /// output layer's two gradient products, in the pass that forms it (`linearCrossEntropy`):
    ///   dz[r, j] = p[r, j]·scale − (j == t_r ? scale : 0),   rounded[r, j] = bfloat16(dz[r, j]),
    ///   columnSums[j] += Σ_r dz[r, j]   (the bias gradient, of the float values).
    /// The same float arithmetic as scaling p in place, then converting it (`BFloat16.convert`) and
    /// summing its columns (`addColumnSums`): the results are those bit for bit, in one read of p
    /// instead of four passes over it. The columns split across the cores, so each column still
    /// adds its rows in order.
    static func crossEntropyGradient(probabilities p: UnsafePointer<Float>, rows: Int, classes: Int,
                                     targets: UnsafePointer<Int32>, scale: Float,
                                     into rounded: UnsafeMutablePointer<UInt16>, columnSums: UnsafeMutablePointer<Float>?) {
        let lines = (classes + 31) / 32   // 64-byte lines of bfloat16 output
        Threads.parallelRanges(lines, minimumPerThread: max(1, 65_536 / max(rows * 32, 1))) { chunk in
            let (start, end) = (chunk.lowerBound * 32, min(classes, chunk.upperBound * 32))
            for r in 0..<rows {
                let src = p + r * classes, dst = rounded + r * classes
                let target = Int(targets[r])
                if let columnSums {
                    for j in start..<end {
                        let dz = src[j] * scale - (j == target ? scale : 0)
                        dst[j] = BFloat16.round(dz.bitPattern)
                        columnSums[j] += dz
                    }
                } else {
                    for j in start..<end { dst[j] = BFloat16.round((src[j] * scale - (j == target ? scale : 0)).bitPattern) }
                }
            }
        }
    }

    static func addInPlace(_ dst: Tensor, _ src: Tensor) {
        precondition(dst.count == src.count)
        let d = dst.data, s = src.data
        Threads.parallelRanges(dst.count, minimumPerThread: 1 << 16) { r in
            for i in r { d[i] += s[i] }
        }
    }

    static func map(_ x: Tensor, _ f: (Float) -> Float) -> Tensor {
        let out = Tensor(uninitialized: x.shape)
        let src = x.data, dst = out.data
        Threads.parallelRanges(x.count, minimumPerThread: 1 << 15) { r in
            for i in r { dst[i] = f(src[i]) }
        }
        return out
    }

    /// tanh (or the sigmoid) of every element, eight lanes at a time with the scalar functions'
    /// operations, so the values are those of `fastTanh` / `fastSigmoid` exactly.
    static func squash(_ x: Tensor, sigmoid: Bool) -> Tensor {
        let out = Tensor(uninitialized: x.shape)
        let src = x.data, dst = out.data
        Threads.parallelRanges(x.count, minimumPerThread: 1 << 15) { r in
            var i = r.lowerBound
            while i + 8 <= r.upperBound {
                let v = load8(src + i)
                store8(sigmoid ? fastSigmoid(v) : fastTanh(v), dst + i)
                i += 8
            }
            while i < r.upperBound {
                dst[i] = sigmoid ? fastSigmoid(src[i]) : fastTanh(src[i])
                i += 1
            }
        }
        return out
    }

    /// out[i] = a[i] + b[i] on raw buffers.
    static func add(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { out[i] = a[i] + b[i] }
    }

    /// out[i] = f(a[i], b[i]) for same-sized buffers.
    static func zip(_ a: Tensor, _ b: Tensor, shape: [Int]? = nil, _ f: (Float, Float) -> Float) -> Tensor {
        precondition(a.count == b.count)
        let out = Tensor(uninitialized: shape ?? a.shape)
        let pa = a.data, pb = b.data, po = out.data
        Threads.parallelRanges(a.count, minimumPerThread: 1 << 15) { r in
            for i in r { po[i] = f(pa[i], pb[i]) }
        }
        return out
    }

    /// Walks every element of `shape` with an odometer over all but the last dimension, giving the
    /// offsets of each of `strides` (one stride list per operand) at the start of each innermost row.
    @inline(__always)
    static func forEachRow(_ shape: [Int], _ strides: [[Int]], _ body: (_ row: Int, _ offsets: [Int]) -> Void) {
        let rank = shape.count
        let inner = shape[rank - 1]
        let rows = inner == 0 ? 0 : shape.reduce(1, *) / inner
        var index = [Int](repeating: 0, count: rank)
        var offsets = [Int](repeating: 0, count: strides.count)
        for row in 0..<rows {
            body(row, offsets)
            var d = rank - 2
            while d >= 0 {
                index[d] += 1
                for k in 0..<strides.count { offsets[k] += strides[k][d] }
                if index[d] < shape[d] { break }
                for k in 0..<strides.count { offsets[k] -= strides[k][d] * shape[d] }
                index[d] = 0
                d -= 1
            }
        }
    }

    /// NumPy-broadcasting binary op.
    static func broadcast(_ a: Tensor, _ b: Tensor, _ f: (Float, Float) -> Float) -> Tensor {
        if a.shape == b.shape { return zip(a, b, f) }
        let shape = Shape.broadcast(a.shape, b.shape)
        let out = Tensor(uninitialized: shape)
        let pa = a.data, pb = b.data, po = out.data
        if b.count == 1 {
            let s = pb[0]
            for i in 0..<out.count { po[i] = f(pa[i], s) }
            return out
        }
        if a.count == 1 {
            let s = pa[0]
            for i in 0..<out.count { po[i] = f(s, pb[i]) }
            return out
        }
        let sa = Shape.broadcastStrides(a.shape, to: shape), sb = Shape.broadcastStrides(b.shape, to: shape)
        let inner = shape[shape.count - 1]
        let ia = sa[shape.count - 1], ib = sb[shape.count - 1]
        forEachRow(shape, [sa, sb]) { row, off in
            let o = po + row * inner, xa = pa + off[0], xb = pb + off[1]
            for j in 0..<inner { o[j] = f(xa[j * ia], xb[j * ib]) }
        }
        return out
    }

    /// Sums `g` (of a broadcast shape) down to `shape`: the backward of broadcasting.
    static func reduce(_ g: Tensor, to shape: [Int]) -> Tensor {
        if g.shape == shape { return g }
        let out = Tensor(zeros: shape)
        let po = out.data, pg = g.data
        if out.count == 1 {
            var s: Float = 0
            for i in 0..<g.count { s += pg[i] }
            po[0] = s
            return out
        }
        let so = Shape.broadcastStrides(shape, to: g.shape)
        let inner = g.shape[g.shape.count - 1]
        let io = so[g.shape.count - 1]
        forEachRow(g.shape, [so]) { row, off in
            let x = pg + row * inner, y = po + off[0]
            if io == 0 {
                var s: Float = 0
                for j in 0..<inner { s += x[j] }
                y[0] += s
            } else {
                for j in 0..<inner { y[j * io] += x[j] }
            }
        }
        return out
    }

    /// Sum over one axis; the axis is removed from the shape given.
    static func sum(_ x: Tensor, axis: Int, outputShape: [Int]) -> Tensor {
        let out = Tensor(zeros: outputShape)
        let px = x.data, po = out.data
        forEachRow(of: x.shape, around: axis) { full, reduced, inner in
            for i in 0..<inner { po[reduced + i] += px[full + i] }
        }
        return out
    }

    /// Repeats `g` (the shape of `x` without `axis`) along `axis`, times `scale`: backward of sum/mean.
    static func expand(_ g: Tensor, alongAxis axis: Int, of shape: [Int], scale: Float) -> Tensor {
        let out = Tensor(uninitialized: shape)
        let pg = g.data, po = out.data
        forEachRow(of: shape, around: axis) { full, reduced, inner in
            for i in 0..<inner { po[full + i] = pg[reduced + i] * scale }
        }
        return out
    }

    /// Visits the rows of `shape` split around `axis` (outer × length × inner), in order: each row's
    /// offset in the full tensor and in the tensor without `axis`, and the row's length.
    private static func forEachRow(of shape: [Int], around axis: Int, _ body: (_ full: Int, _ reduced: Int, _ inner: Int) -> Void) {
        let (outer, length, inner) = Shape.around(shape, axis: axis)
        for o in 0..<outer {
            for l in 0..<length { body((o * length + l) * inner, o * inner, inner) }
        }
    }

    /// Softmax (or log-softmax) along `axis`, numerically stable.
    static func softmax(_ x: Tensor, axis: Int, log: Bool) -> Tensor {
        let (outer, length, inner) = Shape.around(x.shape, axis: axis)
        let out = Tensor(uninitialized: x.shape)
        let px = x.data, po = out.data
        let lines = outer * inner
        Threads.parallelRanges(lines, minimumPerThread: max(1, 32_768 / max(length, 1))) { r in
            for line in r {
                let o = line / inner, i = line % inner
                let base = o * length * inner + i
                var m = -Float.infinity, s: Float = 0
                if inner == 1 {
                    // Contiguous lines (softmax over the last axis): the vector loops.
                    m = maximum(px + base, count: length)
                    (po + base).update(from: px + base, count: length)
                    s = exponentiateShifted(po + base, count: length, shift: m)
                } else {
                    for l in 0..<length { m = max(m, px[base + l * inner]) }
                    for l in 0..<length {
                        let e = expf(px[base + l * inner] - m)
                        po[base + l * inner] = e
                        s += e
                    }
                }
                if log {
                    let lse = m + logf(s)
                    for l in 0..<length { po[base + l * inner] = px[base + l * inner] - lse }
                } else {
                    let inv = 1 / s
                    for l in 0..<length { po[base + l * inner] *= inv }
                }
            }
        }
        return out
    }

    /// Backward of softmax y along `axis`: dx = y ⊙ (dy − Σ dy⊙y); of log-softmax: dx = dy − softmax ⊙ Σ dy.
    static func softmaxBackward(_ y: Tensor, _ dy: Tensor, axis: Int, log: Bool) -> Tensor {
        let (outer, length, inner) = Shape.around(y.shape, axis: axis)
        let out = Tensor(uninitialized: y.shape)
        let py = y.data, pg = dy.data, po = out.data
        for o in 0..<outer {
            for i in 0..<inner {
                let base = o * length * inner + i
                var s: Float = 0
                if log {
                    for l in 0..<length { s += pg[base + l * inner] }
                    for l in 0..<length { let k = base + l * inner; po[k] = pg[k] - expf(py[k]) * s }
                } else {
                    for l in 0..<length { let k = base + l * inner; s += pg[k] * py[k] }
                    for l in 0..<length { let k = base + l * inner; po[k] = py[k] * (pg[k] - s) }
                }
            }
        }
        return out
    }

    /// Copies `source` into `destination` at offset `start` along `axis` (or the reverse when `gather`).
    static func copyBlock(_ source: Tensor, into destination: Tensor, axis: Int, start: Int, gather: Bool = false, add: Bool = false) {
        // `small` is the tensor whose extent along `axis` is the block; `large` holds it at `start`.
        let small = gather ? destination : source
        let large = gather ? source : destination
        let (outer, blockLength, inner) = Shape.around(small.shape, axis: axis)
        let largeLength = large.shape[axis]
        let block = blockLength * inner
        let ps = small.data, pl = large.data
        for o in 0..<outer {
            let s = ps + o * block
            let l = pl + (o * largeLength + start) * inner
            if gather {
                if add { for k in 0..<block { s[k] += l[k] } } else { s.update(from: l, count: block) }
            } else {
                if add { for k in 0..<block { l[k] += s[k] } } else { l.update(from: s, count: block) }
            }
        }
    }

    /// out = x with axes permuted: out.shape[i] = x.shape[perm[i]].
    static func permute(_ x: Tensor, _ perm: [Int]) -> Tensor {
        let shape = perm.map { x.shape[$0] }
        let out = Tensor(uninitialized: shape)
        if x.count == 0 { return out }
        var xStrides = [Int](repeating: 1, count: x.rank)
        for i in stride(from: x.rank - 2, through: 0, by: -1) { xStrides[i] = xStrides[i + 1] * x.shape[i + 1] }
        let strides = perm.map { xStrides[$0] }
        let inner = shape[shape.count - 1], step = strides[shape.count - 1]
        let px = x.data, po = out.data
        forEachRow(shape, [strides]) { row, off in
            let dst = po + row * inner, src = px + off[0]
            for j in 0..<inner { dst[j] = src[j * step] }
        }
        return out
    }

    /// Rows of `table` [N, D] picked by `ids` (each in 0..<N).
    static func gatherRows(_ table: Tensor, _ ids: IntTensor) -> Tensor {
        let width = table.shape[1]
        let out = Tensor(uninitialized: ids.shape + [width])
        let pt = table.data, po = out.data
        let rows = table.shape[0]
        for (r, id) in ids.values.enumerated() {
            precondition(id >= 0 && Int(id) < rows, "index \(id) is out of range for \(rows) rows")
            (po + r * width).update(from: pt + Int(id) * width, count: width)
        }
        return out
    }

    /// dTable[ids[r]] += g[r]: the scatter-add backward of `gatherRows`.
    static func scatterAddRows(_ g: Tensor, _ ids: IntTensor, into table: Tensor) {
        let width = table.shape[1]
        let pt = table.data, pg = g.data
        for (r, id) in ids.values.enumerated() {
            let dst = pt + Int(id) * width, src = pg + r * width
            for j in 0..<width { dst[j] += src[j] }
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
