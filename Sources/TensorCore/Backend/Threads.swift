import CDNNL
import CKernels
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
        return min(availableCores(), maximum)
    }

    /// The cores this process may use: the online ones, narrowed by its CPU affinity (`taskset`,
    /// cpusets) and by a cgroup CPU quota (`docker --cpus`, CI runners), rounded up. A team larger
    /// than this would have its threads take turns on the same cores, each waiting for the others.
    public static func availableCores() -> Int {
        var cores = ProcessInfo.processInfo.activeProcessorCount
        let affinity = Int(captioner_affinity_cpu_count())
        if affinity > 0 { cores = min(cores, affinity) }
        if let quota = cgroupQuota() { cores = min(cores, max(1, Int(quota.rounded(.up)))) }
        return max(cores, 1)
    }

    /// The CPU quota of this process's cgroup in cores (cgroup v2 `cpu.max`, or v1's
    /// `cpu.cfs_quota_us` / `cpu.cfs_period_us`), nil when there is none.
    static func cgroupQuota(root: String = "/sys/fs/cgroup") -> Double? {
        func read(_ path: String) -> String? {
            (try? String(contentsOfFile: root + "/" + path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        if let max = read("cpu.max") {
            let fields = max.split(separator: " ")
            guard fields.count == 2, let quota = Double(fields[0]), let period = Double(fields[1]), period > 0 else { return nil }
            return quota / period    // "max 100000": no quota, and Double("max") is nil
        }
        if let quota = read("cpu/cpu.cfs_quota_us").flatMap(Double.init), quota > 0,
           let period = read("cpu/cpu.cfs_period_us").flatMap(Double.init), period > 0 {
            return quota / period
        }
        return nil
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
