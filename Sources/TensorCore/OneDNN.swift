import CDNNL
import CKernels
import Foundation

/// oneDNN's CPU engine and stream, created once per process.
final class OneDNN {
    static let shared = OneDNN()
    let engine: dnnl_engine_t
    let stream: dnnl_stream_t

    private init() {
        _ = Threads.count   // the OpenMP pool size must be set before oneDNN starts it
        var engine: dnnl_engine_t?
        check(dnnl_engine_create(&engine, dnnl_cpu, 0), "engine_create")
        var stream: dnnl_stream_t?
        check(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags.rawValue), "stream_create")
        self.engine = engine!
        self.stream = stream!
    }

    deinit {
        dnnl_stream_destroy(stream)
        dnnl_engine_destroy(engine)
    }
}

@inline(__always)
func check(_ status: dnnl_status_t, _ what: String) {
    if status != dnnl_success { fatalError("oneDNN \(what) failed with status \(status.rawValue)") }
}

/// oneDNN dims arrays are fixed at 12 entries (DNNL_MAX_NDIMS).
private func dnnlDims(_ values: [Int]) -> [Int64] {
    values.map(Int64.init) + Array(repeating: 0, count: 12 - values.count)
}

private func plainDescriptor(dims: [Int], strides: [Int], type: dnnl_data_type_t = dnnl_f32) -> dnnl_memory_desc_t {
    var md = dnnl_memory_desc_t()
    check(dnnl_memory_desc_init_by_strides(&md, Int32(dims.count), dnnlDims(dims), type, dnnlDims(strides)),
          "memory_desc_init_by_strides")
    return md
}

/// What makes two matrix products the same primitive: C[b] (+)= op(A[b]) · op(B[b]) (+ bias).
struct MatmulKey: Hashable {
    var batch: Int, m: Int, n: Int, k: Int
    var transposeA: Bool, transposeB: Bool
    var bias: Bool
    /// C += A·B through a sum post-op, so gradients accumulate without a temporary.
    var accumulate: Bool
    /// A and B are bfloat16 (C, bias and the sums stay float32): `MatmulPrecision.bfloat16`.
    var bfloat16 = false
    /// B is a weight, given in the layout oneDNN prefers for this product (AMX tiles want B
    /// re-blocked; a plain B would be re-blocked on every call). See `BlockedWeights`.
    var blockedB = false
}

/// One oneDNN matmul primitive and the memory objects it executes on; the data pointers are
/// swapped in for every call. Owns its C handles and frees them in `deinit`.
final class MatmulPrimitive {
    let key: MatmulKey
    private let primitive: dnnl_primitive_t
    private let src: dnnl_memory_t, weights: dnnl_memory_t, dst: dnnl_memory_t
    private let biasMemory: dnnl_memory_t?
    /// The primitive's working memory, if it needs any: a view of `sharedScratchpad`, bound at each run.
    private let scratchpadMemory: dnnl_memory_t?
    private let scratchpadBytes: Int
    /// Every primitive's scratchpad, grown to the largest one asked for (counted in 2-byte units);
    /// used under `MatmulCache`'s lock.
    private static let sharedScratchpad = BFloat16Buffer(capacity: 1 << 16)
    /// When `MatmulCache` last handed this primitive out (its count of lookups).
    var lastUse: UInt64 = 0
    /// For a `blockedB` key: B's layout and the reorder that makes it from a float32 weight.
    let blockedWeights: BlockedWeights?

