import Foundation

/// Seeded generator (xoshiro256**, seeded through SplitMix64): the same seed gives the same
/// initialisation, dropout masks and shuffles on every machine.
public struct RandomGenerator: RandomNumberGenerator, Codable, Equatable {
    public private(set) var state: [UInt64]

    public init(seed: UInt64) {
        var s = seed
        func splitMix() -> UInt64 {
            s &+= 0x9E37_79B9_7F4A_7C15
            var z = s
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        state = [splitMix(), splitMix(), splitMix(), splitMix()]
    }

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

    /// out[i] = 0 where the i-th `unit()` draw falls below `p`, else `keep`: exactly the draws and
    /// values of calling `unit()` `count` times, with the state held in registers (a dropout mask).
    public mutating func fillMask(_ out: UnsafeMutablePointer<Float>, count: Int, dropBelow p: Float, keep: Float) {
        var (s0, s1, s2, s3) = (state[0], state[1], state[2], state[3])
        for i in 0..<count {
            let result = rotl(s1 &* 5, 7) &* 9
            let t = s1 << 17
            s2 ^= s0
            s3 ^= s1
            s1 ^= s2
            s0 ^= s3
            s2 ^= t
            s3 = rotl(s3, 45)
            out[i] = Float(result >> 40) * (1.0 / Float(1 << 24)) < p ? 0 : keep
        }
        state = [s0, s1, s2, s3]
    }

    /// Uniform in [0, 1) with 24 bits of precision.
    public mutating func unit() -> Float { Float(next() >> 40) * (1.0 / Float(1 << 24)) }

    public mutating func uniform(_ low: Float, _ high: Float) -> Float { low + (high - low) * unit() }

    /// Standard normal by Box–Muller.
    public mutating func normal() -> Float {
        let u1 = max(Double(next() >> 11) * (1.0 / Double(1 << 53)), 1e-300)
        let u2 = Double(next() >> 11) * (1.0 / Double(1 << 53))
        return Float((-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2))
    }

    public mutating func int(below n: Int) -> Int { Int(next() % UInt64(n)) }
}
