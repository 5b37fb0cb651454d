import Foundation

extension TensorReference {
    /// Copies the tensor's elements out of its storage into contiguous row-major order,
    /// following its strides and storage offset (transposed and sliced tensors included).
    func materialize(storageBytes: Data, fileName: String, tensorName: String) throws -> RawTensor {
        let size = storage.dtype.byteSize
        let outOfBounds = CheckpointError.truncated(fileName, "tensor \(tensorName) reaches beyond its stored data")
        guard let count = checkedElementCount(shape), count.multipliedReportingOverflow(by: size).overflow == false
        else { throw outOfBounds }
        let (first, firstOverflows) = storage.elementOffset.addingReportingOverflow(storageOffset)
        guard !firstOverflows else { throw outOfBounds }
        // The furthest element this view touches must lie inside the storage (all sizes come from the
        // file, so the arithmetic is checked for overflow too).
        var last = first
        for (dimension, stride) in zip(shape, strides) where dimension > 0 {
            let (step, overflow) = (dimension - 1).multipliedReportingOverflow(by: stride)
            guard !overflow, last <= Int.max - step else { throw outOfBounds }
            last += step
        }
        guard first >= 0, count == 0 || last < storageBytes.count / size else { throw outOfBounds }
        // An empty tensor has nothing to copy; its other dimensions may be huge (shape (0, 2⁴⁰, 2⁴⁰)),
        // so the contiguous strides below, products of those dimensions, could overflow.
        if count == 0 { return RawTensor(dtype: storage.dtype, shape: shape, data: Data()) }
        var contiguousStrides = [Int](repeating: 1, count: shape.count)
        for axis in shape.indices.dropLast().reversed() {
            contiguousStrides[axis] = contiguousStrides[axis + 1] * shape[axis + 1]
        }
        let base = storageBytes.startIndex
        let isContiguous = zip(zip(shape, strides), contiguousStrides).allSatisfy { $0.0.0 <= 1 || $0.0.1 == $0.1 }
        if isContiguous {
            let start = base + first * size
            return RawTensor(dtype: storage.dtype, shape: shape, data: Data(storageBytes[start..<start + count * size]))
        }
        var out = Data(count: count * size)
        storageBytes.withUnsafeBytes { (src: UnsafeRawBufferPointer) in
            out.withUnsafeMutableBytes { (dst: UnsafeMutableRawBufferPointer) in
                var index = [Int](repeating: 0, count: shape.count)
                var sourceElement = first
                for element in 0..<count {
                    let from = sourceElement * size, to = element * size
                    for b in 0..<size { dst[to + b] = src[from + b] }
                    // Odometer increment over the shape, moving the source by the strides.
                    var axis = shape.count - 1
                    while axis >= 0 {
                        index[axis] += 1
                        sourceElement += strides[axis]
                        if index[axis] < shape[axis] { break }
                        sourceElement -= strides[axis] * shape[axis]
                        index[axis] = 0
                        axis -= 1
                    }
                }
            }
        }
        return RawTensor(dtype: storage.dtype, shape: shape, data: out)
    }
}
