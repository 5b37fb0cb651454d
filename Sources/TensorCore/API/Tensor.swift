import Foundation

/// Aligned float32 memory owned by one tensor (or shared by reshaped views of it).
public final class TensorStorage {
    public let pointer: UnsafeMutablePointer<Float>
    public let count: Int
    /// Moves whenever the values are changed in place (by an optimizer): copies derived from them,
    /// such as bfloat16 weights, are stale when it differs from theirs.
    public private(set) var version: UInt64 = 0

    /// Call after writing into the storage in place (tensor values are otherwise immutable).
    public func markModified() { version &+= 1 }

    init(count: Int, zeroed: Bool = true) {
        self.count = count
        pointer = AlignedMemory.allocate(bytes: count * MemoryLayout<Float>.stride)
            .bindMemory(to: Float.self, capacity: max(count, 1))
        if zeroed { pointer.initialize(repeating: 0, count: count) }
    }

    deinit { free(pointer) }
}

/// A dense, row-major float32 tensor. Values are immutable once an op has produced them; only
/// optimizers write into parameters in place. `requiresGrad` leaves receive `grad` from `Tape.backward`.
public final class Tensor: CustomStringConvertible {
    public let shape: [Int]
    public let count: Int
    public let storage: TensorStorage
    /// Set on parameters (leaves) and on every output an op records while a tape is active.
    public var requiresGrad: Bool
    /// Accumulated gradient, same shape; filled by `Tape.backward`.
    public var grad: Tensor?
    /// Set when this tensor is a recorded `prefixRows` view: the tensor whose leading rows it is.
    /// Its gradient is then made as the same leading rows of that tensor's gradient, so backward
    /// adds into the whole tensor's buffer directly (see `gradBuffer`).
    var leadingRowsOf: Tensor?

    public init(shape: [Int], storage: TensorStorage, requiresGrad: Bool = false) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        let n = shape.reduce(1, *)
        precondition(storage.count >= n, "storage of \(storage.count) floats is too small for shape \(shape)")
        self.shape = shape
        self.count = n
        self.storage = storage
        self.requiresGrad = requiresGrad
    }

    /// Zero-filled tensor.
    public convenience init(zeros shape: [Int], requiresGrad: Bool = false) {
        self.init(shape: shape, storage: TensorStorage(count: shape.reduce(1, *)), requiresGrad: requiresGrad)
    }

    /// Uninitialised tensor for kernels that overwrite every element.
    convenience init(uninitialized shape: [Int]) {
        self.init(shape: shape, storage: TensorStorage(count: shape.reduce(1, *), zeroed: false))
    }

    public convenience init(shape: [Int], values: [Float], requiresGrad: Bool = false) {
        precondition(values.count == shape.reduce(1, *), "\(values.count) values do not fill shape \(shape)")
        self.init(uninitialized: shape)
        values.withUnsafeBufferPointer { data.update(from: $0.baseAddress!, count: values.count) }
        self.requiresGrad = requiresGrad
    }

    public convenience init(shape: [Int], repeating value: Float, requiresGrad: Bool = false) {
        self.init(uninitialized: shape)
        data.update(repeating: value, count: count)
        self.requiresGrad = requiresGrad
    }

    public convenience init(scalar: Float) { self.init(shape: [], values: [scalar]) }

    public var data: UnsafeMutablePointer<Float> { storage.pointer }
    public var rank: Int { shape.count }
    public var scalars: [Float] { Array(UnsafeBufferPointer(start: data, count: count)) }
    public var item: Float {
        precondition(count == 1, "item() needs a one-element tensor, not shape \(shape)")
        return data[0]
    }

    /// A copy that shares nothing with this tensor and records nothing.
    public func copy() -> Tensor {
        let out = Tensor(uninitialized: shape)
        out.data.update(from: data, count: count)
        return out
    }

    /// Same values, no gradient history: a new leaf.
    public func detached() -> Tensor { Tensor(shape: shape, storage: storage) }

    /// Overwrites the values in place (used by optimizers and weight loading).
    public func assign(_ other: Tensor) {
        precondition(other.shape == shape, "assign: shape \(other.shape) does not match \(shape)")
        data.update(from: other.data, count: count)
        storage.markModified()              // copies derived from the values (bfloat16, tables) are stale
    }

    public func fill(_ value: Float) {
        data.update(repeating: value, count: count)
        storage.markModified()
    }

    public var description: String {
        let preview = scalars.prefix(8).map { String(format: "%.5g", $0) }.joined(separator: ", ")
        return "Tensor(\(shape), [\(preview)\(count > 8 ? ", …" : "")])"
    }

    // MARK: - Random initialisers

    public static func randn(_ shape: [Int], rng: inout RandomGenerator, std: Float = 1, requiresGrad: Bool = false) -> Tensor {
        let t = Tensor(uninitialized: shape)
        for i in 0..<t.count { t.data[i] = rng.normal() * std }
        t.requiresGrad = requiresGrad
        return t
    }

    public static func uniform(_ shape: [Int], low: Float, high: Float, rng: inout RandomGenerator, requiresGrad: Bool = false) -> Tensor {
        let t = Tensor(uninitialized: shape)
        for i in 0..<t.count { t.data[i] = rng.uniform(low, high) }
        t.requiresGrad = requiresGrad
        return t
    }
}

/// Integer ids (token ids, class indices, gather indices), row-major.
public struct IntTensor: Equatable, CustomStringConvertible {
    public let shape: [Int]
    public var values: [Int32]

    public init(shape: [Int], values: [Int32]) {
        precondition(values.count == shape.reduce(1, *), "\(values.count) ids do not fill shape \(shape)")
        self.shape = shape
        self.values = values
    }

    public init(_ values: [Int32]) { self.init(shape: [values.count], values: values) }

    public var count: Int { values.count }
    public var description: String { "IntTensor(\(shape), \(values.prefix(8))\(count > 8 ? "…" : ""))" }

    public subscript(row: Int) -> ArraySlice<Int32> {
        let width = shape.dropFirst().reduce(1, *)
        return values[(row * width)..<((row + 1) * width)]
    }
}
