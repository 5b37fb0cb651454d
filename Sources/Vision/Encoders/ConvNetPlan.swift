import CDNNL
import Foundation
import TensorCore

/// A feature map inside a plan: its logical NCHW size, oneDNN's (usually blocked) layout for it, and
/// where it lives.
struct FeatureMap {
    enum Place: Equatable { case input, slot(Int) }
    let channels: Int, height: Int, width: Int
    let layout: dnnl_memory_desc_t
    let place: Place
}

/// Builds the primitives of one network for one input shape, in execution order. Activations live
/// in a few reusable slots (a slot is free again once the model releases the map in it); slot
/// buffers are allocated once, at `finish()`, at the largest size each slot ever holds. The
/// primitives share one scratchpad of the plan's own, since a plan runs one primitive at a time
/// but two plans may run at once.
final class ConvNetPlanBuilder {
    let batch: Int
    /// What activations and weights are stored as between layers: float32, or bfloat16 under
    /// `--precision bf16`, where each convolution multiplies bfloat16 and sums in float32 (as
    /// `torch.autocast` runs a convolution). The input and the output stay float32.
    let storage: dnnl_data_type_t
    private let handles = OneDNNHandles()
    private var slotBytes: [Int] = []
    private var scratchpadBytes = 0
    private var slotBusy: [Bool] = []
    private var keepAlive: [AnyObject] = []

    enum Binding { case slot(Int), fixed(UnsafeMutableRawPointer), input, output, scratchpad }
    struct Step {
        let primitive: dnnl_primitive_t
        let arguments: [(kind: Int32, layout: dnnl_memory_desc_t, binding: Binding)]
        /// A sum post-op reads the destination (the residual) before writing it.
        var accumulatesIntoDestination = false
    }
    private var steps: [Step] = []

    init(batch: Int, precision: MatmulPrecision) {
        self.batch = batch
        storage = precision == .bfloat16 ? dnnl_bf16 : dnnl_f32
    }

    /// The network input: plain NCHW float32 supplied at every run.
    func input(channels: Int, height: Int, width: Int) throws -> FeatureMap {
        FeatureMap(channels: channels, height: height, width: width,
                   layout: try memoryDescriptor([batch, channels, height, width], dnnl_nchw), place: .input)
    }

    private func allocate(_ layout: dnnl_memory_desc_t) -> Int {
        let bytes = byteSize(layout)
        let slot = slotBusy.firstIndex(of: false) ?? { slotBytes.append(0); slotBusy.append(false); return slotBusy.count - 1 }()
        slotBusy[slot] = true
        slotBytes[slot] = max(slotBytes[slot], bytes)
        return slot
    }

    /// Marks the slot of `map` free for later layers (the input is never a slot).
    func release(_ map: FeatureMap) {
        if case .slot(let slot) = map.place { slotBusy[slot] = false }
    }

    private func binding(_ map: FeatureMap) -> Binding {
        switch map.place {
        case .input: return .input
        case .slot(let slot): return .slot(slot)
        }
    }

    /// `map` copied into `layout` (a new slot).
    func reorder(_ map: FeatureMap, to layout: dnnl_memory_desc_t) throws -> FeatureMap {
        var src = map.layout, dst = layout
        let engine = OneDNN.shared.engine
        let attributes = try PrimitiveAttributes()
        let pd = try PrimitiveDescriptor({ dnnl_reorder_primitive_desc_create(&$0, &src, engine, &dst, engine, attributes.handle) }, "reorder_primitive_desc_create")
        let out = FeatureMap(channels: map.channels, height: map.height, width: map.width, layout: layout, place: .slot(allocate(layout)))
        try append(pd, [(DNNL_ARG_SRC, src, binding(map)), (DNNL_ARG_DST, dst, binding(out))])
        return out
    }

