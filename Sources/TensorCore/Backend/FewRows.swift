import CDNNL
import CKernels
import Foundation

/// bfloat16 products of at most four rows with a weight: a beam's hypotheses, one image's pooled
/// features. Such a product reads all of W for a handful of rows, so it runs at about the speed W
/// streams in, and the AVX-512 FMA loop in CKernels' FewRows.c streams it faster than oneDNN's AMX
/// kernels. The sums are the same kind as oneDNN's — bfloat16
/// operands, exact products, float32 accumulation — in another order. Used only on CPUs with
/// AVX-512; elsewhere oneDNN takes these products too. The float32 variant also has an AVX2/FMA loop.
enum FewRows {
    /// The bfloat16 loop needs AVX-512 (FewRows.c); elsewhere oneDNN takes these products.
    static var available: Bool { CPUFeatures.hasAVX512 }
    /// The float32 loop runs on AVX-512, or on AVX2 and FMA.
    static var availableFloat32: Bool { CPUFeatures.hasAVX512 || CPUFeatures.hasAVX2FMA }
    static let maximumRows = CAPTIONER_FEW_ROWS_MAX
    static let tileColumns = CAPTIONER_FEW_ROWS_TILE

    /// A weight's product this path takes: few rows times a cached weight W [n, k] as a Linear holds
    /// it, while decoding. Training (a recording tape) changes W every step, and the last steps of a
    /// packed batch also have few rows: those stay on oneDNN, whose copy of W is re-blocked anyway,
    /// rather than packing W a second time per step.
    /// In float32 (a key neither bfloat16 nor blocked; the caller supplies the weight) the loop
    /// takes W as float32 from about 64 K values on: a beam's products, where oneDNN's float32
    /// GEMM of three rows is slow.
    static func takes(_ key: MatmulKey) -> Bool {
        ((available && key.blockedB) || (availableFloat32 && !key.bfloat16 && !key.blockedB && key.n * key.k >= 1 << 16)) && key.batch == 1
            && key.m <= maximumRows && !key.transposeA && key.transposeB && !Tape.isRecording
    }

    /// Layouts per weight shape, and the scratch for A rounded to bfloat16; used under `MatmulCache`'s lock.
    private struct Shape: Hashable { let n: Int, k: Int, float32: Bool }
    private static var layouts: [Shape: PackedForFewRows] = [:]
    private static var rounded: [Float] = []

    /// C (+)= A·Wᵀ (+ bias), the 64-column tiles of C shared out among the cores as they come free.
    /// With `statistics` ([m, ⌈n/64⌉, 2]), also each row's maximum and Σ e^(C − maximum) over
    /// every 64-column tile (see FewRows.c).
    static func multiply(_ key: MatmulKey, a: UnsafePointer<Float>, weight: TensorStorage,
                         bias: UnsafePointer<Float>?, c: UnsafeMutablePointer<Float>, statistics: UnsafeMutablePointer<Float>? = nil) {
        let (m, n, k) = (key.m, key.n, key.k)
        let shape = Shape(n: n, k: k, float32: !key.bfloat16)
        let layout = layouts[shape] ?? {
            let made = PackedForFewRows(n: n, k: k, float32: shape.float32)
            layouts[shape] = made
            return made
        }()
        let copy = BFloat16WeightCache.shared.blocked(weight, layout: layout)
        // The cores claim about 128 KB of W at a time from one counter; a thread pays for its
        // hand-off from about 256 KB of W on.
        let valueBytes = shape.float32 ? 4 : 2
        let tilesPerClaim = Int32(max(1, 131_072 / max(tileColumns * k * valueBytes, 1)))
        let workers = min(Threads.count, max(1, n * k * valueBytes / 262_144))
        if shape.float32 {
            // A as it is; no team (`withProductHelper` holds one in bfloat16 only).
            let packed = copy.assumingMemoryBound(to: Float.self)
            let loop = CPUFeatures.hasAVX512 ? captioner_few_rows_multiply_f32 : captioner_few_rows_multiply_f32_avx2
            shareTiles(workers: workers) { counter in
                loop(a, Int32(m), Int32(k), packed, Int32(n), bias, c, key.accumulate ? 1 : 0, statistics, tilesPerClaim, counter)
            }
            return
        }
        let packed = copy.assumingMemoryBound(to: UInt16.self)
        // A's rows rounded to bfloat16 (kept as floats, which FewRows.c broadcasts), each padded to whole pairs.
        let paddedK = (k + 1) / 2 * 2
        if rounded.count < m * paddedK { rounded = [Float](repeating: 0, count: m * paddedK) }
        rounded.withUnsafeMutableBufferPointer { captioner_few_rows_round(a, Int32(m), Int32(k), $0.baseAddress) }
        rounded.withUnsafeBufferPointer { rows in
            if workers > 1, let team = Team.led(by: pthread_self()) {
                captioner_team_multiply(team, rows.baseAddress, Int32(m), Int32(k), packed, Int32(n), bias, c,
                                        key.accumulate ? 1 : 0, statistics, tilesPerClaim)
                return
            }
            shareTiles(workers: workers) { counter in
                captioner_few_rows_multiply(rows.baseAddress, Int32(m), Int32(k), packed, Int32(n), bias, c,
                                            key.accumulate ? 1 : 0, statistics, tilesPerClaim, counter)
            }
        }
    }

