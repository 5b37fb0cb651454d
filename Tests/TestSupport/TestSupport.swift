import Foundation
import TensorCore
import Testing

/// Helpers the parity suites share: comparing tensors. (Fixtures: Fixtures.swift; temporary
/// directories: TemporaryDirectory.swift; the `caption` executable: RunCaption.swift.)

/// Largest absolute difference over the largest reference magnitude (the ∞-norm relative error).
public func relativeError(_ actual: Tensor, _ expected: Tensor) -> Float {
    precondition(actual.count == expected.count, "comparing \(actual.shape) with \(expected.shape)")
    var diff: Float = 0, scale: Float = 0
    for i in 0..<actual.count {
        diff = max(diff, abs(actual.data[i] - expected.data[i]))
        scale = max(scale, abs(expected.data[i]))
    }
    return diff / max(scale, 1e-12)
}

/// Records an issue unless `actual` matches `expected` to `tolerance` relative error.
public func expectClose(_ actual: Tensor?, _ expected: Tensor?, tolerance: Float, _ what: String,
                        sourceLocation: SourceLocation = #_sourceLocation) {
    guard let actual, let expected else {
        Issue.record("\(what): missing tensor (actual \(actual == nil ? "nil" : "present"), expected \(expected == nil ? "nil" : "present"))",
                     sourceLocation: sourceLocation)
        return
    }
    guard actual.count == expected.count else {
        Issue.record("\(what): shape \(actual.shape) vs \(expected.shape)", sourceLocation: sourceLocation)
        return
    }
    let error = relativeError(actual, expected)
    #expect(error <= tolerance, "\(what): relative error \(error) > \(tolerance)", sourceLocation: sourceLocation)
}

/// The cosine of the angle between two vectors of equal length, summed in float64: how closely a
/// gradient in another precision points the same way.
public func cosine<A: Sequence<Float>, B: Sequence<Float>>(_ a: A, _ b: B) -> Double {
    var dot = 0.0, na = 0.0, nb = 0.0
    for (x, y) in zip(a, b) { dot += Double(x) * Double(y); na += Double(x) * Double(x); nb += Double(y) * Double(y) }
    return dot / (na * nb).squareRoot()
}
