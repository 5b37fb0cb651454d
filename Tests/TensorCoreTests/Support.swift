import Foundation
import Testing
import TestSupport
@testable import TensorCore

/// The committed fixtures of this test target.
let fixtures = Fixtures(bundle: .module)

/// Σ_i sum(outputs[i] ⊙ upstream[i]): a scalar whose gradient w.r.t. each output is its upstream tensor.
func weightedSum(_ outputs: [Tensor], _ upstream: [Tensor]) -> Tensor {
    var total: Tensor?
    for (o, u) in zip(outputs, upstream) {
        let term = (o * u.reshaped(o.shape)).sum()
        total = total.map { $0 + term } ?? term
    }
    return total!
}

/// Central finite differences of f (a scalar function of `inputs`) against the tape's gradients.
/// Computed in float32 with a step of 1e-2 and compared with a tolerance that suits it.
func finiteDifferenceCheck(_ inputs: [Tensor], step: Float = 1e-2, tolerance: Float = 2e-2, _ what: String,
                           sourceLocation: SourceLocation = #_sourceLocation, _ f: () -> Tensor) {
    for x in inputs { x.requiresGrad = true; x.grad = nil }
    let tape = Tape()
    let loss = tape.record(f)
    tape.backward(from: loss)
    for (k, x) in inputs.enumerated() {
        let analytic = x.grad ?? Tensor(zeros: x.shape)
        let numeric = Tensor(zeros: x.shape)
        for i in 0..<x.count {
            let saved = x.data[i]
            x.data[i] = saved + step
            let plus = Tape.withoutRecording(f).item
            x.data[i] = saved - step
            let minus = Tape.withoutRecording(f).item
            x.data[i] = saved
            numeric.data[i] = (plus - minus) / (2 * step)
        }
        let error = relativeError(analytic, numeric)
        #expect(error <= tolerance, "\(what): input \(k) finite-difference relative error \(error)", sourceLocation: sourceLocation)
    }
}
