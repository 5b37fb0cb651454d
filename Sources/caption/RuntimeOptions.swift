import ArgumentParser
import TensorCore

/// Flags every command that runs the kernels shares.
struct RuntimeOptions: ParsableArguments {
    @Option(name: .long, parsing: .unconditional, help: "CPU threads for the kernels, fixed (default: CAPTIONER_THREADS, else the cores this process may use, fewer while other processes keep them busy).")
    var threads: Int?

    @OptionGroup var precision: PrecisionOption

    func validate() throws {
        if let threads { try OptionCheck.threads(threads) }
    }

    func apply() throws {
        Memory.keepFreedBuffers()
        if let threads {
            try validate()
            Threads.set(threads)
        } else {
            _ = Threads.count
        }
        try precision.apply()
    }
}

/// `--precision`: the arithmetic of the matrix products and the encoders' convolutions (`MatmulPrecision`).
struct PrecisionOption: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Precision of the matrix products and convolutions: fp32 (exact float32), bf16 (bfloat16 operands summed in float32), or auto (bf16 where the CPU multiplies bfloat16 natively: AVX512_BF16 or AMX; else fp32).", valueName: "auto|fp32|bf16"))
    var precision: String = "auto"

    func apply() throws {
        do { Precision.defaultMatmul = try MatmulPrecision(choice: precision) } catch { throw ValidationError(error.description) }
    }
}
