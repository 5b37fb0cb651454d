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

    /// The most threads the kernels take: beyond this OpenMP fails to start the team.
    public static let maximum = 256

    public static func defaultCount() -> Int {
        if let text = ProcessInfo.processInfo.environment["CAPTIONER_THREADS"], let n = Int(text), n > 0 { return min(n, maximum) }
        return ProcessInfo.processInfo.activeProcessorCount
    }

    public static func set(_ n: Int) {
        precondition(n > 0 && n <= maximum, "thread count must be from 1 to \(maximum)")
        count = n
        omp_set_num_threads(Int32(n))
    }

    /// Runs `body` over `0..<total` split into contiguous chunks, in parallel when the work is
    /// large enough to pay for the hand-off. The chunks run on the OpenMP team oneDNN uses (through
    /// `GOMP_parallel`), not on Dispatch threads: OpenMP workers spin for a while after each GEMM,
    /// and Dispatch threads started then would compete with them for the same cores.
    public static func parallelRanges(_ total: Int, minimumPerThread: Int = 16_384, _ body: (Range<Int>) -> Void) {
        let workers = min(count, max(1, total / max(minimumPerThread, 1)))
        if workers <= 1 { body(0..<total); return }
        let chunk = (total + workers - 1) / workers
        withoutActuallyEscaping(body) { body in
            var job = ParallelJob(total: total, chunk: chunk, chunks: workers, body: body)
            withUnsafeMutablePointer(to: &job) { pointer in
                GOMP_parallel({ raw in
                    let job = raw!.assumingMemoryBound(to: ParallelJob.self).pointee
                    // The team may be smaller than asked for (nested regions run on one thread):
                    // each thread takes every team-size-th chunk, so every chunk runs exactly once.
                    let team = Int(omp_get_num_threads()), me = Int(omp_get_thread_num())
                    for c in stride(from: me, to: job.chunks, by: max(team, 1)) {
                        let start = c * job.chunk, end = min(job.total, start + job.chunk)
                        if start < end { job.body(start..<end) }
                    }
                }, pointer, UInt32(workers), 0)
            }
        }
    }
}

extension Threads {
    /// `minimumPerThread` for a loop over rows of `rowWork` values each: enough rows that a thread's
    /// share pays for the hand-off (a 64×512 recurrent batch splits across two cores, a beam's three
    /// rows do not).
    static func minimumRows(rowWork: Int) -> Int { max(1, 16_384 / max(rowWork, 1)) }

    /// Σ body(chunk) over `0..<total` split into one contiguous chunk per worker, summed in chunk
    /// order: the same split and order for the same thread count, so the result is reproducible.
    public static func parallelSum(_ total: Int, minimumPerThread: Int = 16_384, _ body: (Range<Int>) -> Double) -> Double {
        let workers = min(count, max(1, total / max(minimumPerThread, 1)))
        if workers <= 1 { return body(0..<total) }
        let chunk = (total + workers - 1) / workers
        var partials = [Double](repeating: 0, count: workers)
        partials.withUnsafeMutableBufferPointer { slots in
            parallelRanges(workers, minimumPerThread: 1) { chunks in
                for c in chunks { slots[c] = body((c * chunk)..<min(total, (c + 1) * chunk)) }
            }
        }
        return partials.reduce(0, +)
    }
}

private struct ParallelJob {
    let total: Int, chunk: Int, chunks: Int
    let body: (Range<Int>) -> Void
}
