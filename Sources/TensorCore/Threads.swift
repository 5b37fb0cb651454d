import CDNNL
import Dispatch
import Foundation

/// How many cores the kernels use: oneDNN's OpenMP pool and our own parallel loops.
/// Defaults to every core, or `CAPTIONER_THREADS` when set; `caption --threads` overrides both.
public enum Threads {
    public private(set) static var count: Int = {
        let n = defaultCount()
        omp_set_num_threads(Int32(n))
        return n
    }()

    public static func defaultCount() -> Int {
        if let text = ProcessInfo.processInfo.environment["CAPTIONER_THREADS"], let n = Int(text), n > 0 { return n }
        return ProcessInfo.processInfo.activeProcessorCount
    }

    public static func set(_ n: Int) {
        precondition(n > 0, "thread count must be positive")
        count = n
        omp_set_num_threads(Int32(n))
    }

    /// Runs `body` over `0..<total` split into contiguous chunks, in parallel when the work is
    /// large enough to pay for the hand-off.
    static func parallelRanges(_ total: Int, minimumPerThread: Int = 16_384, _ body: (Range<Int>) -> Void) {
        let workers = min(count, max(1, total / max(minimumPerThread, 1)))
        if workers <= 1 { body(0..<total); return }
        let chunk = (total + workers - 1) / workers
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            let start = w * chunk
            let end = min(total, start + chunk)
            if start < end { body(start..<end) }
        }
    }
}
