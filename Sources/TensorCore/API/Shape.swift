/// Shape arithmetic shared by kernels.
enum Shape {
    /// Splits `shape` around `axis` into (elements before, the axis length, elements after).
    static func around(_ shape: [Int], axis: Int) -> (outer: Int, length: Int, inner: Int) {
        let outer = shape[..<axis].reduce(1, *)
        let inner = shape[(axis + 1)...].reduce(1, *)
        return (outer, shape[axis], inner)
    }

    static func normalise(axis: Int, rank: Int) -> Int {
        let a = axis < 0 ? axis + rank : axis
        precondition(a >= 0 && a < rank, "axis \(axis) is out of range for rank \(rank)")
        return a
    }

    /// NumPy broadcasting of two shapes.
    static func broadcast(_ a: [Int], _ b: [Int]) -> [Int] {
        let rank = max(a.count, b.count)
        let pa = Array(repeating: 1, count: rank - a.count) + a
        let pb = Array(repeating: 1, count: rank - b.count) + b
        return (0..<rank).map { i in
            precondition(pa[i] == pb[i] || pa[i] == 1 || pb[i] == 1, "shapes \(a) and \(b) do not broadcast")
            return max(pa[i], pb[i])
        }
    }

    /// Strides of `shape` seen through the broadcast `output` shape (0 on broadcast dimensions).
    static func broadcastStrides(_ shape: [Int], to output: [Int]) -> [Int] {
        let padded = Array(repeating: 1, count: output.count - shape.count) + shape
        var strides = Array(repeating: 0, count: output.count)
        var s = 1
        for i in stride(from: output.count - 1, through: 0, by: -1) {
            strides[i] = padded[i] == 1 && output[i] != 1 ? 0 : s
            s *= padded[i]
        }
        return strides
    }
}