    /// Appends the primitive of `pd` with its arguments and, if it needs one, the plan's scratchpad.
    private func append(_ pd: PrimitiveDescriptor, _ arguments: [(kind: Int32, layout: dnnl_memory_desc_t, binding: Binding)],
                        accumulatesIntoDestination: Bool = false) throws {
        var arguments = arguments
        let scratchpad = pd.md(dnnl_query_scratchpad_md)
        if byteSize(scratchpad) > 0 {
            scratchpadBytes = max(scratchpadBytes, byteSize(scratchpad))
            arguments.append((DNNL_ARG_SCRATCHPAD, scratchpad, .scratchpad))
        }
        steps.append(Step(primitive: try handles.primitive(pd.pd), arguments: arguments, accumulatesIntoDestination: accumulatesIntoDestination))
    }

    /// The layer's activation as a oneDNN post-op.
    private func appendActivation(_ activation: Activation, to postOps: dnnl_post_ops_t?) throws {
        switch activation {
        case .none: break
        case .relu: try oneDNNCheck(dnnl_post_ops_append_eltwise(postOps, 1, dnnl_eltwise_relu, 0, 0), "append relu")
        case .relu6: try oneDNNCheck(dnnl_post_ops_append_eltwise(postOps, 1, dnnl_eltwise_clip, 0, 6), "append relu6")
        }
    }

    /// conv(x) (+ residual) then the layer's activation. With a residual, the sum is a oneDNN post-op
    /// accumulating in place into the residual's slot, so `residual` is consumed.
    func convolution(_ conv: Convolution, _ x: FeatureMap, residual: FeatureMap? = nil) throws -> FeatureMap {
        precondition(x.channels == conv.inChannels, "convolution expects \(conv.inChannels) channels, got \(x.channels)")
        keepAlive.append(conv)
        let size = conv.outputSize(height: x.height, width: x.width)
        var residual = residual
        if let r = residual {
            precondition(r.channels == conv.outChannels && r.height == size.height && r.width == size.width, "residual does not match the convolution output")
            if r.place == .input { residual = try reorder(r, to: r.layout) }  // never write into the caller's input
        }
        let ph = conv.padding.amounts(input: x.height, kernel: conv.kernel, stride: conv.stride, dilation: conv.dilation)
        let pw = conv.padding.amounts(input: x.width, kernel: conv.kernel, stride: conv.stride, dilation: conv.dilation)

        func descriptor(destination: dnnl_memory_desc_t?) throws -> PrimitiveDescriptor {
            var src = try memoryDescriptor([batch, conv.inChannels, x.height, x.width], dnnl_format_tag_any, storage)
            var weights = try memoryDescriptor(conv.weightDims, dnnl_format_tag_any, storage)
            var bias = try memoryDescriptor([conv.outChannels], dnnl_a)
            var dst = try destination ?? memoryDescriptor([batch, conv.outChannels, size.height, size.width], dnnl_format_tag_any, storage)
            var desc = dnnl_convolution_desc_t()
            try oneDNNCheck(dnnl_dilated_convolution_forward_desc_init(
                &desc, dnnl_forward_inference, dnnl_convolution_direct, &src, &weights, &bias, &dst,
                dnnlDims([conv.stride, conv.stride]), dnnlDims([conv.dilation - 1, conv.dilation - 1]),
                dnnlDims([ph.before, pw.before]), dnnlDims([ph.after, pw.after])), "convolution_forward_desc_init")
            let attributes = try PrimitiveAttributes()
            var postOps: dnnl_post_ops_t?
            try oneDNNCheck(dnnl_post_ops_create(&postOps), "post_ops_create")
            defer { dnnl_post_ops_destroy(postOps) }
            if residual != nil { try oneDNNCheck(dnnl_post_ops_append_sum(postOps, 1), "post_ops_append_sum") }
            try appendActivation(conv.activation, to: postOps)
            try oneDNNCheck(dnnl_primitive_attr_set_post_ops(attributes.handle, postOps), "set_post_ops")
            let engine = OneDNN.shared.engine
            return try PrimitiveDescriptor({ dnnl_primitive_desc_create(&$0, &desc, attributes.handle, engine, nil) }, "convolution primitive_desc_create")
        }

        var pd = try descriptor(destination: nil)
        if let r = residual, !sameLayout(pd.md(dnnl_query_dst_md), r.layout) {
            pd = try descriptor(destination: r.layout)  // the sum post-op needs the residual's layout
        }
        let srcLayout = pd.md(dnnl_query_src_md)
        let source = sameLayout(srcLayout, x.layout) ? x : try reorder(x, to: srcLayout)
        let weightsLayout = pd.md(dnnl_query_weights_md)
        let dstLayout = pd.md(dnnl_query_dst_md)
        let out: FeatureMap
        if let r = residual {
            out = FeatureMap(channels: conv.outChannels, height: size.height, width: size.width, layout: dstLayout, place: r.place)
        } else {
            out = FeatureMap(channels: conv.outChannels, height: size.height, width: size.width, layout: dstLayout, place: .slot(allocate(dstLayout)))
        }
        let bias = try memoryDescriptor([conv.outChannels], dnnl_a)  // given as plain, so it stays plain
        try append(pd, [
            (DNNL_ARG_SRC, srcLayout, binding(source)),
            (DNNL_ARG_WEIGHTS, weightsLayout, .fixed(try conv.weights(in: weightsLayout))),
            (DNNL_ARG_BIAS, bias, .fixed(conv.biasPointer())),
            (DNNL_ARG_DST, dstLayout, binding(out)),
        ], accumulatesIntoDestination: residual != nil)
        if source.place != x.place { release(source) }
        return out
    }