    init(_ key: MatmulKey) {
        self.key = key
        let engine = OneDNN.shared.engine
        let (b, m, n, k) = (key.batch, key.m, key.n, key.k)
        let batched = b > 1
        func describe(rows: Int, cols: Int, transposed: Bool, type: dnnl_data_type_t = dnnl_f32) -> dnnl_memory_desc_t {
            // Logical [rows, cols]; a transposed operand is stored [cols, rows].
            let inner = transposed ? [1, rows] : [cols, 1]
            return batched ? plainDescriptor(dims: [b, rows, cols], strides: [rows * cols] + inner, type: type)
                           : plainDescriptor(dims: [rows, cols], strides: inner, type: type)
        }
        let operandType = key.bfloat16 ? dnnl_bf16 : dnnl_f32
        var srcMD = describe(rows: m, cols: k, transposed: key.transposeA, type: operandType)
        var weightsMD = describe(rows: k, cols: n, transposed: key.transposeB, type: operandType)
        if key.blockedB {
            precondition(!batched, "blocked weights are for 2-D products")
            check(dnnl_memory_desc_init_by_tag(&weightsMD, 2, dnnlDims([k, n]), operandType, dnnl_format_tag_any), "memory_desc_init_by_tag")
        }
        var dstMD = describe(rows: m, cols: n, transposed: false)
        var biasMD = batched ? plainDescriptor(dims: [1, 1, n], strides: [n, n, 1])
                             : plainDescriptor(dims: [1, n], strides: [n, 1])

        var desc = dnnl_matmul_desc_t()
        let status = key.bias ? dnnl_matmul_desc_init(&desc, &srcMD, &weightsMD, &biasMD, &dstMD)
                              : dnnl_matmul_desc_init(&desc, &srcMD, &weightsMD, nil, &dstMD)
        check(status, "matmul_desc_init")

        var attr: dnnl_primitive_attr_t?
        check(dnnl_primitive_attr_create(&attr), "primitive_attr_create")
        defer { dnnl_primitive_attr_destroy(attr) }
        // Left to the library, every primitive owns its scratchpad (oneDNN's copies of operand
        // blocks) for as long as it lives: a C probe of float32 weight gradients (1536×993·993×1536)
        // held 1.2 MB per run primitive so, 0.1 MB with one shared buffer. Every run holds
        // `MatmulCache`'s lock, so one buffer serves them all.
        check(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user), "set_scratchpad_mode")
        if key.accumulate {
            var postOps: dnnl_post_ops_t?
            check(dnnl_post_ops_create(&postOps), "post_ops_create")
            check(dnnl_post_ops_append_sum(postOps, 1.0), "post_ops_append_sum")
            check(dnnl_primitive_attr_set_post_ops(attr, postOps), "set_post_ops")
            dnnl_post_ops_destroy(postOps)
        }

