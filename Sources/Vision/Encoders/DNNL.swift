import CDNNL
import Foundation
import TensorCore

/// A oneDNN call that failed: which call, and its status.
public struct EncoderError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

@inline(__always)
func dnnlCheck(_ status: dnnl_status_t, _ what: @autoclosure () -> String) throws {
    if status != dnnl_success {
        throw EncoderError("oneDNN \(what()) failed with status \(status.rawValue); this is a bug in Captioner's encoder, please report it.")
    }
}

/// The CPU engine the encoders run on. Kept apart from TensorCore's so the two never share a stream.
final class DNNLEngine: @unchecked Sendable {
    static let shared = DNNLEngine()
    let engine: dnnl_engine_t

    private init() {
        _ = Threads.count   // sizes the OpenMP pool before oneDNN starts it
        var engine: dnnl_engine_t?
        if dnnl_engine_create(&engine, dnnl_cpu, 0) != dnnl_success || engine == nil {
            fatalError("Captioner: oneDNN could not create a CPU engine; check that libdnnl is installed (scripts/bootstrap).")
        }
        self.engine = engine!
    }
}

/// oneDNN dims arrays are fixed at 12 entries (DNNL_MAX_NDIMS).
func dnnlDims(_ values: [Int]) -> [Int64] {
    values.map(Int64.init) + Array(repeating: 0, count: 12 - values.count)
}

func memoryDescriptor(_ dims: [Int], _ tag: dnnl_format_tag_t) throws -> dnnl_memory_desc_t {
    var md = dnnl_memory_desc_t()
    try dnnlCheck(dnnl_memory_desc_init_by_tag(&md, Int32(dims.count), dnnlDims(dims), dnnl_f32, tag), "memory_desc_init_by_tag")
    return md
}

func sameLayout(_ a: dnnl_memory_desc_t, _ b: dnnl_memory_desc_t) -> Bool {
    var a = a, b = b
    return dnnl_memory_desc_equal(&a, &b) != 0
}

func byteSize(_ md: dnnl_memory_desc_t) -> Int {
    var md = md
    return dnnl_memory_desc_get_size(&md)
}

/// 64-byte aligned bytes, freed with their owner.
final class AlignedBuffer {
    let pointer: UnsafeMutableRawPointer
    let bytes: Int

    init(bytes: Int) {
        var raw: UnsafeMutableRawPointer?
        guard posix_memalign(&raw, 64, max(bytes, 64)) == 0, let raw else {
            fatalError("Captioner: out of memory allocating \(bytes) bytes for encoder activations")
        }
        pointer = raw
        self.bytes = bytes
    }

    deinit { free(pointer) }
}

/// Owns oneDNN handles created while a plan is built, so a failed build leaks nothing.
final class DNNLHandles {
    private(set) var primitives: [dnnl_primitive_t] = []
    private(set) var memories: [dnnl_memory_t] = []

    func primitive(_ pd: dnnl_primitive_desc_t) throws -> dnnl_primitive_t {
        var primitive: dnnl_primitive_t?
        try dnnlCheck(dnnl_primitive_create(&primitive, pd), "primitive_create")
        primitives.append(primitive!)
        return primitive!
    }

    func memory(_ md: dnnl_memory_desc_t, _ pointer: UnsafeMutableRawPointer?) throws -> dnnl_memory_t {
        var md = md
        var memory: dnnl_memory_t?
        // DNNL_MEMORY_NONE (nil) when the pointer is swapped in at every call.
        try dnnlCheck(dnnl_memory_create(&memory, &md, DNNLEngine.shared.engine, pointer), "memory_create")
        memories.append(memory!)
        return memory!
    }

    deinit {
        for p in primitives { dnnl_primitive_destroy(p) }
        for m in memories { dnnl_memory_destroy(m) }
    }
}

/// A primitive descriptor, destroyed when this goes away.
final class PrimitiveDescriptor {
    let pd: dnnl_primitive_desc_t

    init(_ create: (inout dnnl_primitive_desc_t?) -> dnnl_status_t, _ what: String) throws {
        var pd: dnnl_primitive_desc_t?
        try dnnlCheck(create(&pd), what)
        self.pd = pd!
    }

    func md(_ what: dnnl_query_t) -> dnnl_memory_desc_t {
        dnnl_primitive_desc_query_md(pd, what, 0).pointee
    }

    deinit { dnnl_primitive_desc_destroy(pd) }
}

/// Reorders `bytes` laid out as `from` into `to`, once (used for weights at load time).
func reorderNow(from: dnnl_memory_desc_t, _ source: UnsafeRawPointer, to: dnnl_memory_desc_t, _ target: UnsafeMutableRawPointer) throws {
    var src = from, dst = to
    let engine = DNNLEngine.shared.engine
    let pd = try PrimitiveDescriptor({ dnnl_reorder_primitive_desc_create(&$0, &src, engine, &dst, engine, nil) }, "reorder_primitive_desc_create")
    let handles = DNNLHandles()
    let primitive = try handles.primitive(pd.pd)
    let srcMemory = try handles.memory(src, UnsafeMutableRawPointer(mutating: source))
    let dstMemory = try handles.memory(dst, target)
    var stream: dnnl_stream_t?
    try dnnlCheck(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags.rawValue), "stream_create")
    defer { dnnl_stream_destroy(stream) }
    var args = [dnnl_exec_arg_t(arg: DNNL_ARG_SRC, memory: srcMemory), dnnl_exec_arg_t(arg: DNNL_ARG_DST, memory: dstMemory)]
    try dnnlCheck(dnnl_primitive_execute(primitive, stream, Int32(args.count), &args), "reorder execute")
    try dnnlCheck(dnnl_stream_wait(stream), "stream_wait")
}
