import Foundation
import Testing
@testable import TensorCore

/// Loads a committed fixture file from this test target's resources.
func fixture(_ name: String) throws -> SafeTensors {
    guard let url = Bundle.module.url(forResource: "Fixtures/\(name)", withExtension: nil) else {
        throw SafeTensorsError(file: name, problem: "is not among the test resources", fix: "run tools/reference/make_fixtures.py")
    }
    return try SafeTensors.read(url)
}

/// Largest absolute difference over the largest reference magnitude (the ∞-norm relative error).
func relativeError(_ actual: Tensor, _ expected: Tensor) -> Float {
    precondition(actual.count == expected.count, "comparing \(actual.shape) with \(expected.shape)")
    var diff: Float = 0, scale: Float = 0
    for i in 0..<actual.count {
        diff = max(diff, abs(actual.data[i] - expected.data[i]))
        scale = max(scale, abs(expected.data[i]))
    }
    return diff / max(scale, 1e-12)
}

func expectClose(_ actual: Tensor?, _ expected: Tensor?, tolerance: Float, _ what: String,
                 sourceLocation: SourceLocation = #_sourceLocation) {
    guard let actual, let expected else {
        Issue.record("\(what): missing tensor (actual \(actual == nil ? "nil" : "present"), expected \(expected == nil ? "nil" : "present"))", sourceLocation: sourceLocation)
        return
    }
    #expect(actual.shape == expected.shape || actual.count == expected.count, "\(what): shape \(actual.shape) vs \(expected.shape)", sourceLocation: sourceLocation)
    let error = relativeError(actual, expected)
    #expect(error <= tolerance, "\(what): relative error \(error) > \(tolerance)", sourceLocation: sourceLocation)
}

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
