import ArgumentParser
import TensorCore

/// Flags every command shares.
struct RuntimeOptions: ParsableArguments {
    @Option(name: .long, help: "CPU threads for the kernels (default: all cores, or CAPTIONER_THREADS).")
    var threads: Int?

    func apply() throws {
        if let threads {
            guard threads > 0 else { throw ValidationError("--threads must be a positive number, not \(threads).") }
            Threads.set(threads)
        } else {
            _ = Threads.count
        }
    }
}