    func pooling(_ pool: Pooling, _ x: FeatureMap) throws -> FeatureMap {
        let size = pool.outputSize(height: x.height, width: x.width)
        let ph = pool.padding.amounts(input: x.height, kernel: pool.kernel, stride: pool.stride, dilation: 1)
        let pw = pool.padding.amounts(input: x.width, kernel: pool.kernel, stride: pool.stride, dilation: 1)
        var src = x.layout
        var dst = try memoryDescriptor([batch, x.channels, size.height, size.width], dnnl_format_tag_any, storage)
        var desc = dnnl_pooling_v2_desc_t()
        try oneDNNCheck(dnnl_pooling_v2_forward_desc_init(
            &desc, dnnl_forward_inference, pool.kind == .max ? dnnl_pooling_max : dnnl_pooling_avg_include_padding,
            &src, &dst, dnnlDims([pool.stride, pool.stride]), dnnlDims([pool.kernel, pool.kernel]), dnnlDims([0, 0]),
            dnnlDims([ph.before, pw.before]), dnnlDims([ph.after, pw.after])), "pooling_forward_desc_init")
        let engine = OneDNN.shared.engine
        let attributes = try PrimitiveAttributes()
        let pd = try PrimitiveDescriptor({ dnnl_primitive_desc_create(&$0, &desc, attributes.handle, engine, nil) }, "pooling primitive_desc_create")
        let dstLayout = pd.md(dnnl_query_dst_md)
        let out = FeatureMap(channels: x.channels, height: size.height, width: size.width, layout: dstLayout, place: .slot(allocate(dstLayout)))
        var arguments: [(kind: Int32, layout: dnnl_memory_desc_t, binding: Binding)] = [
            (DNNL_ARG_SRC, src, binding(x)), (DNNL_ARG_DST, dstLayout, binding(out))]
        let workspace = pd.md(dnnl_query_workspace_md)
        if byteSize(workspace) > 0 {   // inference max pooling normally needs none
            let buffer = AlignedBuffer(bytes: byteSize(workspace))
            keepAlive.append(buffer)
            arguments.append((DNNL_ARG_WORKSPACE, workspace, .fixed(buffer.pointer)))
        }
        try append(pd, arguments)
        return out
    }