    /// Runs `claim` on `workers` threads with one shared tile counter, from which each claims
    /// tiles until none are left (FewRows.c's `next_tile`).
    private static func shareTiles(workers: Int, _ claim: (UnsafeMutablePointer<Int32>) -> Void) {
        var nextTile: Int32 = 0
        withUnsafeMutablePointer(to: &nextTile) { counter in
            Threads.parallelRanges(workers, minimumPerThread: 1) { _ in claim(counter) }
        }
    }
}

extension FewRows {
    /// The one team of `Threads.withProductHelper` (one at a time, process-wide) and its leader.
    enum Team {
        private static let lock = NSLock()
        private static var current: (team: OpaquePointer, leader: pthread_t)?
        /// How much of the next product's weight the helper pulls into its L2 between products:
        /// 12 of a beam step's 64 KB tiles. A beam step's gaps last long enough for about that
        /// much, and the tiles must stay in the 2 MB L2 beside the helper's share of the product
        /// before.
        static let prefetchBytes: Int32 = 768 << 10

        static func led(by thread: pthread_t) -> OpaquePointer? {
            lock.lock(); defer { lock.unlock() }
            guard let current, pthread_equal(current.leader, thread) != 0 else { return nil }
            return current.team
        }

        /// Whether the calling thread leads a team.
        static var leading: Bool { led(by: pthread_self()) != nil }

        /// The last team, kept for the next: its table of which weight follows which lets the
        /// helper prefetch from a search's first steps on (the weights are the same search after search).
        private static var spare: OpaquePointer?

        /// A team led by `thread`, or nil while another thread leads one.
        static func start(leader thread: pthread_t) -> OpaquePointer? {
            lock.lock(); defer { lock.unlock() }
            guard current == nil, let team = spare ?? captioner_team_create(prefetchBytes) else { return nil }
            spare = nil
            captioner_team_reset(team)
            current = (team, thread)
            return team
        }

        /// Ends `team` (a second call does nothing).
        static func end(_ team: OpaquePointer) {
            lock.lock(); defer { lock.unlock() }
            guard current?.team == team else { return }
            current = nil
            if let spare { captioner_team_destroy(spare) }
            spare = team
        }
    }
}

extension Threads {
    /// Runs `body` — few-row products separated by serial work, such as the steps of a beam search
    /// — with the second core held for it in one parallel region, as the helper of each few-row
    /// product `body` makes on this thread (see FewRows.c's team). Between products the helper
    /// prefetches the next product's first tiles into its L2 instead of idling, and no product pays
    /// for waking it. Inside, every other parallel loop and oneDNN primitive of `body` runs on this
    /// thread alone, so `rows`, the products' row count, must be one the few-row loop takes; with
    /// more rows, in float32, without AVX-512, on other than two threads, or while another thread
    /// leads a team, `body` simply runs. Only bfloat16 products go to the team: in float32 a held
    /// helper would spin while the rest ran on one core.
    public static func withProductHelper<T>(rows: Int, _ body: () -> T) -> T {
        guard FewRows.available, Precision.current == .bfloat16, count == 2, rows <= FewRows.maximumRows,
              let team = FewRows.Team.start(leader: pthread_self()) else { return body() }
        defer { FewRows.Team.end(team) }
        var result: T?
        withoutActuallyEscaping(body) { body in
            var job = TeamJob(team: team, body: { result = body() })
            withUnsafeMutablePointer(to: &job) { pointer in
                GOMP_parallel({ raw in
                    let job = raw!.assumingMemoryBound(to: TeamJob.self).pointee
                    switch (omp_get_num_threads(), omp_get_thread_num()) {
                    case (2..., 0):
                        job.body()
                        captioner_team_finish(job.team)
                    case (2..., 1):
                        captioner_team_serve(job.team)
                    case (1, _):
                        // A team of one (a nested region): the leader's products find no helper
                        // waiting, so they must not go to the team.
                        FewRows.Team.end(job.team)
                        job.body()
                    default:
                        break
                    }
                }, pointer, 2, 0)
            }
        }
        return result!
    }
}

private struct TeamJob {
    let team: OpaquePointer
    let body: () -> Void
}

/// W [n, k] in FewRows.c's packing: 64-column tiles, each one sequential stream of bfloat16 pairs,
/// or of float32 values for the float32 variant.
final class PackedForFewRows: WeightLayout {
    let identity: Int
    let bytes: Int
    private let n: Int, k: Int, float32: Bool

    init(n: Int, k: Int, float32: Bool = false) {
        self.n = n
        self.k = k
        self.float32 = float32
        identity = LayoutNumbers.shared.number(for: Array("few-rows \(float32 ? "float32" : "bfloat16") \(n)×\(k)".utf8))
        bytes = float32 ? captioner_few_rows_packed_count_f32(Int32(n), Int32(k)) * 4
                        : captioner_few_rows_packed_count(Int32(n), Int32(k)) * 2
    }

    func write(_ weight: UnsafePointer<Float>, into target: UnsafeMutableRawPointer) {
        if float32 {
            captioner_few_rows_pack_f32(weight, Int32(n), Int32(k), target.assumingMemoryBound(to: Float.self))
        } else {
            captioner_few_rows_pack(weight, Int32(n), Int32(k), target.assumingMemoryBound(to: UInt16.self))
        }
    }
}
