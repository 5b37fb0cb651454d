import CDNNL
import Foundation

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
    /// The OpenMP team the primitive is made for: oneDNN fixes its work split at creation, so a
    /// team that follows the load (`Threads.followLoad`) needs a primitive per size.
    var threads = 1
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
        // blocks) for as long as it lives. Every run holds `MatmulCache`'s lock, so one shared
        // buffer serves them all.
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