    /// Finishes the plan with `map` reordered into the caller's output buffer as plain NHWC
    /// ([B, H, W, C] row-major, i.e. [B, L, C]).
    func finish(output map: FeatureMap) throws -> ConvNetPlan {
        var dst = try memoryDescriptor([batch, map.channels, map.height, map.width], dnnl_nhwc)
        var src = map.layout
        if case .slot(let slot) = map.place, sameLayout(src, dst), let last = steps.last, !last.accumulatesIntoDestination,
           let written = last.arguments.firstIndex(where: { $0.kind == DNNL_ARG_DST }),
           case .slot(slot) = last.arguments[written].binding {
            // The last layer already writes plain NHWC: let it write straight into the caller's buffer.
            var arguments = last.arguments
            arguments[written].binding = .output
            steps[steps.count - 1] = Step(primitive: last.primitive, arguments: arguments)
        } else {
            let engine = OneDNN.shared.engine
            let attributes = try PrimitiveAttributes()
            let pd = try PrimitiveDescriptor({ dnnl_reorder_primitive_desc_create(&$0, &src, engine, &dst, engine, attributes.handle) }, "reorder_primitive_desc_create")
            try append(pd, [(DNNL_ARG_SRC, src, binding(map)), (DNNL_ARG_DST, dst, .output)])
        }
        let buffers = slotBytes.map { AlignedBuffer(bytes: $0) }
        let scratchpad = AlignedBuffer(bytes: max(scratchpadBytes, 64))
        var executable: [(dnnl_primitive_t, [dnnl_exec_arg_t])] = []
        var inputs: [dnnl_memory_t] = [], outputs: [dnnl_memory_t] = []
        for step in steps {
            var arguments: [dnnl_exec_arg_t] = []
            for argument in step.arguments {
                let memory: dnnl_memory_t
                switch argument.binding {
                case .slot(let slot): memory = try handles.memory(argument.layout, buffers[slot].pointer)
                case .fixed(let pointer): memory = try handles.memory(argument.layout, pointer)
                case .input: memory = try handles.memory(argument.layout, nil); inputs.append(memory)
                case .output: memory = try handles.memory(argument.layout, nil); outputs.append(memory)
                case .scratchpad: memory = try handles.memory(argument.layout, scratchpad.pointer)
                }
                arguments.append(dnnl_exec_arg_t(arg: argument.kind, memory: memory))
            }
            executable.append((step.primitive, arguments))
        }
        return try ConvNetPlan(handles: handles, steps: executable, inputs: inputs, outputs: outputs,
                               keepAlive: keepAlive + buffers + [scratchpad], outputShape: [batch, map.height * map.width, map.channels],
                               activationBytes: slotBytes.reduce(0, +))
    }
}

/// One network's primitives for one input shape, ready to run again and again.
final class ConvNetPlan {
    private let handles: OneDNNHandles
    private let steps: [(dnnl_primitive_t, [dnnl_exec_arg_t])]
    private let inputs: [dnnl_memory_t], outputs: [dnnl_memory_t]
    private let keepAlive: [AnyObject]
    private let stream: dnnl_stream_t
    /// [B, L, C]
    let outputShape: [Int]
    let activationBytes: Int

    init(handles: OneDNNHandles, steps: [(dnnl_primitive_t, [dnnl_exec_arg_t])], inputs: [dnnl_memory_t], outputs: [dnnl_memory_t],
         keepAlive: [AnyObject], outputShape: [Int], activationBytes: Int) throws {
        self.handles = handles
        self.steps = steps
        self.inputs = inputs
        self.outputs = outputs
        self.keepAlive = keepAlive
        self.outputShape = outputShape
        self.activationBytes = activationBytes
        var stream: dnnl_stream_t?
        try oneDNNCheck(dnnl_stream_create(&stream, OneDNN.shared.engine, dnnl_stream_default_flags.rawValue), "stream_create")
        self.stream = stream!
    }

    deinit { dnnl_stream_destroy(stream) }

    /// input: plain NCHW [B, C, H, W]; output: [B, L, C].
    func run(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>) throws {
        for memory in inputs { try oneDNNCheck(dnnl_memory_set_data_handle(memory, UnsafeMutableRawPointer(mutating: input)), "set_data_handle") }
        for memory in outputs { try oneDNNCheck(dnnl_memory_set_data_handle(memory, output), "set_data_handle") }
        for (primitive, arguments) in steps {
            var arguments = arguments
            try oneDNNCheck(dnnl_primitive_execute(primitive, stream, Int32(arguments.count), &arguments), "primitive_execute")
        }
        try oneDNNCheck(dnnl_stream_wait(stream), "stream_wait")
    }
}
