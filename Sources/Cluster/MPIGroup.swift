import CMPI
import Captioning
import Foundation

/// The ranks of an MPI job (`mpirun`, or Slurm's `srun --mpi=pmix`) as a `ProcessGroup`: Open MPI's
/// MPI_COMM_WORLD. One per process, made by `join`; `finish` ends the job's MPI state.
public final class MPIGroup: ProcessGroup {
    public let rank: Int
    public let size: Int

    private init(rank: Int, size: Int) {
        self.rank = rank
        self.size = size
    }

    /// Whether this build has Open MPI (`libopenmpi-dev` was present when it was built).
    public static var isBuilt: Bool { captioner_mpi_built() != 0 }

    /// The job this process was started in, or nil when no MPI launcher started it (then it runs
    /// alone, without touching MPI). Open MPI's mpirun sets OMPI_COMM_WORLD_SIZE; PMIx launchers
    /// (srun --mpi=pmix, prterun) set PMIX_RANK.
    public static func join(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> MPIGroup? {
        let launched = environment["OMPI_COMM_WORLD_SIZE"] != nil || environment["PMIX_RANK"] != nil
        if !launched { return nil }
        guard isBuilt else {
            throw ClusterError("this caption was built without Open MPI, so it cannot share work with the other ranks of an mpirun: "
                               + "run scripts/bootstrap (it installs libopenmpi-dev) and rebuild, or run without mpirun.")
        }
        var rank: Int32 = 0, size: Int32 = 1
        switch captioner_mpi_init(&rank, &size) {
        case 0: break
        case -2: throw ClusterError("this Open MPI was built without thread support, which caption needs (its kernels run threads beside MPI): use Debian's openmpi-bin.")
        default: throw ClusterError("MPI_Init failed: check that mpirun and this caption use the same Open MPI.")
        }
        return MPIGroup(rank: Int(rank), size: Int(size))
    }

    public func sum(_ values: UnsafeMutableBufferPointer<Float>) {
        guard let base = values.baseAddress, values.count > 0 else { return }
        check(captioner_mpi_sum_floats(base, Int64(values.count)), "MPI_Allreduce")
    }

    public func gather(_ values: [Int32]) -> [[Int32]] {
        var counts = [Int32](repeating: 0, count: size)
        check(captioner_mpi_gather_counts(Int32(values.count), &counts), "MPI_Allgather")
        var offsets = [Int32](repeating: 0, count: size)
        for r in 1..<max(size, 1) { offsets[r] = offsets[r - 1] + counts[r - 1] }
        var all = [Int32](repeating: 0, count: Int(counts.reduce(0, +)))
        values.withUnsafeBufferPointer { mine in
            all.withUnsafeMutableBufferPointer { out in
                check(captioner_mpi_gather_int32(mine.baseAddress, Int32(values.count), out.baseAddress, counts, offsets), "MPI_Allgatherv")
            }
        }
        return (0..<size).map { r in Array(all[Int(offsets[r])..<Int(offsets[r] + counts[r])]) }
    }

    public func barrier() { check(captioner_mpi_barrier(), "MPI_Barrier") }

    /// Ends this rank's part of the job after its last collective call (MPI_Finalize).
    public func finish() { captioner_mpi_finalize() }

    /// Stops every rank of the job with `code` (MPI_Abort): for a rank that fails alone, whose
    /// partners would otherwise wait for it forever.
    public func abort(code: Int32) -> Never {
        captioner_mpi_abort(code)
        exit(code)
    }

    /// Open MPI's default error handler aborts the job before a call returns an error; this is for
    /// one that was told otherwise.
    private func check(_ status: Int32, _ call: String) {
        if status != 0 {
            FileHandle.standardError.write(Data("caption: \(call) failed on rank \(rank) of \(size); stopping the job.\n".utf8))
            abort(code: 1)
        }
    }
}

public struct ClusterError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
