// Open MPI's C API, behind the few calls Captioner makes (`Sources/Cluster`). Open MPI's handles
// (MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM) are macros over its own globals that Swift cannot import, so
// the calls are wrapped here. Without Open MPI at build time (no libopenmpi-dev, so pkg-config finds
// no ompi-c and <mpi.h> is absent) the same functions exist and report that MPI is unavailable, so
// the tool builds and runs as a single process. -DCAPTIONER_WITHOUT_MPI forces that build.
#ifndef CAPTIONER_CMPI_SHIM_H
#define CAPTIONER_CMPI_SHIM_H

#include <stdint.h>

#if __has_include(<mpi.h>) && !defined(CAPTIONER_WITHOUT_MPI)
#include <mpi.h>

static inline int captioner_mpi_built(void) { return 1; }

/// MPI_Init_thread, for calls made one at a time from the command's thread; returns 0 on success,
/// -1 if MPI did not start, -2 if it offers no thread support at all.
static inline int captioner_mpi_init(int *rank, int *size) {
    int provided = 0;
    if (MPI_Init_thread(NULL, NULL, MPI_THREAD_SERIALIZED, &provided) != MPI_SUCCESS) return -1;
    if (provided < MPI_THREAD_FUNNELED) { MPI_Finalize(); return -2; }
    MPI_Comm_rank(MPI_COMM_WORLD, rank);
    MPI_Comm_size(MPI_COMM_WORLD, size);
    return 0;
}

/// In-place element-wise sum over every rank, in pieces of at most 2^30 values (MPI counts are int).
static inline int captioner_mpi_sum_floats(float *values, int64_t count) {
    for (int64_t done = 0; done < count;) {
        int piece = (int)(count - done < (1 << 30) ? count - done : (1 << 30));
        if (MPI_Allreduce(MPI_IN_PLACE, values + done, piece, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD) != MPI_SUCCESS) return -1;
        done += piece;
    }
    return 0;
}

/// Every rank's `count`, into counts[size].
static inline int captioner_mpi_gather_counts(int count, int *counts) {
    return MPI_Allgather(&count, 1, MPI_INT, counts, 1, MPI_INT, MPI_COMM_WORLD) == MPI_SUCCESS ? 0 : -1;
}

/// Every rank's values concatenated in rank order, rank r's `counts[r]` of them at `offsets[r]`.
static inline int captioner_mpi_gather_int32(const int32_t *values, int count, int32_t *all, const int *counts, const int *offsets) {
    return MPI_Allgatherv(values, count, MPI_INT32_T, all, counts, offsets, MPI_INT32_T, MPI_COMM_WORLD) == MPI_SUCCESS ? 0 : -1;
}

static inline int captioner_mpi_barrier(void) { return MPI_Barrier(MPI_COMM_WORLD) == MPI_SUCCESS ? 0 : -1; }

static inline void captioner_mpi_abort(int code) { MPI_Abort(MPI_COMM_WORLD, code); }

static inline void captioner_mpi_finalize(void) {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) MPI_Finalize();
}

#else

static inline int captioner_mpi_built(void) { return 0; }
static inline int captioner_mpi_init(int *rank, int *size) { *rank = 0; *size = 1; return -1; }
static inline int captioner_mpi_sum_floats(float *values, int64_t count) { (void)values; (void)count; return -1; }
static inline int captioner_mpi_gather_counts(int count, int *counts) { counts[0] = count; return -1; }
static inline int captioner_mpi_gather_int32(const int32_t *values, int count, int32_t *all, const int *counts, const int *offsets) {
    (void)values; (void)count; (void)all; (void)counts; (void)offsets; return -1;
}
static inline int captioner_mpi_barrier(void) { return -1; }
static inline void captioner_mpi_abort(int code) { (void)code; }
static inline void captioner_mpi_finalize(void) {}

#endif
#endif
