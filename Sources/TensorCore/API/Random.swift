import Foundation

/// Seeded generator (xoshiro256**, seeded through SplitMix64): the same seed gives the same
/// initialisation, dropout masks and shuffles on every machine.
public struct RandomGenerator: RandomNumberGenerator, Codable, Equatable {
    public private(set) var state: [UInt64]

    public init(seed: UInt64) {
        var s = seed
        func splitMix() -> UInt64 {
            s &+= RandomGenerator.golden
            return RandomGenerator.mix(s)
        }
        state = [splitMix(), splitMix(), splitMix(), splitMix()]
    }

    /// SplitMix64's counter step γ and its output function: the generator's seeding, and dropout's
    /// counter-based draws.
    static let golden: UInt64 = 0x9E37_79B9_7F4A_7C15
    @inline(__always) static func mix(_ counter: UInt64) -> UInt64 {
        var z = counter
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// The top 24 bits of a draw as a uniform value in [0, 1).
    @inline(__always) static func unit(bits: UInt64) -> Float { Float(bits >> 40) * (1.0 / Float(1 << 24)) }

    public mutating func next() -> UInt64 {
        let result = rotl(state[1] &* 5, 7) &* 9
        let t = state[1] << 17
        state[2] ^= state[0]
        state[3] ^= state[1]
        state[1] ^= state[2]
        state[0] ^= state[3]
        state[2] ^= t
        state[3] = rotl(state[3], 45)
        return result
    }

    private func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    /// out[i] = 0 where draw i falls below `p`, else `keep` (a dropout mask). Draw i is SplitMix64's
    /// output for the counter s + (i + 1)·γ, s being one `next()` of this generator: a counter-based
    /// stream, so the cores fill their parts of the mask at once and the mask does not depend on how
    /// many there are (xoshiro's draws depend each on the last). The generator advances by one draw.
    /// `skip` starts the mask at draw `skip` of the stream: a process holding rows a… of a batch
    /// skips a·(row size) draws and gets the very mask rows a single process draws for them.
    public mutating func fillMask(_ out: UnsafeMutablePointer<Float>, count: Int, dropBelow p: Float, keep: Float, skip: Int = 0) {
        let start = next()
        Threads.parallelRanges(count, minimumPerThread: 1 << 15) { range in
            for i in range {
                out[i] = RandomGenerator.unit(bits: RandomGenerator.mix(start &+ UInt64(skip + i + 1) &* RandomGenerator.golden)) < p ? 0 : keep
            }
        }
    }

    /// Uniform in [0, 1) with 24 bits of precision.
    public mutating func unit() -> Float { RandomGenerator.unit(bits: next()) }

    public mutating func uniform(_ low: Float, _ high: Float) -> Float { low + (high - low) * unit() }

    /// Standard normal by Box–Muller.
    public mutating func normal() -> Float {
        let u1 = max(Double(next() >> 11) * (1.0 / Double(1 << 53)), 1e-300)
        let u2 = Double(next() >> 11) * (1.0 / Double(1 << 53))
        return Float((-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2))
    }

    public mutating func int(below n: Int) -> Int { Int(next() % UInt64(n)) }
}
