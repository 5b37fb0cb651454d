#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Elementwise arithmetic with broadcasting, pointwise functions, reductions and softmax: the basic
// ops whose backward rules are the table in `Gradients`.

// MARK: - Elementwise with broadcasting

public func + (a: Tensor, b: Tensor) -> Tensor {
    let out = Kernels.broadcast(a, b, +)
    record(.add(a, b), inputs: [a, b], outputs: [out])
    return out
}

public func - (a: Tensor, b: Tensor) -> Tensor {
    let out = Kernels.broadcast(a, b, -)
    record(.subtract(a, b), inputs: [a, b], outputs: [out])
    return out
}

public func * (a: Tensor, b: Tensor) -> Tensor {
    let out = Kernels.broadcast(a, b, *)
    record(.multiply(a, b), inputs: [a, b], outputs: [out])
    return out
}

public func / (a: Tensor, b: Tensor) -> Tensor {
    let out = Kernels.broadcast(a, b, /)
    record(.divide(a, b), inputs: [a, b], outputs: [out])
    return out
}

public func * (a: Tensor, s: Float) -> Tensor {
    let out = Kernels.map(a) { $0 * s }
    record(.scale(a, s), inputs: [a], outputs: [out])
    return out
}

public func * (s: Float, a: Tensor) -> Tensor { a * s }
public prefix func - (a: Tensor) -> Tensor { a * -1 }

public func + (a: Tensor, s: Float) -> Tensor {
    let out = Kernels.map(a) { $0 + s }
    record(.shift(a), inputs: [a], outputs: [out])
    return out
}

public func + (s: Float, a: Tensor) -> Tensor { a + s }
public func - (a: Tensor, s: Float) -> Tensor { a + (-s) }
public func - (s: Float, a: Tensor) -> Tensor { (-a) + s }

// MARK: - Unary

extension Tensor {
    public func tanh() -> Tensor {
        let out = Kernels.squash(self, sigmoid: false)
        record(.tanh(self), inputs: [self], outputs: [out])
        return out
    }
    public func sigmoid() -> Tensor {
        let out = Kernels.squash(self, sigmoid: true)
        record(.sigmoid(self), inputs: [self], outputs: [out])
        return out
    }
    public func relu() -> Tensor { unary(.relu(self)) { max($0, 0) } }
    public func exp() -> Tensor { unary(.exp(self)) { expf($0) } }
    public func log() -> Tensor { unary(.log(self)) { logf($0) } }

    private func unary(_ op: @autoclosure () -> Op, _ f: (Float) -> Float) -> Tensor {
        let out = Kernels.map(self, f)
        record(op(), inputs: [self], outputs: [out])
        return out
    }
}

// MARK: - Reductions

extension Tensor {
    /// Sum over `axis`; the axis is kept with length 1 when `keepDims`.
    public func sum(axis: Int, keepDims: Bool = false) -> Tensor {
        reduce(axis: axis, keepDims: keepDims, mean: false)
    }

    public func mean(axis: Int, keepDims: Bool = false) -> Tensor {
        reduce(axis: axis, keepDims: keepDims, mean: true)
    }

    private func reduce(axis: Int, keepDims: Bool, mean: Bool) -> Tensor {
        let a = Shape.normalise(axis: axis, rank: rank)
        var shape = self.shape
        if keepDims { shape[a] = 1 } else { shape.remove(at: a) }
        let out = Kernels.sum(self, axis: a, outputShape: shape)
        if mean {
            let inv = 1 / Float(self.shape[a])
            for i in 0..<out.count { out.data[i] *= inv }
        }
        record(mean ? .mean(self, axis: a) : .sum(self, axis: a), inputs: [self], outputs: [out])
        return out
    }

    /// Sum of every element, as a scalar tensor.
    public func sum() -> Tensor {
        let out = Tensor(shape: [], values: [total()])
        record(.sumAll(self), inputs: [self], outputs: [out])
        return out
    }

    public func mean() -> Tensor {
        let out = Tensor(shape: [], values: [total() / Float(count)])
        record(.meanAll(self), inputs: [self], outputs: [out])
        return out
    }

    private func total() -> Float {
        var s: Double = 0
        for i in 0..<count { s += Double(data[i]) }
        return Float(s)
    }
}

// MARK: - Softmax

extension Tensor {
    public func softmax(axis: Int) -> Tensor {
        let a = Shape.normalise(axis: axis, rank: rank)
        let out = Kernels.softmax(self, axis: a, log: false)
        record(.softmax(self, axis: a), inputs: [self], outputs: [out])
        return out
    }

    public func logSoftmax(axis: Int) -> Tensor {
        let a = Shape.normalise(axis: axis, rank: rank)
        let out = Kernels.softmax(self, axis: a, log: true)
        record(.logSoftmax(self, axis: a), inputs: [self], outputs: [out])
        return out
    }
}