        var pd: dnnl_primitive_desc_t?
        check(dnnl_primitive_desc_create(&pd, &desc, attr, engine, nil), "matmul primitive_desc_create \(key)")
        defer { dnnl_primitive_desc_destroy(pd) }
        var prim: dnnl_primitive_t?
        check(dnnl_primitive_create(&prim, pd), "matmul primitive_create")
        primitive = prim!
        if key.blockedB {
            weightsMD = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0)!.pointee
            // From the weight as stored, once rounded to bfloat16 (see `BlockedWeights.write`).
            let plainWeightsMD = describe(rows: k, cols: n, transposed: key.transposeB, type: dnnl_bf16)
            blockedWeights = BlockedWeights(from: plainWeightsMD, to: weightsMD, engine: engine,
                                            pairs: (k: k, n: n, transposed: key.transposeB))
        } else {
            blockedWeights = nil
        }

        func memory(_ md: inout dnnl_memory_desc_t) -> dnnl_memory_t {
            var mem: dnnl_memory_t?
            check(dnnl_memory_create(&mem, &md, engine, nil), "memory_create")
            return mem!
        }
        src = memory(&srcMD)
        weights = memory(&weightsMD)
        dst = memory(&dstMD)
        biasMemory = key.bias ? memory(&biasMD) : nil
        var scratchpadMD = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0)!.pointee
        scratchpadBytes = dnnl_memory_desc_get_size(&scratchpadMD)
        scratchpadMemory = scratchpadBytes > 0 ? memory(&scratchpadMD) : nil
    }

    deinit {
        dnnl_primitive_destroy(primitive)
        dnnl_memory_destroy(src)
        dnnl_memory_destroy(weights)
        dnnl_memory_destroy(dst)
        if let biasMemory { dnnl_memory_destroy(biasMemory) }
        if let scratchpadMemory { dnnl_memory_destroy(scratchpadMemory) }
    }

    /// a and b point to float32, or to bfloat16 for a `bfloat16` key.
    func run(a: UnsafeRawPointer, b: UnsafeRawPointer, bias: UnsafePointer<Float>?, c: UnsafeMutablePointer<Float>) {
        check(dnnl_memory_set_data_handle(src, UnsafeMutableRawPointer(mutating: a)), "set_data_handle")
        check(dnnl_memory_set_data_handle(weights, UnsafeMutableRawPointer(mutating: b)), "set_data_handle")
        check(dnnl_memory_set_data_handle(dst, c), "set_data_handle")
        var args = [
            dnnl_exec_arg_t(arg: DNNL_ARG_SRC, memory: src),
            dnnl_exec_arg_t(arg: DNNL_ARG_WEIGHTS, memory: weights),
            dnnl_exec_arg_t(arg: DNNL_ARG_DST, memory: dst),
        ]
        if let biasMemory, let bias {
            check(dnnl_memory_set_data_handle(biasMemory, UnsafeMutableRawPointer(mutating: bias)), "set_data_handle")
            args.append(dnnl_exec_arg_t(arg: DNNL_ARG_BIAS, memory: biasMemory))
        }
        if let scratchpadMemory {
            Self.sharedScratchpad.reserve((scratchpadBytes + 1) / 2)
            check(dnnl_memory_set_data_handle(scratchpadMemory, Self.sharedScratchpad.pointer), "set_data_handle")
            args.append(dnnl_exec_arg_t(arg: DNNL_ARG_SCRATCHPAD, memory: scratchpadMemory))
        }
        check(dnnl_primitive_execute(primitive, OneDNN.shared.stream, Int32(args.count), &args), "matmul execute")
        check(dnnl_stream_wait(OneDNN.shared.stream), "stream_wait")
    }
}

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

    /// A weight gradient's inner dimension (the batch's tokens, 903 in the Flickr8k-shaped batch)
    /// rounded up to a multiple of 64, for a bfloat16 Aᵀ·B whose operands are both stored K-major:
    /// oneDNN's AMX kernels take K in 32-value pairs of tiles, and a ragged K ran 12–23% slower
    /// (1536×903·903×1536: 11.7 ms, against 10.0 ms at K = 960). Nil when K is already a multiple,
    /// or too short for the padding to pay.
    static func paddedInnerDimension(_ key: MatmulKey) -> Int? {
        guard key.batch == 1, key.transposeA, !key.transposeB, key.k >= 256, key.k % 64 != 0,
              key.m * key.n >= 65_536 else { return nil }
        return (key.k + 63) / 64 * 64
    }

    /// How many rows of A each bfloat16 primitive call takes (the last call takes the rest).
    /// - 16-row blocks (`rowBlock`) when each thread's share of B stays in its L2 cache from one
    ///   block to the next, N is not thin (a score vector's 3136×256·256×1 ran 20× slower in
    ///   blocks) and the rows are not a plain multiple of 16 up to 64 (64-row products run well
    ///   whole, and greedy decoding's lost 15% in blocks).
    /// - Otherwise, a multiple of 16 rows and then the rest, which sidesteps the pathological row
    ///   counts for a B too large for L2 (the soft-attention cell's 61×1536·1536×1536: 6.7 ms whole).
    /// - A transposed A (a weight gradient, rows strided in memory) runs whole: strided blocks
    ///   ran 1.3–1.8× slower. Batched products run whole.
    static func rowsPerCall(_ key: MatmulKey, threads: Int = Threads.count) -> Int {
        if key.batch != 1 || key.transposeA || key.m <= rowBlock { return key.m }
        let shareFitsL2 = key.k * key.n <= 800_000 * threads          // bfloat16 B ≤ 1.6 MB per thread
        if shareFitsL2 && key.n >= 64 && (key.m > 4 * rowBlock || key.m % rowBlock != 0) { return rowBlock }
        return key.m % rowBlock == 0 ? key.m : key.m - key.m % rowBlock
    }

    /// The row-block height for bfloat16 products. oneDNN 2.6's AMX matmul runs a product of at
    /// most 16 rows in about the time of one tile pass over B (16×512·512×2048: 17–27 µs here),
    /// but above 16 rows it changes strategy and slows by 3–6× (32 rows: 61–125 µs), with
    /// pathological row counts (53, 59, 61, 106, 118, …: 1–4 ms, 20–100× slower). Each thread's
    /// share of a blocked weight stays in its L2 cache across the blocks, so 16-row blocks run the
    /// recurrent products 1.5–10× and the 903×512·512×3000 output layer 3× faster (probe figures in
    /// the session notes of issue 8).
    static let rowBlock = 16

    /// At most this many primitives are kept; beyond it the least recently used half goes. Float32
    /// training makes new shapes every batch — a weight gradient's inner dimension is the batch's
    /// token count — and a run primitive holds on to more than a megabyte: unbounded, float32
    /// soft-attention training on 1,000 Shapes images made 1,105 primitives in 2 epochs and peaked
    /// at 2.5 GB (4.3 GB after 6 epochs); with 192 it peaks at 1.1 GB at the same speed (128 ran
    /// 4% slower). A dropped shape that comes back is rebuilt from oneDNN's own primitive cache.
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
        let made = MatmulPrimitive(key)
        made.lastUse = uses
        primitives[key] = made
        return made
    }
}


