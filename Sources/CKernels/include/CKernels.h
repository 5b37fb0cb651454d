#ifndef CAPTIONER_CKERNELS_H
#define CAPTIONER_CKERNELS_H

#include <stddef.h>
#include <stdint.h>

/// Products of a few rows (a beam's hypotheses, one image's features) with a bfloat16 weight:
/// C[m, n] (+)= A[m, k] · Wᵀ (+ bias), W stored [n, k] like a PyTorch Linear weight. Such a product
/// reads all of W for a handful of rows; oneDNN's AMX kernels read it at about half the speed this
/// loop of AVX-512 FMAs reaches (see FewRows.c).

/// 1 when this CPU and OS run AVX-512 (AVX512F; checked once).
int captioner_few_rows_available(void);

/// The CPUs this process may run on (its affinity mask); 0 when it cannot be read.
int captioner_affinity_cpu_count(void);

/// Asks the kernel to kill this process (SIGKILL) when its parent exits; 0 on success.
int captioner_die_with_parent(void);

/// Columns per packed tile, and the most rows one call multiplies.
enum { CAPTIONER_FEW_ROWS_TILE = 64, CAPTIONER_FEW_ROWS_MAX = 4 };

/// bfloat16 values in W's packed copy: tiles of 64 output columns, each tile holding, for every pair
/// of inner indices (k rounded up to even), the 64 columns' two values side by side.
size_t captioner_few_rows_packed_count(int n, int k);

/// Writes w [n, k] (float32, rounded to nearest even) into `packed`; padding is zero.
void captioner_few_rows_pack(const float *w, int n, int k, uint16_t *packed);

/// A [m, k] rounded to bfloat16 (nearest even, as floats) into `rows` [m, 2·⌈k/2⌉], a row's last
/// value zero when k is odd: the A operand `captioner_few_rows_multiply` takes.
void captioner_few_rows_round(const float *a, int m, int k, float *rows);

/// C (row stride n) = (accumulate ? C : 0) + bias + A·Wᵀ, m ≤ 4, 64 columns (one tile) at a time.
/// `rows` holds A rounded to bfloat16, as floats, [m, 2·⌈k/2⌉] (a row's last value zero when k is odd).
/// With `statistics` ([m, tiles, 2], tiles = ⌈n/64⌉), also each row's largest value of C over each
/// tile and Σ e^(C − largest) over the tile: a log-softmax normaliser in pieces. NULL skips them.
/// Every thread of a team calls this with the same `next_tile` counter (starting at 0) and claims
/// `tiles_per_claim` tiles at a time (the last few singly) until none are left, so a thread slowed
/// by the machine leaves its share to the others instead of keeping them waiting.
void captioner_few_rows_multiply(const float *rows, int m, int k, const uint16_t *packed, int n,
                                 const float *bias, float *c, int accumulate, float *statistics,
                                 int tiles_per_claim, int *next_tile);

/// float32 values in W's packed copy for the float32 variant: tiles of 64 output columns, each
/// holding, for every inner index, the 64 columns' values side by side.
size_t captioner_few_rows_packed_count_f32(int n, int k);

/// Writes w [n, k] into `packed` for the float32 variant; padding is zero.
void captioner_few_rows_pack_f32(const float *w, int n, int k, float *packed);

/// `captioner_few_rows_multiply` for `--precision fp32`: A [m, k] as it is and W float32
/// (`captioner_few_rows_pack_f32`), exact float32 products and sums.
void captioner_few_rows_multiply_f32(const float *a, int m, int k, const float *packed, int n,
                                     const float *bias, float *c, int accumulate, float *statistics,
                                     int tiles_per_claim, int *next_tile);

/// Whether this CPU (and its OS) runs the AVX2/FMA variant of the float32 loop.
int captioner_few_rows_avx2_available(void);

/// `captioner_few_rows_multiply_f32` on AVX2 and FMA, for CPUs without AVX-512: the same packing,
/// tile claiming and statistics.
void captioner_few_rows_multiply_f32_avx2(const float *a, int m, int k, const float *packed, int n,
                                          const float *bias, float *c, int accumulate, float *statistics,
                                          int tiles_per_claim, int *next_tile);

/// A team of two threads for a run of few-row products (a beam search), inside one parallel
/// region: the helper thread calls `captioner_team_serve`, which returns after the leader calls
/// `captioner_team_finish`; meanwhile the leader calls `captioner_team_multiply` for each product,
/// which the two share with the results of `captioner_few_rows_multiply`. Between products the
/// helper prefetches into its L2 up to `prefetch_bytes` of the weight that followed the finished
/// one last time, and takes those tiles first when it comes (see FewRows.c).
typedef struct captioner_team captioner_team;
captioner_team *captioner_team_create(int prefetch_bytes);
void captioner_team_destroy(captioner_team *team);
/// Readies a finished team for another run, keeping what it learnt of which product follows which.
void captioner_team_reset(captioner_team *team);
void captioner_team_serve(captioner_team *team);
void captioner_team_multiply(captioner_team *team, const float *rows, int m, int k, const uint16_t *packed, int n,
                             const float *bias, float *c, int accumulate, float *statistics, int tiles_per_claim);
void captioner_team_finish(captioner_team *team);

/// A float32 weight of logical dims K×N (K the product's inner dimension), stored plain — row-major
/// [K][N], or `transposed`: [N][K] — rounded to bfloat16 (nearest even) into oneDNN's BA16a64b2a
/// layout, [⌈N/64⌉][⌈K/32⌉·16][64][2]: for each block of 64 columns, each pair of rows' 64 columns
/// with their two values side by side; zero where N or K is padded (see PairBlocks.c). Writes the
/// column blocks block_begin..<block_end, so threads can share the blocks.
void captioner_pair_blocks(const float *plain, int k, int n, int transposed, uint16_t *blocked,
                           int block_begin, int block_end);

/// The GRU cell's pointwise pass (TensorCore's `Recurrent.gruForward`) for rows row_begin..<row_end,
/// on AVX-512 (only where `captioner_few_rows_available`): from gi (row stride `gi_stride`) and gh
/// [rows, 3H], h' into `out`; with `saved` ([rows, 4H]), also [r | z | n | gh_n]. Bit for bit the
/// Swift loop's values (see RecurrentCells.c).
void captioner_gru_cell(int row_begin, int row_end, int hidden, const float *gi, int gi_stride, const float *gh,
                        const float *h, int h_stride, float *out, int out_stride, float *saved);

/// The LSTM cell's pointwise pass (TensorCore's `Recurrent.lstmForward`) likewise: from gi (row
/// stride `gi_stride`), gh [rows, 4H] and c, h' and c' into `h_out` and `c_out`; with `saved`
/// ([rows, 5H]), also [i | f | g | o | tanh c'].
void captioner_lstm_cell(int row_begin, int row_end, int hidden, const float *gi, int gi_stride, const float *gh,
                         const float *c, int c_stride, float *h_out, int h_out_stride, float *c_out, int c_out_stride,
                         float *saved);

#endif
