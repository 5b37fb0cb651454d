import Foundation

enum BFloat16 {
    /// float32 → bfloat16 with round-to-nearest-even (NaN stays NaN), as PyTorch and oneDNN round.
    static func convert(_ source: UnsafePointer<Float>, count: Int, into destination: UnsafeMutablePointer<UInt16>) {
        Threads.parallelRanges(count, minimumPerThread: 1 << 17) { range in
            let bits = UnsafeRawPointer(source).assumingMemoryBound(to: UInt32.self)
            // A plain loop of `round`: LLVM turns it into AVX-512 compares, adds and blends.
            for i in range { destination[i] = round(bits[i]) }
        }
    }

    @inline(__always) static func round(_ bits: UInt32) -> UInt16 {
        let rounded = (bits &+ 0x7FFF &+ ((bits &>> 16) & 1)) &>> 16
        let quietNaN = (bits &>> 16) | 0x40
        return UInt16(truncatingIfNeeded: bits & 0x7FFF_FFFF > 0x7F80_0000 ? quietNaN : rounded)
    }

    /// bfloat16 → float32 (exact).
    static func float(_ value: UInt16) -> Float { Float(bitPattern: UInt32(value) << 16) }
}

/// 64-byte aligned bfloat16 memory.
final class BFloat16Buffer {
    private(set) var pointer: UnsafeMutablePointer<UInt16>
    private(set) var capacity: Int

    init(capacity: Int) {
        self.capacity = max(capacity, 1)
        pointer = BFloat16Buffer.allocate(self.capacity)
    }

    private static func allocate(_ count: Int) -> UnsafeMutablePointer<UInt16> {
        AlignedMemory.allocate(bytes: count * 2).bindMemory(to: UInt16.self, capacity: count)
    }

    /// Grows (never shrinks) to hold `count` values; the contents are not kept.
    func reserve(_ count: Int) {
        guard count > capacity else { return }
        free(pointer)
        capacity = count
        pointer = BFloat16Buffer.allocate(count)
    }

    deinit { free(pointer) }
}
