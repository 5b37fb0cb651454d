/// Reverse-mode automatic differentiation over a tape.
///
/// While a tape is active (`Tape.record { … }`), every op whose inputs need gradients appends one
/// entry: the op with what its backward rule needs, and the tensors it produced. `backward(from:)`
/// walks the entries in reverse, calling the rule in `Gradients` for each. Without an active
/// tape (inference) nothing is recorded: an op costs one nil check.
public final class Tape {
    struct Entry {
        let op: Op
        let outputs: [Tensor]
    }

    private(set) var entries: [Entry] = []
    public var count: Int { entries.count }

    /// The tape ops record onto; nil means inference mode. Task-local, so concurrent tasks (a
    /// server's requests, parallel tests) each see their own.
    @TaskLocal static var active: Tape?

    public init() {}

    /// Runs `body` with this tape recording, then restores whatever was active before.
    public func record<R>(_ body: () throws -> R) rethrows -> R {
        try Tape.$active.withValue(self, operation: body)
    }

    /// Runs `body` without recording, even inside a recording (like `torch.no_grad`).
    public static func withoutRecording<R>(_ body: () throws -> R) rethrows -> R {
        // Already not recording (a decoding step inside a search): binding the task-local again
        // would allocate on every call for nothing.
        if active == nil { return try body() }
        return try Tape.$active.withValue(nil, operation: body)
    }

    public static var isRecording: Bool { active != nil }

    func append(_ op: Op, outputs: [Tensor]) {
        for o in outputs { o.requiresGrad = true }
        entries.append(Entry(op: op, outputs: outputs))
    }

    /// Propagates d(loss)/d(loss) = `seed` back through the tape, accumulating into the `grad` of
    /// every leaf that requires it (gradients add up across calls until zeroed). Intermediate
    /// gradients are released as soon as they are used; the tape is emptied.
    public func backward(from loss: Tensor, seed: Float = 1) {
        precondition(loss.requiresGrad, "backward: the loss does not depend on anything that requires a gradient")
        let seedGrad = Tensor(shape: loss.shape, repeating: seed)
        loss.grad = loss.grad.map { g in Kernels.addInPlace(g, seedGrad); return g } ?? seedGrad
        let recorded = entries
        entries = []
        let deferred = DeferredWeightGradients()
        for entry in recorded.reversed() {
            for o in entry.outputs { deferred.flush(o) }
            let outputGrads = entry.outputs.map(\.grad)
            if outputGrads.allSatisfy({ $0 == nil }) { continue }
            Gradients.backward(entry.op, outputs: entry.outputs, outputGrads: outputGrads, deferred: deferred)
            for o in entry.outputs { o.grad = nil }
        }
        deferred.flushAll()
    }
}

/// Adds `g` into `t.grad`, creating it on first use. The single place gradients accumulate.
/// `fresh` says `g` was made for `t` alone, so it can become `t.grad` without a copy; a gradient
/// passed through unchanged (add, reshape) is copied so two tensors never share one buffer.
@inline(__always)
func accumulate(_ t: Tensor, _ g: Tensor, fresh: Bool) {
    guard t.requiresGrad else { return }
    precondition(g.count == t.count, "gradient of shape \(g.shape) for tensor of shape \(t.shape)")
    if let existing = t.grad ?? (t.leadingRowsOf != nil ? gradBuffer(t) : nil) {
        Kernels.addInPlace(existing, g)
    } else if fresh {
        t.grad = g.shape == t.shape ? g : Tensor(shape: t.shape, storage: g.storage)
    } else {
        let copy = Tensor(uninitialized: t.shape)
        copy.data.update(from: g.data, count: g.count)
        t.grad = copy
    }
}

/// Where a kernel that writes every element of `t`'s gradient puts it: into the existing buffer
/// (accumulate: true), or into a new one it simply overwrites (accumulate: false), which spares
/// the zero fill and the read-back: a 3000×512 weight gradient is 6 MB each way, every step.
@inline(__always)
func gradTarget(_ t: Tensor) -> (buffer: Tensor, accumulate: Bool) {
    if let g = t.grad { return (g, true) }
    if t.leadingRowsOf != nil { return (gradBuffer(t), true) }
    let g = Tensor(uninitialized: t.shape)
    t.grad = g
    return (g, false)
}

/// The gradient buffer of `t`, created zero-filled on first use, for kernels that accumulate into it.
/// A `prefixRows` view gets the leading rows of its whole tensor's buffer instead: an attention
/// decoder's per-step views of the projected grid ([n, L, A], up to 6.4 MB) would otherwise each be
/// zeroed and then added into the whole, 22 times per batch.
@inline(__always)
func gradBuffer(_ t: Tensor) -> Tensor {
    if let g = t.grad { return g }
    if let whole = t.leadingRowsOf, whole.requiresGrad {
        let g = Tensor(shape: t.shape, storage: gradBuffer(whole).storage)
        t.grad = g
        return g
    }
    let g = Tensor(zeros: t.shape)
    t.grad = g
    return g
}

/// Appends `op` to the active tape when some input needs a gradient; every op calls this after its forward.
@inline(__always)
func record(_ op: @autoclosure () -> Op, inputs: [Tensor], outputs: [Tensor]) {
    guard willRecord(inputs), let tape = Tape.active else { return }
    tape.append(op(), outputs: outputs)
}

/// Whether an op on `inputs` will be recorded: a tape is active and some input needs a gradient.
/// Fused ops ask first, to save what backward needs only when it will run.
@inline(__always)
func willRecord(_ inputs: [Tensor]) -> Bool {
    Tape.isRecording && inputs.contains(where: \.requiresGrad)
}
