import Foundation

/// Primitives created once per shape and reused for the life of the process.
enum MatmulCache {
    private static var primitives: [MatmulKey: MatmulPrimitive] = [:]
    private static let lock = NSLock()
    static var size: Int { lock.lock(); defer { lock.unlock() }; return primitives.count }
    /// The primitive kept for `key`, if one is.
    static func cached(_ key: MatmulKey) -> ObjectIdentifier? {
        lock.lock(); defer { lock.unlock() }
        return primitives[key].map(ObjectIdentifier.init)
    }

    /// Scratch for the bfloat16 copies of operands, reused under the lock.
    private static let scratchA = BFloat16Buffer(capacity: 1 << 16), scratchB = BFloat16Buffer(capacity: 1 << 16)

    /// C = A·Wᵀ + bias on the few-row loop with its per-tile row statistics, under the lock that
    /// guards the loop's state as it guards the primitives.
    static func multiplyFewRows(_ key: MatmulKey, a: UnsafePointer<Float>, weight: TensorStorage, bias: UnsafePointer<Float>?,
                                c: UnsafeMutablePointer<Float>, statistics: UnsafeMutablePointer<Float>) {
        lock.lock()
        defer { lock.unlock() }
        FewRows.multiply(key, a: a, weight: weight, bias: bias, c: c, statistics: statistics)
    }

    /// C[b] (+)= op(A[b]) · op(B[b]) (+ bias) for row-major float32 operands. A `bfloat16` key
    /// rounds A and B to bfloat16 first; a `blockedB` key takes B from `weight`'s cached blocked copy.
    /// `convertedA`, for a bfloat16 key only, is A already rounded (and `a` is not read): a K-major
    /// A (transposeA) then has zero rows after its k-th up to a multiple of 64, so a padded product
    /// (`paddedInnerDimension`) reads it as it is.
    static func multiply(_ key: MatmulKey, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
                         bias: UnsafePointer<Float>? = nil, c: UnsafeMutablePointer<Float>, weight: TensorStorage? = nil,
                         convertedA: UnsafePointer<UInt16>? = nil) {
        precondition(convertedA == nil || key.bfloat16, "multiply: a bfloat16 A for a float32 product")
        if key.m == 0 || key.n == 0 || key.batch == 0 { return }
        if key.k == 0 {
            // An empty inner dimension sums nothing: C = bias (or stays as it is when accumulating).
            if !key.accumulate {
                for r in 0..<(key.batch * key.m) {
                    for j in 0..<key.n { c[r * key.n + j] = bias?[j] ?? 0 }
                }
            }
            return
        }
        lock.lock()
        defer { lock.unlock() }
        if convertedA == nil, FewRows.takes(key), let weight {
            FewRows.multiply(key, a: a, weight: weight, bias: bias, c: c)
            return
        }
        guard key.bfloat16 else {
            primitive(for: key).run(a: a, b: b, bias: bias, c: c)
            return
        }
        let (countA, countB) = (key.batch * key.m * key.k, key.batch * key.k * key.n)
        if let padded = paddedInnerDimension(key), weight == nil {
            // Aᵀ·B with both operands stored K-major: zero rows appended to both add nothing.
            var paddedKey = key
            paddedKey.k = padded
            let paddedA = convertedA ?? {
                scratchA.reserve(padded * key.m)
                BFloat16.convert(a, count: countA, into: scratchA.pointer)
                (scratchA.pointer + countA).initialize(repeating: 0, count: (padded - key.k) * key.m)
                return UnsafePointer(scratchA.pointer)
            }()
            scratchB.reserve(padded * key.n)
            BFloat16.convert(b, count: countB, into: scratchB.pointer)
            (scratchB.pointer + countB).initialize(repeating: 0, count: (padded - key.k) * key.n)
            primitive(for: paddedKey).run(a: paddedA, b: scratchB.pointer, bias: bias, c: c)
            return
        }
        let roundedA = convertedA ?? {
            scratchA.reserve(countA)
            BFloat16.convert(a, count: countA, into: scratchA.pointer)
            return UnsafePointer(scratchA.pointer)
        }()
        let rowsPerCall = rowsPerCall(key)
        // B as the primitive reads it: the weight's cached blocked copy in that primitive's layout,
        // or a bfloat16 copy of a plain operand (made once for all row blocks).
        var plainB: UnsafeRawPointer?
        func operandB(_ primitive: MatmulPrimitive) -> UnsafeRawPointer {
            if let layout = primitive.blockedWeights, let weight {
                return BFloat16WeightCache.shared.blocked(weight, layout: layout)
            }
            if let plainB { return plainB }
            scratchB.reserve(countB)
            BFloat16.convert(b, count: countB, into: scratchB.pointer)
            plainB = UnsafeRawPointer(scratchB.pointer)
            return plainB!
        }
        var row = 0, previous: (primitive: MatmulPrimitive, b: UnsafeRawPointer)?
        while row < key.m {
            var rowsKey = key
            rowsKey.m = min(rowsPerCall, key.m - row)
            let call: (primitive: MatmulPrimitive, b: UnsafeRawPointer)
            if let previous, previous.primitive.key == rowsKey { call = previous } else {
                let primitive = primitive(for: rowsKey)
                call = (primitive, operandB(primitive))
            }
            call.primitive.run(a: roundedA + row * key.k, b: call.b, bias: bias, c: c + row * key.n)
            previous = call
            row += rowsPerCall
        }
    }

