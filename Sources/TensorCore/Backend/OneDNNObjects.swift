import CDNNL
import Foundation

// The oneDNN objects the encoders' convolution plans are built from (Vision), beside the matrix
// products' (MatmulPrimitive): one engine (`OneDNN.shared`), one error, one aligned buffer. Each
// final class owns its C handles and frees them in `deinit`.

/// A oneDNN call that failed: which call, and its status.
package struct OneDNNError: Error, CustomStringConvertible {
    package let call: String, status: dnnl_status_t
    package var description: String {
        "oneDNN \(call) failed with status \(status.rawValue); this is a bug in Captioner, please report it."
    }
}

@inline(__always)
package func oneDNNCheck(_ status: dnnl_status_t, _ what: @autoclosure () -> String) throws(OneDNNError) {
    if status != dnnl_success { throw OneDNNError(call: what(), status: status) }
}

package func memoryDescriptor(_ dims: [Int], _ tag: dnnl_format_tag_t, _ type: dnnl_data_type_t = dnnl_f32) throws -> dnnl_memory_desc_t {
    var md = dnnl_memory_desc_t()
    try oneDNNCheck(dnnl_memory_desc_init_by_tag(&md, Int32(dims.count), dnnlDims(dims), type, tag), "memory_desc_init_by_tag")
    return md
}

package func sameLayout(_ a: dnnl_memory_desc_t, _ b: dnnl_memory_desc_t) -> Bool {
    var a = a, b = b
    return dnnl_memory_desc_equal(&a, &b) != 0
}

package func byteSize(_ md: dnnl_memory_desc_t) -> Int {
    var md = md
    return dnnl_memory_desc_get_size(&md)
}

/// 64-byte aligned bytes (`AlignedMemory`), freed with their owner.
package final class AlignedBuffer {
    package let pointer: UnsafeMutableRawPointer
    package let bytes: Int

    package init(bytes: Int) {
        pointer = AlignedMemory.allocate(bytes: bytes)
        self.bytes = bytes
    }

    deinit { free(pointer) }
}

/// Owns oneDNN handles created while a plan is built, so a failed build leaks nothing.
package final class OneDNNHandles {
    package private(set) var primitives: [dnnl_primitive_t] = []
    package private(set) var memories: [dnnl_memory_t] = []

    package init() {}

    package func primitive(_ pd: dnnl_primitive_desc_t) throws -> dnnl_primitive_t {
        var primitive: dnnl_primitive_t?
        try oneDNNCheck(dnnl_primitive_create(&primitive, pd), "primitive_create")
        primitives.append(primitive!)
        return primitive!
    }

    package func memory(_ md: dnnl_memory_desc_t, _ pointer: UnsafeMutableRawPointer?) throws -> dnnl_memory_t {
        var md = md
        var memory: dnnl_memory_t?
        // DNNL_MEMORY_NONE (nil) when the pointer is swapped in at every call.
        try oneDNNCheck(dnnl_memory_create(&memory, &md, OneDNN.shared.engine, pointer), "memory_create")
        memories.append(memory!)
        return memory!
    }

    deinit {
        for p in primitives { dnnl_primitive_destroy(p) }
        for m in memories { dnnl_memory_destroy(m) }
    }
}

/// A primitive descriptor, destroyed when this goes away.
package final class PrimitiveDescriptor {
    package let pd: dnnl_primitive_desc_t

    package init(_ create: (inout dnnl_primitive_desc_t?) -> dnnl_status_t, _ what: String) throws {
        var pd: dnnl_primitive_desc_t?
        try oneDNNCheck(create(&pd), what)
        self.pd = pd!
    }

    package func md(_ what: dnnl_query_t) -> dnnl_memory_desc_t {
        dnnl_primitive_desc_query_md(pd, what, 0).pointee
    }

    deinit { dnnl_primitive_desc_destroy(pd) }
}

/// Primitive attributes that leave the scratchpad (a primitive's working memory) to the caller, who
/// passes it as `DNNL_ARG_SCRATCHPAD` at each run. Left to the library, oneDNN may share one
/// scratchpad among primitives (it does unless built with `DNNL_ENABLE_CONCURRENT_EXEC`), and two
/// run from different threads at once would overwrite each other's.
package final class PrimitiveAttributes {
    package let handle: dnnl_primitive_attr_t

    package init() throws {
        var attr: dnnl_primitive_attr_t?
        try oneDNNCheck(dnnl_primitive_attr_create(&attr), "primitive_attr_create")
        handle = attr!
        try oneDNNCheck(dnnl_primitive_attr_set_scratchpad_mode(handle, dnnl_scratchpad_mode_user), "set_scratchpad_mode")
    }

    deinit { dnnl_primitive_attr_destroy(handle) }
}

/// Reorders `bytes` laid out as `from` into `to`, once (used for weights at load time).
package func reorderNow(from: dnnl_memory_desc_t, _ source: UnsafeRawPointer, to: dnnl_memory_desc_t, _ target: UnsafeMutableRawPointer) throws {
    var src = from, dst = to
    let engine = OneDNN.shared.engine
    let attributes = try PrimitiveAttributes()
    let pd = try PrimitiveDescriptor({ dnnl_reorder_primitive_desc_create(&$0, &src, engine, &dst, engine, attributes.handle) }, "reorder_primitive_desc_create")
    let handles = OneDNNHandles()
    let primitive = try handles.primitive(pd.pd)
    let srcMemory = try handles.memory(src, UnsafeMutableRawPointer(mutating: source))
    let dstMemory = try handles.memory(dst, target)
    var stream: dnnl_stream_t?
    try oneDNNCheck(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags.rawValue), "stream_create")
    defer { dnnl_stream_destroy(stream) }
    var args = [dnnl_exec_arg_t(arg: DNNL_ARG_SRC, memory: srcMemory), dnnl_exec_arg_t(arg: DNNL_ARG_DST, memory: dstMemory)]
    let scratchpadLayout = pd.md(dnnl_query_scratchpad_md)
    let scratchpad = byteSize(scratchpadLayout) > 0 ? AlignedBuffer(bytes: byteSize(scratchpadLayout)) : nil
    if let scratchpad {
        args.append(dnnl_exec_arg_t(arg: DNNL_ARG_SCRATCHPAD, memory: try handles.memory(scratchpadLayout, scratchpad.pointer)))
    }
    try oneDNNCheck(dnnl_primitive_execute(primitive, stream, Int32(args.count), &args), "reorder execute")
    try oneDNNCheck(dnnl_stream_wait(stream), "stream_wait")
}
