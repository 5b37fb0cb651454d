import CDNNL
import CKernels
import Dispatch
import Foundation
import Synchronization

/// How many cores the kernels use: oneDNN's OpenMP pool and our own parallel loops.
/// Defaults to every core this process may use, or `CAPTIONER_THREADS` when set; `caption --threads`
/// overrides both. A default team follows the machine's load (`followLoad`); a chosen one is fixed.
public enum Threads {
    /// The team as it is now: `requested`, or fewer while other processes take the cores.
    public static var count: Int {
        _ = initialised
        return current.load(ordering: .relaxed)
    }

    /// The team asked for: the default or the user's `--threads`.
    public private(set) static var requested: Int = 1
    /// Whether the user chose the team (`--threads`, `CAPTIONER_THREADS`): then it never follows the load.
    public private(set) static var isFixed = false

    private static let current = Atomic<Int>(1)
    private static let initialised: Bool = {
        let fromEnvironment = environmentCount()
        let n = fromEnvironment ?? min(availableCores(), maximum)
        requested = n
        isFixed = fromEnvironment != nil
        current.store(n, ordering: .relaxed)
        omp_set_num_threads(Int32(n))
        return true
    }()

    /// The most threads the kernels take: beyond this OpenMP fails to start the team.
    public static let maximum = 256

    private static func environmentCount() -> Int? {
        guard let text = ProcessInfo.processInfo.environment["CAPTIONER_THREADS"], let n = Int(text), n > 0 else { return nil }
        return min(n, maximum)
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

    /// Fixes the team at `n` threads (`--threads`).
    public static func set(_ n: Int) {
        precondition(n > 0 && n <= maximum, "thread count must be from 1 to \(maximum)")
        _ = initialised
        requested = n
        isFixed = true
        current.store(n, ordering: .relaxed)
        omp_set_num_threads(Int32(n))
    }

    /// Runs `body` on a team of `size` threads that does not follow the load (training: its results
    /// depend on the team's size, and a seed must give the same run), then goes back to the team before.
    public static func withTeam<T>(_ size: Int, _ body: () throws -> T) rethrows -> T {
        _ = initialised
        let before = current.load(ordering: .relaxed)
        holds.add(1, ordering: .relaxed)
        current.store(size, ordering: .relaxed)
        omp_set_num_threads(Int32(size))
        defer {
            holds.subtract(1, ordering: .relaxed)
            current.store(before, ordering: .relaxed)
            omp_set_num_threads(Int32(before))
        }
        return try body()
    }

    /// The team for a run that keeps one team throughout: `requested`, less the cores other
    /// processes keep busy over the next `seconds` (this thread waits meanwhile); `requested` for a
    /// chosen team.
    public static func teamForNow(measuring seconds: Double = 0.3) -> Int {
        _ = initialised
        guard !isFixed, requested > 1 else { return requested }
        return LoadFollower.shared.teamWhileIdle(requested: requested, seconds: seconds) ?? requested
    }

    private static let holds = Atomic<Int>(0)

    /// Resizes a default team to the cores other processes leave free, and back as they go; called
    /// before each batch is decoded or encoded, on the thread that runs the kernels (not in training:
    /// `withTeam`). Costs a clock read, and twice a second two reads of /proc (see `LoadFollower`).
    public static func followLoad() {
        guard !isFixed, requested > 1, holds.load(ordering: .relaxed) == 0 else { return }
        guard let size = LoadFollower.shared.teamSize(requested: requested, team: current.load(ordering: .relaxed)) else { return }
        current.store(size, ordering: .relaxed)
        if omp_get_max_threads() != Int32(size) { omp_set_num_threads(Int32(size)) }
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

    /// Σ body(piece) over `0..<total` cut into pieces of `piece` elements, summed in piece order.
    /// The pieces do not depend on the thread count, so neither does the result: the ranks of an MPI
    /// job, each with its own team, clip the same summed gradients by the same norm.
    public static func parallelSum(_ total: Int, piece: Int = 16_384, _ body: (Range<Int>) -> Double) -> Double {
        let piece = max(piece, 1)
        let pieces = (total + piece - 1) / piece
        if pieces <= 1 { return body(0..<total) }
        var partials = [Double](repeating: 0, count: pieces)
        partials.withUnsafeMutableBufferPointer { slots in
            parallelRanges(pieces, minimumPerThread: 1) { range in
                for c in range { slots[c] = body((c * piece)..<min(total, (c + 1) * piece)) }
            }
        }
        return partials.reduce(0, +)
    }
}

private struct ParallelJob {
    let total: Int, chunk: Int, chunks: Int
    let body: (Range<Int>) -> Void
}
