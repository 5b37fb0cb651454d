import Foundation

extension TensorReference {
    /// Copies the tensor's elements out of its storage into contiguous row-major order,
    /// following its strides and storage offset (transposed and sliced tensors included).
    func materialize(storageBytes: Data, fileName: String, tensorName: String) throws -> RawTensor {
        let size = storage.dtype.byteSize
        let count = shape.reduce(1, *)
        let first = storage.elementOffset + storageOffset
        // The furthest element this view touches must lie inside the storage.
        let last = count == 0 ? first : first + zip(shape, strides).reduce(0) { $0 + ($1.0 - 1) * $1.1 }
        guard first >= 0, (last + 1) * size <= storageBytes.count || count == 0 else {
            throw CheckpointError.truncated(fileName, "tensor \(tensorName) reaches beyond its stored data")
        }
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