/// Numbers distinct weight layouts (descriptor bytes) in the order they are first seen.
final class LayoutNumbers: @unchecked Sendable {
    static let shared = LayoutNumbers()
    private let lock = NSLock()
    private var numbers: [[UInt8]: Int] = [:]

    func number(for bytes: [UInt8]) -> Int {
        lock.lock()
        defer { lock.unlock() }
        if let n = numbers[bytes] { return n }
        numbers[bytes] = numbers.count
        return numbers.count - 1
    }
}

/// A layout a weight's bfloat16 copy is kept in (see `BFloat16WeightCache`).
protocol WeightLayout: AnyObject {
    /// Equal for layouts that hold the same values in the same places, so they share cached weights:
    /// the same target layout of the same view of the stored weight.
    var identity: Int { get }
    var bytes: Int { get }
    /// Writes the float32 row-major weight into `target` (`bytes` long) in this layout.
    func write(_ weight: UnsafePointer<Float>, into target: UnsafeMutableRawPointer)
}

/// A weight layout a matmul primitive chose (`dnnl_format_tag_any`) and the oneDNN reorder that
/// writes a float32 row-major weight into it as bfloat16, blocked for the AMX tiles — or, when the
/// layout is BA16a64b2a (as for every weight here), our own loop that writes it (PairBlocks.c).
final class BlockedWeights: WeightLayout {
    /// Equal for equal pairs of descriptors (the plain view read and the blocked layout written), so
    /// they share cached weights. Both count: a square weight's W (dx = dy·W) and Wᵀ (y = x·Wᵀ) have
    /// equal blocked descriptors but read the storage transposed. A small integer rather than the
    /// bytes: the weight cache is looked up on every bfloat16 product.
    let identity: Int
    let bytes: Int
    private let reorder: dnnl_primitive_t
    private let source: dnnl_memory_t, destination: dnnl_memory_t
    private let rounded = BFloat16Buffer(capacity: 1)
    /// Values in the plain weight.
    private let plainCount: Int
    /// The product's K×N and whether the weight is stored [N][K], when the layout is BA16a64b2a
    /// and `captioner_pair_blocks` writes it instead of the reorder.
    let pairs: (k: Int, n: Int, transposed: Bool)?

