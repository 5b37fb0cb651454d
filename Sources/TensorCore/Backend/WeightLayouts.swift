import CDNNL
import CKernels
import Foundation

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
    /// loop first, then moved into place by oneDNN's reorder, whose own float32 → bfloat16
    /// conversion is slow for a copy made after every optimizer step, once per layout.
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
