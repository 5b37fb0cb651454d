/// tanh and the logistic sigmoid as branch-free rational approximations (Eigen's
/// `generic_fast_tanh_float`: a 13/6 minimax rational function on [−7.99, 7.99], within a few ulp of
/// tanh). Unlike libm's `tanhf`, loops over these vectorise, which matters: attention evaluates tanh
/// on B·L·A values at every step.
@inline(__always)
public func fastTanh(_ value: Float) -> Float {
    let x = min(max(value, -7.998_811_7), 7.998_811_7)
    let x2 = x * x
    var p: Float = -2.760_768_5e-16
    p = p * x2 + 2.000_187_9e-13
    p = p * x2 - 8.604_671_5e-11
    p = p * x2 + 5.122_297_1e-08
    p = p * x2 + 1.485_722_4e-05
    p = p * x2 + 6.372_619_3e-04
    p = p * x2 + 4.893_524_6e-03
    p *= x
    var q: Float = 1.198_258_4e-06
    q = q * x2 + 1.185_347_1e-04
    q = q * x2 + 2.268_434_6e-03
    q = q * x2 + 4.893_525_2e-03
    // Below 4e-4, tanh(x) = x to float precision (and the rational form loses relative accuracy).
    return abs(value) < 0.0004 ? value : p / q
}

/// σ(x) = ½ + ½·tanh(x/2).
@inline(__always)
public func fastSigmoid(_ x: Float) -> Float {
    0.5 + 0.5 * fastTanh(0.5 * x)
}

/// `fastTanh` on four lanes (one SSE register): the same operations in the same order, so each
/// lane equals the scalar function bit for bit; the recurrent cells' pointwise loops run on it.
@inline(__always)
func fastTanh(_ value: SIMD4<Float>) -> SIMD4<Float> {
    let lo = SIMD4<Float>(repeating: -7.998_811_7), hi = SIMD4<Float>(repeating: 7.998_811_7)
    var x = value.replacing(with: lo, where: value .< lo)
    x = x.replacing(with: hi, where: x .> hi)
    let x2 = x * x
    var p = SIMD4<Float>(repeating: -2.760_768_5e-16)
    p = p * x2 + SIMD4(repeating: 2.000_187_9e-13)
    p = p * x2 - SIMD4(repeating: 8.604_671_5e-11)
    p = p * x2 + SIMD4(repeating: 5.122_297_1e-08)
    p = p * x2 + SIMD4(repeating: 1.485_722_4e-05)
    p = p * x2 + SIMD4(repeating: 6.372_619_3e-04)
    p = p * x2 + SIMD4(repeating: 4.893_524_6e-03)
    p *= x
    var q = SIMD4<Float>(repeating: 1.198_258_4e-06)
    q = q * x2 + SIMD4(repeating: 1.185_347_1e-04)
    q = q * x2 + SIMD4(repeating: 2.268_434_6e-03)
    q = q * x2 + SIMD4(repeating: 4.893_525_2e-03)
    let tiny = (value .< SIMD4(repeating: 0.0004)) .& (value .> SIMD4(repeating: -0.0004))
    return (p / q).replacing(with: value, where: tiny)
}

@inline(__always)
func fastSigmoid(_ x: SIMD4<Float>) -> SIMD4<Float> {
    SIMD4(repeating: 0.5) + SIMD4(repeating: 0.5) * fastTanh(SIMD4(repeating: 0.5) * x)
}