    /// `pairs`: the weight's logical dims and storage, offered for writing the layout with
    /// `captioner_pair_blocks`; taken only when `blocked` is that function's BA16a64b2a layout
    /// (`ownWriter: false` keeps oneDNN's reorder, for tests).
    init(from plain: dnnl_memory_desc_t, to blocked: dnnl_memory_desc_t, engine: dnnl_engine_t,
         pairs: (k: Int, n: Int, transposed: Bool)? = nil, ownWriter: Bool = true) {
        var (plain, blocked) = (plain, blocked)
        identity = LayoutNumbers.shared.number(for: withUnsafeBytes(of: &plain) { Array($0) } + withUnsafeBytes(of: &blocked) { Array($0) })
        bytes = dnnl_memory_desc_get_size(&blocked)
        plainCount = dnnl_memory_desc_get_size(&plain) / 2
        self.pairs = pairs.flatMap { pairs in
            var expected = dnnl_memory_desc_t()
            guard ownWriter,
                  dnnl_memory_desc_init_by_tag(&expected, 2, dnnlDims([pairs.k, pairs.n]), dnnl_bf16, dnnl_BA16a64b2a) == dnnl_success,
                  dnnl_memory_desc_equal(&expected, &blocked) != 0,
                  dnnl_memory_desc_get_size(&expected) == (pairs.n + 63) / 64 * ((pairs.k + 31) / 32 * 32) * 64 * 2
            else { return nil }
            return pairs
        }
        var pd: dnnl_primitive_desc_t?
        check(dnnl_reorder_primitive_desc_create(&pd, &plain, engine, &blocked, engine, nil), "reorder primitive_desc_create")
        defer { dnnl_primitive_desc_destroy(pd) }
        var prim: dnnl_primitive_t?
        check(dnnl_primitive_create(&prim, pd), "reorder primitive_create")
        reorder = prim!
        var src: dnnl_memory_t?, dst: dnnl_memory_t?
        check(dnnl_memory_create(&src, &plain, engine, nil), "memory_create")
        check(dnnl_memory_create(&dst, &blocked, engine, nil), "memory_create")
        source = src!
        destination = dst!
    }

    /// BA16a64b2a for a weight of K×N stored plain (`transposed`: [N][K]), the layout the matmul
    /// primitives choose; `ownWriter: false` writes it with oneDNN's reorder (the tests' reference).
    static func pairBlocked(k: Int, n: Int, transposed: Bool, ownWriter: Bool = true) -> BlockedWeights {
        let plain = plainDescriptor(dims: [k, n], strides: transposed ? [1, k] : [n, 1], type: dnnl_bf16)
        var blocked = dnnl_memory_desc_t()
        check(dnnl_memory_desc_init_by_tag(&blocked, 2, dnnlDims([k, n]), dnnl_bf16, dnnl_BA16a64b2a), "memory_desc_init_by_tag")
        return BlockedWeights(from: plain, to: blocked, engine: OneDNN.shared.engine, pairs: (k, n, transposed), ownWriter: ownWriter)
    }

    deinit {
        dnnl_primitive_destroy(reorder)
        dnnl_memory_destroy(source)
        dnnl_memory_destroy(destination)
    }

    /// Writes `weight` (float32, plain) into `target` (`bytes` long) in this layout: by
    /// `captioner_pair_blocks` in one pass for BA16a64b2a; else rounded to bfloat16 by our vector
    /// loop first, then moved into place by oneDNN's reorder. Its own float32 → bfloat16 reorder
    /// ran at about 1 G values/s (2.2 ms for the 3000×512 output layer, every optimizer step,
    /// twice: once per layout the forward and backward products use).
    func write(_ weight: UnsafePointer<Float>, into target: UnsafeMutableRawPointer) {
        if let pairs {
            // Rounded straight into the layout, column blocks of 64 × K values shared by the cores
            // (both from about 128 K values on).
            let blocked = target.assumingMemoryBound(to: UInt16.self)
            let blocks = (pairs.n + 63) / 64
            Threads.parallelRanges(blocks, minimumPerThread: max(1, 131_072 / max(64 * pairs.k, 1))) { range in
                captioner_pair_blocks(weight, Int32(pairs.k), Int32(pairs.n), pairs.transposed ? 1 : 0, blocked,
                                      Int32(range.lowerBound), Int32(range.upperBound))
            }
            return
        }
        rounded.reserve(plainCount)
        BFloat16.convert(weight, count: plainCount, into: rounded.pointer)
        check(dnnl_memory_set_data_handle(source, rounded.pointer), "set_data_handle")
        check(dnnl_memory_set_data_handle(destination, target), "set_data_handle")
        var args = [dnnl_exec_arg_t(arg: DNNL_ARG_FROM, memory: source), dnnl_exec_arg_t(arg: DNNL_ARG_TO, memory: destination)]
        check(dnnl_primitive_execute(reorder, OneDNN.shared.stream, 2, &args), "reorder execute")
        check(dnnl_stream_wait(OneDNN.shared.stream), "stream_wait")
    }
}