    /// A weight gradient's inner dimension (the batch's tokens) rounded up to a multiple of 64, for
    /// a bfloat16 Aᵀ·B whose operands are both stored K-major: oneDNN's AMX kernels take K in
    /// 32-value pairs of tiles and run a ragged K slower. Nil when K is already a multiple, or too
    /// short for the padding to pay.
    static func paddedInnerDimension(_ key: MatmulKey) -> Int? {
        guard key.batch == 1, key.transposeA, !key.transposeB, key.k >= 256, key.k % 64 != 0,
              key.m * key.n >= 65_536 else { return nil }
        return (key.k + 63) / 64 * 64
    }

    /// How many rows of A each bfloat16 primitive call takes (the last call takes the rest).
    /// - 16-row blocks (`rowBlock`) when each thread's share of B stays in its L2 cache from one
    ///   block to the next, N is not thin (a score vector is much slower in blocks) and the rows
    ///   are not a plain multiple of 16 up to 64 (such products run well whole).
    /// - Otherwise, a multiple of 16 rows and then the rest, which sidesteps the pathological row
    ///   counts for a B too large for L2.
    /// - A transposed A (a weight gradient, rows strided in memory) runs whole: strided blocks are
    ///   slower. Batched products run whole.
    static func rowsPerCall(_ key: MatmulKey, threads: Int = Threads.count) -> Int {
        if key.batch != 1 || key.transposeA || key.m <= rowBlock { return key.m }
        let shareFitsL2 = key.k * key.n <= 800_000 * threads          // bfloat16 B ≤ 1.6 MB per thread
        if shareFitsL2 && key.n >= 64 && (key.m > 4 * rowBlock || key.m % rowBlock != 0) { return rowBlock }
        return key.m % rowBlock == 0 ? key.m : key.m - key.m % rowBlock
    }

    /// The row-block height for bfloat16 products. oneDNN 2.6's AMX matmul runs a product of at
    /// most 16 rows in about the time of one tile pass over B, but above 16 rows it changes
    /// strategy and slows down, with pathological row counts far slower still (issue 8). Each
    /// thread's share of a blocked weight stays in its L2 cache across the blocks.
    static let rowBlock = 16

    /// At most this many primitives are kept; beyond it the least recently used half goes. Float32
    /// training makes new shapes every batch — a weight gradient's inner dimension is the batch's
    /// token count — and a run primitive holds on to more than a megabyte, so an unbounded cache
    /// grows without end; a smaller bound rebuilds shapes still in use. A dropped shape that comes
    /// back is rebuilt from oneDNN's own primitive cache.
    static let capacity = 192
    private static var uses: UInt64 = 0

    private static func primitive(for key: MatmulKey) -> MatmulPrimitive {
        uses &+= 1
        if let cached = primitives[key] {
            cached.lastUse = uses
            return cached
        }
        if primitives.count >= capacity {
            let cutoff = primitives.values.map(\.lastUse).sorted()[primitives.count / 2]
            primitives = primitives.filter { $0.value.lastUse >= cutoff }
        }
        let made = OneDNN.shared.creationLock.withLock { MatmulPrimitive(key) }
        made.lastUse = uses
        primitives[key] = made
        return made
    }
}
