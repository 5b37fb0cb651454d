/// A gradient rounded to bfloat16 once, in the pass that forms it, for the several products that
/// read it as their A operand (each would otherwise round its own copy, `MatmulCache.multiply`):
/// [rows, width], then zero rows up to a multiple of 64 for the products that read it K-major
/// (transposeA, padded by `MatmulCache.paddedInnerDimension`). nil in float32 mode.
final class RoundedGradient {
    let width: Int
    private let buffer: BFloat16Buffer

    init?(rows: Int, width: Int) {
        guard Precision.current == .bfloat16 else { return nil }
        self.width = width
        let paddedRows = (rows + 63) / 64 * 64
        buffer = BFloat16Buffer(capacity: paddedRows * width)
        (buffer.pointer + rows * width).initialize(repeating: 0, count: (paddedRows - rows) * width)
    }

    /// Where row `row` is written.
    func row(_ row: Int) -> UnsafeMutablePointer<UInt16> { buffer.pointer + row * width }

    /// The operand from row `row` on, for an m×k·k×n product that reads it, or nil when that product
    /// stays float32 (and rounds nothing).
    func operand(from row: Int = 0, m: Int, n: Int, k: Int) -> UnsafePointer<UInt16>? {
        gemmRoundsToBFloat16(m: m, n: n, k: k) ? UnsafePointer(buffer.pointer + row * width) : nil
    }
}
