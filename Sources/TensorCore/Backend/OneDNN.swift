import CDNNL
import CKernels
import Foundation

/// oneDNN's CPU engine and stream, created once per process.
package final class OneDNN {
    package static let shared = OneDNN()
    package let engine: dnnl_engine_t
    let stream: dnnl_stream_t
    /// Held while primitives are created: oneDNN 2.6 built two encoders' convolution plans at once
    /// into a float32 plan that computed garbage (`VisionTests`,
    /// `encodersRunningAtOnceDoNotInterfere`; the cause inside oneDNN is not known), so creation is
    /// serialised process-wide. Running primitives at once is safe, and each plan brings its own
    /// scratchpad.
    package let creationLock = NSLock()

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

/// A oneDNN call of the matrix products, which cannot fail on a supported shape: a failure is a bug.
@inline(__always)
func check(_ status: dnnl_status_t, _ what: String) {
    do { try oneDNNCheck(status, what) } catch { fatalError(error.description) }
}

/// oneDNN dims arrays are fixed at 12 entries (DNNL_MAX_NDIMS).
package func dnnlDims(_ values: [Int]) -> [Int64] {
    values.map(Int64.init) + Array(repeating: 0, count: 12 - values.count)
}

func plainDescriptor(dims: [Int], strides: [Int], type: dnnl_data_type_t = dnnl_f32) -> dnnl_memory_desc_t {
    var md = dnnl_memory_desc_t()
    check(dnnl_memory_desc_init_by_strides(&md, Int32(dims.count), dnnlDims(dims), type, dnnlDims(strides)),
          "memory_desc_init_by_strides")
    return md
}
