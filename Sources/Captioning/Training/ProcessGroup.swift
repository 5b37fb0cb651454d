import TensorCore

/// The processes that train one model together, each on its share of every batch: MPI's ranks
/// under `mpirun` or `srun` (`Sources/Cluster`), or this process alone. Every call is collective:
/// each process of the group makes the same calls in the same order, and each gets the same result.
public protocol ProcessGroup: AnyObject {
    var rank: Int { get }
    var size: Int { get }
    /// Sums `values` element-wise over the group, in place.
    func sum(_ values: UnsafeMutableBufferPointer<Float>)
    /// Every process's `values`, in rank order.
    func gather(_ values: [Int32]) -> [[Int32]]
    /// Returns once every process has called it.
    func barrier()
}

extension ProcessGroup {
    /// The process that writes models, checkpoints, logs and progress.
    public var isLeader: Bool { rank == 0 }

    /// This process's contiguous part of `count` items: rank r of N takes ⌊count·r/N⌋..<⌊count·(r+1)/N⌋,
    /// so the parts are in rank order, differ in size by at most one, and cover every item once.
    public func share(of count: Int) -> Range<Int> { (count * rank / size)..<(count * (rank + 1) / size) }

    /// The leader's `values`, on every process, bit for bit.
    public func leaders(_ values: [Double]) -> [Double] {
        guard size > 1 else { return values }
        let bits = isLeader ? values.flatMap { v in [Int32(truncatingIfNeeded: v.bitPattern), Int32(truncatingIfNeeded: v.bitPattern >> 32)] } : []
        let received = gather(bits)[0]
        return stride(from: 0, to: received.count, by: 2).map {
            Double(bitPattern: UInt64(UInt32(bitPattern: received[$0])) | UInt64(UInt32(bitPattern: received[$0 + 1])) << 32)
        }
    }
}

/// FNV-1a over 64 bits: what the processes of a group compare to agree that they hold the same
/// data (`Trainer.checkTheGroupAgrees`), and what a resumed feature run checks finished rows by.
public struct Fingerprint {
    public private(set) var value: UInt64 = 0xCBF2_9CE4_8422_2325
    public init() {}
    public mutating func add(_ word: UInt64) { value = (value ^ word) &* 0x100_0000_01B3 }
    public mutating func add<Bytes: Sequence<UInt8>>(bytes: Bytes) { for byte in bytes { add(UInt64(byte)) } }
    /// Memory a word at a time (megabytes of feature rows), then the bytes left over. A word's
    /// high bits are folded down after each step: FNV's multiply carries differences only upwards,
    /// so two flips of bit 63 (two float signs) would otherwise cancel.
    public mutating func add(raw: UnsafeRawBufferPointer) {
        let words = raw.count / 8
        for i in 0..<words {
            add(raw.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self))
            value ^= value >> 29
        }
        add(bytes: raw[(words * 8)...])
    }
}

/// An error every process of a group raises at the same point, decided from figures they share
/// (so none is left waiting for another): the leader reports it once and all stop together.
public struct GroupFailure: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// This process alone: sums and gathers are its own values.
public final class SingleProcess: ProcessGroup {
    public init() {}
    public var rank: Int { 0 }
    public var size: Int { 1 }
    public func sum(_ values: UnsafeMutableBufferPointer<Float>) {}
    public func gather(_ values: [Int32]) -> [[Int32]] { [values] }
    public func barrier() {}
}

/// One step's gradients and figures summed over the group in one buffer: every parameter's gradient
/// (already scaled by the process's share of the global batch, so the sums are the global batch's
/// gradients), one presence flag per parameter (a gradient no process computed stays absent, as in
/// a single process), then the step's figures. A group of one returns at once.
/// `buffer` is kept between steps, so a step does not allocate its size again.
func sumGradients(_ parameters: [Tensor], figures: [Float], over group: ProcessGroup, buffer: inout [Float]) -> [Float] {
    guard group.size > 1 else { return figures }
    let sizes = parameters.map(\.count)
    let gradientCount = sizes.reduce(0, +)
    let length = gradientCount + parameters.count + figures.count
    if buffer.count != length { buffer = [Float](repeating: 0, count: length) }
    buffer.withUnsafeMutableBufferPointer { all in
        var offset = 0
        for (i, p) in parameters.enumerated() {
            if let g = p.grad {
                (all.baseAddress! + offset).update(from: g.data, count: sizes[i])
                all[gradientCount + i] = 1
            } else {
                (all.baseAddress! + offset).update(repeating: 0, count: sizes[i])
                all[gradientCount + i] = 0
            }
            offset += sizes[i]
        }
        for (j, f) in figures.enumerated() { all[gradientCount + parameters.count + j] = f }
        group.sum(all)
        offset = 0
        for (i, p) in parameters.enumerated() {
            if all[gradientCount + i] > 0 {
                if p.grad == nil { p.grad = Tensor(zeros: p.shape) }
                p.grad!.data.update(from: all.baseAddress! + offset, count: sizes[i])
            }
            offset += sizes[i]
        }
    }
    return Array(buffer.suffix(figures.count))
}
