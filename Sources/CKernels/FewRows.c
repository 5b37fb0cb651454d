// A few rows times a bfloat16 weight, on AVX-512 float32 FMAs.
//
//   C[r, j] = (accumulate ? C[r, j] : 0) + bias[j] + Σ_p  a[r, 2p]·w[j, 2p] + a[r, 2p+1]·w[j, 2p+1]
//
// A's rows arrive already rounded to bfloat16 (as floats); W is bfloat16. A bfloat16 value is the
// top half of a float32, so one shift and one mask widen a 32-bit lane holding the pair
// (w[j, 2p], w[j, 2p+1]) into two exact float32 lanes, and plain FMAs sum the exact products in
// float32: bfloat16 operands and float32 sums, as oneDNN's AMX path, in another order.
// Why not VDPBF16PS, which does both products of a pair in one instruction: on this machine's cores
// it issues at about one per two cycles against two FMAs per cycle, so for three rows (a beam) the
// widening plus 6 FMAs per 64 bytes of W beat 3 VDPBF16PS by about 40% once W is in cache.
// The weight is packed so that one tile (64 columns) is a single sequential stream: for each pair p,
// 64 columns × 2 values = 256 bytes. The float32 variant (`--precision fp32`) packs W as float32,
// for each inner index 64 columns = 256 bytes, and sums A's rows as they are: exact float32
// products and sums, in another order than oneDNN's. Every weight byte is read once per call and
// feeds m rows, so the loop runs at about the speed the cache hierarchy delivers W. The float32
// variant also has an AVX2/FMA version for CPUs without AVX-512 (below the AVX-512 loops).

#include "CKernels.h"
#include "Rounding.h"

#include <stdlib.h>
#include <string.h>

/// 64-column tiles in a product of n columns, and bfloat16 values in one packed tile of inner size k.
static inline int tile_count(int n) { return (n + CAPTIONER_FEW_ROWS_TILE - 1) / CAPTIONER_FEW_ROWS_TILE; }
static inline size_t tile_values(int k) { return (size_t)((k + 1) / 2) * 2 * CAPTIONER_FEW_ROWS_TILE; }
/// float32 values in one packed tile of the float32 variant.
static inline size_t tile_values_f32(int k) { return (size_t)k * CAPTIONER_FEW_ROWS_TILE; }

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>

int captioner_few_rows_available(void) {
    static int known = -1;
    if (known >= 0) return known;
    unsigned a, b, c, d;
    int ok = 0;
    if (__get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 27))) {                 // OSXSAVE
        unsigned lo, hi;
        __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
        int zmmState = (lo & 0xE6) == 0xE6;                                      // SSE, AVX, opmask, ZMM
        unsigned b7 = 0;
        if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) b7 = b;
        ok = zmmState && ((b7 >> 16) & 1);                                       // AVX512F
    }
    known = ok;
    return ok;
}

#define FEW_ROWS_TARGET __attribute__((target("avx512f")))

/// Both tile loops' accumulators zeroed: acc's m rows, and odd's when the odd terms go apart.
FEW_ROWS_TARGET
static inline __attribute__((always_inline))
void zero(__m512 acc[CAPTIONER_FEW_ROWS_MAX][4], __m512 odd[2][4], const int m, const int split) {
    for (int r = 0; r < m; r++)
        for (int b = 0; b < 4; b++) acc[r][b] = _mm512_setzero_ps();
    if (split)
        for (int r = 0; r < m; r++)
            for (int b = 0; b < 4; b++) odd[r][b] = _mm512_setzero_ps();
}

/// The odd terms' sums added into acc.
FEW_ROWS_TARGET
static inline __attribute__((always_inline))
void fold(__m512 acc[CAPTIONER_FEW_ROWS_MAX][4], __m512 odd[2][4], const int m) {
    for (int r = 0; r < m; r++)
        for (int b = 0; b < 4; b++) acc[r][b] = _mm512_add_ps(acc[r][b], odd[r][b]);
}

/// acc[r][b] = Σ_p rows[r, 2p]·w_even + rows[r, 2p+1]·w_odd for one tile's 4 × 16 columns.
/// Up to two rows, the odd half sums into its own registers: a single row's four chains of two
/// dependent FMAs per pair would otherwise wait on latency, not throughput.
FEW_ROWS_TARGET
static inline __attribute__((always_inline))
void tile(const float *rows, const int m, int kp, const uint16_t *w, __m512 acc[CAPTIONER_FEW_ROWS_MAX][4]) {
    const int split = m <= 2;
    const __m512i high = _mm512_set1_epi32((int)0xFFFF0000u);
    __m512 odd[2][4];
    zero(acc, odd, m, split);
    for (int p = 0; p < kp; p++, w += 2 * CAPTIONER_FEW_ROWS_TILE) {
        // The next 2 KB of W asked for ahead: the hardware's streamer stops at each 4 KB page, and
        // W streams from L3 (a beam step reads 4.6 MB of it). About 10% off a beam step's products.
        const char *ahead = (const char *)w + 2048;
        for (int line = 0; line < 4; line++) _mm_prefetch(ahead + 64 * line, _MM_HINT_T0);
        for (int b = 0; b < 4; b++) {
            __m512i pairs = _mm512_load_si512((const void *)(w + 32 * b));
            __m512 even = _mm512_castsi512_ps(_mm512_slli_epi32(pairs, 16));          // w[j, 2p]
            __m512 oddW = _mm512_castsi512_ps(_mm512_and_si512(pairs, high));         // w[j, 2p+1]
            for (int r = 0; r < m; r++) {
                const float *x = rows + (size_t)r * 2 * kp + 2 * p;
                acc[r][b] = _mm512_fmadd_ps(_mm512_set1_ps(x[0]), even, acc[r][b]);
                if (split) odd[r][b] = _mm512_fmadd_ps(_mm512_set1_ps(x[1]), oddW, odd[r][b]);
                else acc[r][b] = _mm512_fmadd_ps(_mm512_set1_ps(x[1]), oddW, acc[r][b]);
            }
        }
    }
    if (split) fold(acc, odd, m);
}

/// The float32 variant of `tile`: acc[r][b] = Σ_i rows[r, i]·w[j, i], W packed as k runs of 64
/// float32 columns; two inner indices per iteration, the second into its own registers up to two rows.
FEW_ROWS_TARGET
static inline __attribute__((always_inline))
void tile_f32(const float *rows, const int m, int k, const float *w, __m512 acc[CAPTIONER_FEW_ROWS_MAX][4]) {
    const int split = m <= 2;
    __m512 odd[2][4];
    zero(acc, odd, m, split);
    int i = 0;
    for (; i + 1 < k; i += 2, w += 2 * CAPTIONER_FEW_ROWS_TILE) {
        const char *ahead = (const char *)w + 2048;            // as in `tile`: 2 KB ahead
        for (int line = 0; line < 8; line++) _mm_prefetch(ahead + 64 * line, _MM_HINT_T0);
        for (int b = 0; b < 4; b++) {
            const __m512 first = _mm512_load_ps(w + 16 * b);
            const __m512 second = _mm512_load_ps(w + CAPTIONER_FEW_ROWS_TILE + 16 * b);
            for (int r = 0; r < m; r++) {
                const float *x = rows + (size_t)r * k + i;
                acc[r][b] = _mm512_fmadd_ps(_mm512_set1_ps(x[0]), first, acc[r][b]);
                if (split) odd[r][b] = _mm512_fmadd_ps(_mm512_set1_ps(x[1]), second, odd[r][b]);
                else acc[r][b] = _mm512_fmadd_ps(_mm512_set1_ps(x[1]), second, acc[r][b]);
            }
        }
    }
    if (i < k)
        for (int b = 0; b < 4; b++) {
            const __m512 last = _mm512_load_ps(w + 16 * b);
            for (int r = 0; r < m; r++) acc[r][b] = _mm512_fmadd_ps(_mm512_set1_ps(rows[(size_t)r * k + i]), last, acc[r][b]);
        }
    if (split) fold(acc, odd, m);
}

/// e^x for x ≤ 0 (a shifted logit), with TensorCore's `fastExp`'s range reduction and polynomial
/// (FastMath.swift): x = n·ln 2 + r, e^r by a degree-7 polynomial, then scaled by 2ⁿ; 0 below −87.3.
/// The constants serve the sixteen- and the eight-lane versions.
static const float exp_floor = -87.336544f, exp_log2e = 1.44269504f;
static const float exp_ln2_high = 0.693359375f, exp_ln2_low = -2.1219444e-4f;
static const float exp_poly[6] = {1.9875691e-4f, 1.3981999e-3f, 8.333452e-3f, 4.1665796e-2f, 1.6666665e-1f, 5e-1f};

FEW_ROWS_TARGET
static inline __attribute__((always_inline)) __m512 exp_nonpositive(__m512 x) {
    const __m512 low = _mm512_set1_ps(exp_floor);
    __mmask16 under = _mm512_cmp_ps_mask(x, low, _CMP_LT_OQ);
    __m512 c = _mm512_max_ps(x, low);
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(c, _mm512_set1_ps(exp_log2e)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_sub_ps(c, _mm512_mul_ps(n, _mm512_set1_ps(exp_ln2_high)));
    r = _mm512_sub_ps(r, _mm512_mul_ps(n, _mm512_set1_ps(exp_ln2_low)));
    __m512 p = _mm512_set1_ps(exp_poly[0]);
    for (int i = 1; i < 6; i++) p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(exp_poly[i]));
    p = _mm512_add_ps(_mm512_add_ps(_mm512_mul_ps(p, _mm512_mul_ps(r, r)), r), _mm512_set1_ps(1));
    return _mm512_maskz_scalef_ps((__mmask16)~under, p, n);
}

/// One tile's C columns (+ bias, + C when accumulating), stored; with `statistics`, also each
/// row's largest value over the tile's columns and Σ e^(value − largest): the pieces of a
/// log-softmax normaliser, taken while the values are in registers (a beam's logits).
FEW_ROWS_TARGET
static inline __attribute__((always_inline))
void multiply(const float *rows, const int m, int k, const void *packed, int wide, int n,
              const float *bias, float *c, int accumulate, float *statistics, int tile_begin, int tile_end) {
    const int kp = (k + 1) / 2;
    const int tiles = tile_count(n);
    for (int t = tile_begin; t < tile_end; t++) {
        __m512 acc[CAPTIONER_FEW_ROWS_MAX][4];
        __mmask16 masks[4];
        if (wide) tile_f32(rows, m, k, (const float *)packed + t * tile_values_f32(k), acc);
        else tile(rows, m, kp, (const uint16_t *)packed + t * tile_values(k), acc);
        for (int b = 0; b < 4; b++) {
            int col = t * CAPTIONER_FEW_ROWS_TILE + b * 16;
            masks[b] = col >= n ? 0 : n - col >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - col)) - 1);
            if (!masks[b]) continue;
            __m512 add = bias ? _mm512_maskz_loadu_ps(masks[b], bias + col) : _mm512_setzero_ps();
            for (int r = 0; r < m; r++) {
                float *out = c + (size_t)r * n + col;
                acc[r][b] = _mm512_add_ps(acc[r][b], add);
                if (accumulate) acc[r][b] = _mm512_add_ps(acc[r][b], _mm512_maskz_loadu_ps(masks[b], out));
                _mm512_mask_storeu_ps(out, masks[b], acc[r][b]);
            }
        }
        if (!statistics) continue;
        const __m512 none = _mm512_set1_ps(-__builtin_inff());
        for (int r = 0; r < m; r++) {
            __m512 largest = none;
            for (int b = 0; b < 4; b++) largest = _mm512_mask_max_ps(largest, masks[b], largest, acc[r][b]);
            const float top = _mm512_reduce_max_ps(largest);
            const __m512 shift = _mm512_set1_ps(top);
            __m512 sums = _mm512_setzero_ps();
            for (int b = 0; b < 4; b++)
                sums = _mm512_mask_add_ps(sums, masks[b], sums, exp_nonpositive(_mm512_sub_ps(acc[r][b], shift)));
            float *out = statistics + ((size_t)r * tiles + t) * 2;
            out[0] = top;
            out[1] = _mm512_reduce_add_ps(sums);
        }
    }
}

/// Claims the next tiles from `next_tile`: `tiles_per_claim` at a time, the last few one at a time
/// (a thread that finds none left waits for the other's last claim, and a 64 KB tile takes 3 µs
/// when W streams from L3). False when none are left.
static inline int claim_next(int *next_tile, int tiles, int tiles_per_claim, int *begin, int *end) {
    const int claim = tiles_per_claim > 0 ? tiles_per_claim : 1;
    int first = __atomic_load_n(next_tile, __ATOMIC_RELAXED);
    for (;;) {
        if (first >= tiles) return 0;
        const int take = tiles - first > 4 * claim ? claim : 1;
        if (__atomic_compare_exchange_n(next_tile, &first, first + take, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
            *begin = first;
            *end = first + take;
            return 1;
        }
    }
}

/// Computes claimed tiles (`claim_next`) until none are left, up to tile `tiles`. `wide`: W is the
/// float32 variant's packing.
FEW_ROWS_TARGET
static void claim_tiles(const float *rows, int m, int k, const void *packed, int wide, int n,
                        const float *bias, float *c, int accumulate, float *statistics,
                        int tiles_per_claim, int *next_tile, int tiles) {
    int begin, end;
    while (claim_next(next_tile, tiles, tiles_per_claim, &begin, &end)) {
        // A constant row count per call, so the row loops unroll and the accumulators stay in registers.
        switch (m) {
        case 1: multiply(rows, 1, k, packed, wide, n, bias, c, accumulate, statistics, begin, end); break;
        case 2: multiply(rows, 2, k, packed, wide, n, bias, c, accumulate, statistics, begin, end); break;
        case 3: multiply(rows, 3, k, packed, wide, n, bias, c, accumulate, statistics, begin, end); break;
        case 4: multiply(rows, 4, k, packed, wide, n, bias, c, accumulate, statistics, begin, end); break;
        default: __builtin_trap();
        }
    }
}

FEW_ROWS_TARGET
void captioner_few_rows_round(const float *a, int m, int k, float *rows) {
    const int padded = (k + 1) / 2 * 2;
    for (int r = 0; r < m; r++) {
        const float *source = a + (size_t)r * k;
        float *target = rows + (size_t)r * padded;
        for (int i = 0; i < padded; i += 16) {
            // Lanes past k read nothing and write zero: the pad of an odd k.
            const __mmask16 read = k - i >= 16 ? (__mmask16)0xFFFF : k > i ? (__mmask16)((1u << (k - i)) - 1) : 0;
            const __mmask16 write = padded - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (padded - i)) - 1);
            _mm512_mask_storeu_ps(target + i, write, _mm512_castsi512_ps(rounded_high(_mm512_maskz_loadu_ps(read, source + i))));
        }
    }
}

FEW_ROWS_TARGET
void captioner_few_rows_multiply(const float *rows, int m, int k, const uint16_t *packed, int n,
                                 const float *bias, float *c, int accumulate, float *statistics,
                                 int tiles_per_claim, int *next_tile) {
    claim_tiles(rows, m, k, packed, 0, n, bias, c, accumulate, statistics, tiles_per_claim, next_tile, tile_count(n));
}

FEW_ROWS_TARGET
void captioner_few_rows_multiply_f32(const float *a, int m, int k, const float *packed, int n,
                                     const float *bias, float *c, int accumulate, float *statistics,
                                     int tiles_per_claim, int *next_tile) {
    claim_tiles(a, m, k, packed, 1, n, bias, c, accumulate, statistics, tiles_per_claim, next_tile, tile_count(n));
}

// MARK: - The float32 variant on AVX2 and FMA
//
// The same product, packing and tile claiming for CPUs without AVX-512: eight lanes, and only 16
// vector registers, so a tile's 64 columns go in four passes of 16 (two vectors per row, up to 8
// accumulators), each pass reading one 64-byte line of every inner index's 256-byte run. For one
// or two rows the odd inner indices go into their own accumulators, so more FMAs are in flight.

int captioner_few_rows_avx2_available(void) {
    static int known = -1;
    if (known >= 0) return known;
    unsigned a, b, c, d;
    int ok = 0;
    if (__get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 27)) && (c & (1u << 12))) {   // OSXSAVE, FMA
        unsigned lo, hi;
        __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
        unsigned b7 = 0;
        if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) b7 = b;
        ok = (lo & 0x6) == 0x6 && ((b7 >> 5) & 1);                                      // SSE and AVX state, AVX2
    }
    known = ok;
    return ok;
}

#define FEW_ROWS_AVX2 __attribute__((target("avx2,fma")))

/// `exp_nonpositive` on eight lanes: the same constants, 2ⁿ made from its exponent bits.
FEW_ROWS_AVX2
static inline __attribute__((always_inline)) __m256 exp_nonpositive_avx2(__m256 x) {
    const __m256 low = _mm256_set1_ps(exp_floor);
    const __m256 under = _mm256_cmp_ps(x, low, _CMP_LT_OQ);
    const __m256 c = _mm256_max_ps(x, low);
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(c, _mm256_set1_ps(exp_log2e)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_sub_ps(c, _mm256_mul_ps(n, _mm256_set1_ps(exp_ln2_high)));
    r = _mm256_sub_ps(r, _mm256_mul_ps(n, _mm256_set1_ps(exp_ln2_low)));
    __m256 p = _mm256_set1_ps(exp_poly[0]);
    for (int i = 1; i < 6; i++) p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(exp_poly[i]));
    p = _mm256_add_ps(_mm256_add_ps(_mm256_mul_ps(p, _mm256_mul_ps(r, r)), r), _mm256_set1_ps(1));
    const __m256 scale = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23));
    return _mm256_andnot_ps(under, _mm256_mul_ps(p, scale));
}

/// acc[r][0..1] = Σ_i rows[r, i]·w[i][0..15]: one 16-column pass over a packed tile (w points at
/// the pass's first column; inner indices are 64 floats apart).
FEW_ROWS_AVX2
static inline __attribute__((always_inline))
void pass_f32_avx2(const float *rows, const int m, int k, const float *w, __m256 acc[CAPTIONER_FEW_ROWS_MAX][2]) {
    const int split = m <= 2;
    __m256 odd[2][2];
    for (int r = 0; r < m; r++) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
    if (split)
        for (int r = 0; r < m; r++) odd[r][0] = odd[r][1] = _mm256_setzero_ps();
    int i = 0;
    for (; i + 1 < k; i += 2, w += 2 * CAPTIONER_FEW_ROWS_TILE) {
        _mm_prefetch((const char *)w + 8 * 4 * CAPTIONER_FEW_ROWS_TILE, _MM_HINT_T0);   // eight inner indices ahead
        _mm_prefetch((const char *)w + 9 * 4 * CAPTIONER_FEW_ROWS_TILE, _MM_HINT_T0);
        const __m256 a0 = _mm256_load_ps(w), a1 = _mm256_load_ps(w + 8);
        const __m256 b0 = _mm256_load_ps(w + CAPTIONER_FEW_ROWS_TILE), b1 = _mm256_load_ps(w + CAPTIONER_FEW_ROWS_TILE + 8);
        for (int r = 0; r < m; r++) {
            const float *x = rows + (size_t)r * k + i;
            const __m256 first = _mm256_broadcast_ss(x), second = _mm256_broadcast_ss(x + 1);
            acc[r][0] = _mm256_fmadd_ps(first, a0, acc[r][0]);
            acc[r][1] = _mm256_fmadd_ps(first, a1, acc[r][1]);
            if (split) {
                odd[r][0] = _mm256_fmadd_ps(second, b0, odd[r][0]);
                odd[r][1] = _mm256_fmadd_ps(second, b1, odd[r][1]);
            } else {
                acc[r][0] = _mm256_fmadd_ps(second, b0, acc[r][0]);
                acc[r][1] = _mm256_fmadd_ps(second, b1, acc[r][1]);
            }
        }
    }
    if (i < k) {
        const __m256 a0 = _mm256_load_ps(w), a1 = _mm256_load_ps(w + 8);
        for (int r = 0; r < m; r++) {
            const __m256 x = _mm256_broadcast_ss(rows + (size_t)r * k + i);
            acc[r][0] = _mm256_fmadd_ps(x, a0, acc[r][0]);
            acc[r][1] = _mm256_fmadd_ps(x, a1, acc[r][1]);
        }
    }
    if (split)
        for (int r = 0; r < m; r++) {
            acc[r][0] = _mm256_add_ps(acc[r][0], odd[r][0]);
            acc[r][1] = _mm256_add_ps(acc[r][1], odd[r][1]);
        }
}

/// Lanes 0..<count of eight set, for masked loads and stores.
FEW_ROWS_AVX2
static inline __attribute__((always_inline)) __m256i lanes_avx2(int count) {
    const __m256i index = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(count < 0 ? 0 : count > 8 ? 8 : count), index);
}

/// `multiply` on AVX2 for float32 W: each tile's C columns (+ bias, + C), stored, then, with
/// `statistics`, each row's largest value over the tile and Σ e^(value − largest), read back from C.
FEW_ROWS_AVX2
static inline __attribute__((always_inline))
void multiply_f32_avx2(const float *rows, const int m, int k, const float *packed, int n,
                       const float *bias, float *c, int accumulate, float *statistics, int tile_begin, int tile_end) {
    const int tiles = tile_count(n);
    for (int t = tile_begin; t < tile_end; t++) {
        const float *w = packed + t * tile_values_f32(k);
        const int first = t * CAPTIONER_FEW_ROWS_TILE;
        for (int q = 0; q < 4 && first + 16 * q < n; q++) {
            __m256 acc[CAPTIONER_FEW_ROWS_MAX][2];
            pass_f32_avx2(rows, m, k, w + 16 * q, acc);
            for (int h = 0; h < 2; h++) {
                const int col = first + 16 * q + 8 * h;
                if (col >= n) break;
                const __m256i mask = lanes_avx2(n - col);
                const __m256 add = bias ? _mm256_maskload_ps(bias + col, mask) : _mm256_setzero_ps();
                for (int r = 0; r < m; r++) {
                    float *out = c + (size_t)r * n + col;
                    __m256 v = _mm256_add_ps(acc[r][h], add);
                    if (accumulate) v = _mm256_add_ps(v, _mm256_maskload_ps(out, mask));
                    _mm256_maskstore_ps(out, mask, v);
                }
            }
        }
        if (!statistics) continue;
        const int width = n - first < CAPTIONER_FEW_ROWS_TILE ? n - first : CAPTIONER_FEW_ROWS_TILE;
        for (int r = 0; r < m; r++) {
            const float *values = c + (size_t)r * n + first;
            float top = -__builtin_inff();
            for (int j = 0; j < width; j++) top = values[j] > top ? values[j] : top;
            const __m256 shift = _mm256_set1_ps(top);
            __m256 sums = _mm256_setzero_ps();
            for (int j = 0; j < width; j += 8) {
                const __m256 mask = _mm256_castsi256_ps(lanes_avx2(width - j));
                const __m256 v = _mm256_maskload_ps(values + j, _mm256_castps_si256(mask));
                sums = _mm256_add_ps(sums, _mm256_and_ps(mask, exp_nonpositive_avx2(_mm256_sub_ps(v, shift))));
            }
            float lanes[8];
            _mm256_storeu_ps(lanes, sums);
            float *out = statistics + ((size_t)r * tiles + t) * 2;
            out[0] = top;
            out[1] = ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]));
        }
    }
}

FEW_ROWS_AVX2
void captioner_few_rows_multiply_f32_avx2(const float *a, int m, int k, const float *packed, int n,
                                          const float *bias, float *c, int accumulate, float *statistics,
                                          int tiles_per_claim, int *next_tile) {
    const int tiles = tile_count(n);
    int begin, end;
    while (claim_next(next_tile, tiles, tiles_per_claim, &begin, &end)) {
        switch (m) {   // a constant row count per call, as in `claim_tiles`
        case 1: multiply_f32_avx2(a, 1, k, packed, n, bias, c, accumulate, statistics, begin, end); break;
        case 2: multiply_f32_avx2(a, 2, k, packed, n, bias, c, accumulate, statistics, begin, end); break;
        case 3: multiply_f32_avx2(a, 3, k, packed, n, bias, c, accumulate, statistics, begin, end); break;
        case 4: multiply_f32_avx2(a, 4, k, packed, n, bias, c, accumulate, statistics, begin, end); break;
        default: __builtin_trap();
        }
    }
}

// MARK: - A team that stays together between products

// A beam step's two products are separated by serial work (the GRU cell; the search's top-k and
// gathers): about a third of the step, during which an ordinary parallel loop's second core idles.
// In a team, the helper thread stays inside one parallel region for the whole search, runs its
// share of each product the leader posts, and in between pulls the first tiles of the product it
// expects next into its L2 — W streams from L3 (4.6 MB a step), so those tiles are then read at
// cache speed. The tiles it has prefetched are reserved for it when the product comes; the rest
// are shared from one counter as in `captioner_few_rows_multiply`, and once they are gone the
// leader takes whatever the helper has not reached of its own rather than wait for it. Each tile
// is computed the same way whoever takes it, so the results are the same bit for bit.

enum { PREDICTIONS = 8 };

/// A product the helper expects: the weight's packed copy, its bytes and its bytes per tile.
/// Hints only: a stale one makes a useless prefetch, not a wrong answer.
struct expected { const uint16_t *weight; long bytes, tile_bytes; };

// The threads wait for each other by re-reading a word, without PAUSE: the waits are short (a
// product's last tiles; a step's serial work), and a loop of PAUSEs is what a hypervisor's
// pause-loop exiting watches for. Without them the leader's wait for the helper's last tiles
// measured 0.2–1 µs shorter per product on this VM (rdtsc, two runs of each).
#define SPIN_HINT() __asm__ volatile("" ::: "memory")

struct captioner_team {
    // The posted job (written by the leader before `sequence` is released).
    const float *rows; int m, k; const uint16_t *packed; int n;
    const float *bias; float *c; int accumulate; float *statistics; int claim;
    int reserved;                        // tiles 0..<reserved: the helper takes them first
    int prefetch_bytes;                  // at most this much of the expected next weight
    // Which product followed which (a weight's packed copy → the next product), and the last run's first.
    const uint16_t *after[PREDICTIONS];
    struct expected next[PREDICTIONS], first;
    const uint16_t *previous;            // the leader's last product (NULL before a run's first)
    // Words one thread writes while the other reads, each on its own cache line.
    _Alignas(64) int next_tile;          // the shared tiles' counter
    _Alignas(64) int next_reserved;      // the helper's tiles' counter (the leader takes what is left)
    _Alignas(64) int sequence;           // job number; -1 tells the helper to leave
    _Alignas(64) int finished;           // the helper has finished job `finished`
    _Alignas(64) const uint16_t *prefetching;   // the weight the helper is prefetching,
    int prefetched_tiles;                //   and how many of its first tiles it has asked for
};

captioner_team *captioner_team_create(int prefetch_bytes) {
    captioner_team *t = aligned_alloc(64, (sizeof(captioner_team) + 63) / 64 * 64);
    if (!t) return NULL;
    memset(t, 0, sizeof *t);
    t->prefetch_bytes = prefetch_bytes;
    return t;
}

void captioner_team_destroy(captioner_team *t) { free(t); }

void captioner_team_reset(captioner_team *t) {
    t->sequence = t->finished = 0;
    t->prefetching = NULL;
    t->prefetched_tiles = 0;
    t->previous = NULL;
}

/// Notes `packed` (a product of n columns, inner size k) as one the helper may expect.
static void expect(struct expected *e, const uint16_t *packed, int n, int k) {
    __atomic_store_n(&e->weight, packed, __ATOMIC_RELAXED);
    __atomic_store_n(&e->bytes, (long)captioner_few_rows_packed_count(n, k) * 2, __ATOMIC_RELAXED);
    __atomic_store_n(&e->tile_bytes, (long)tile_values(k) * 2, __ATOMIC_RELAXED);
}

/// The helper's prefetch of the product it expects: the weight, how much of it is wanted (at most
/// `prefetch_bytes`), how much is asked for so far, and its bytes per tile.
struct prefetch { const char *ahead; long wanted, fetched, per_tile; };

/// Starts prefetching `e` (NULL: nothing), and tells the leader which weight the prefetched tiles are of.
static struct prefetch prefetch_expected(captioner_team *t, const struct expected *e) {
    struct prefetch p = {NULL, 0, 0, 1};
    if (e && (p.ahead = (const char *)__atomic_load_n(&e->weight, __ATOMIC_RELAXED))) {
        p.wanted = __atomic_load_n(&e->bytes, __ATOMIC_RELAXED);
        p.per_tile = __atomic_load_n(&e->tile_bytes, __ATOMIC_RELAXED);
        if (p.per_tile < 1) p.per_tile = 1;      // the leader may be writing `first` as the run starts
        if (p.wanted > t->prefetch_bytes) p.wanted = t->prefetch_bytes;
    }
    __atomic_store_n(&t->prefetched_tiles, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&t->prefetching, (const uint16_t *)p.ahead, __ATOMIC_RELAXED);
    return p;
}

void captioner_team_serve(captioner_team *t) {
    int seen = 0;
    // At first, expect the last run's first product.
    struct prefetch p = prefetch_expected(t, &t->first);
    for (;;) {
        int job = __atomic_load_n(&t->sequence, __ATOMIC_ACQUIRE);
        if (job < 0) return;
        if (job == seen) {
            if (p.fetched < p.wanted) {
                // 1 KB at a time into L2, then look for the job again.
                for (int line = 0; line < 16; line++) _mm_prefetch(p.ahead + p.fetched + 64 * line, _MM_HINT_T1);
                p.fetched += 1024;
                __atomic_store_n(&t->prefetched_tiles, (int)(p.fetched / p.per_tile), __ATOMIC_RELAXED);
            } else {
                SPIN_HINT();
            }
            continue;
        }
        seen = job;
        claim_tiles(t->rows, t->m, t->k, t->packed, 0, t->n, t->bias, t->c, t->accumulate, t->statistics,
                    t->claim, &t->next_reserved, t->reserved);
        claim_tiles(t->rows, t->m, t->k, t->packed, 0, t->n, t->bias, t->c, t->accumulate, t->statistics,
                    t->claim, &t->next_tile, tile_count(t->n));
        // Expect whatever followed this weight last time.
        const struct expected *following = NULL;
        for (int i = 0; i < PREDICTIONS && !following; i++)
            if (__atomic_load_n(&t->after[i], __ATOMIC_RELAXED) == t->packed) following = &t->next[i];
        p = prefetch_expected(t, following);
        __atomic_store_n(&t->finished, job, __ATOMIC_RELEASE);
    }
}

/// Notes that `packed` followed the leader's previous product. The helper reads the table only
/// between finishing a job and reporting it finished, while the leader waits, so they never overlap.
static void remember(captioner_team *t, const uint16_t *packed, int n, int k) {
    const uint16_t *previous = t->previous;
    t->previous = packed;
    if (!previous) {
        expect(&t->first, packed, n, k);
        return;
    }
    int slot = -1;
    for (int i = 0; i < PREDICTIONS && slot < 0; i++)
        if (t->after[i] == previous) slot = i;
    for (int i = 0; i < PREDICTIONS && slot < 0; i++)
        if (!t->after[i]) slot = i;
    if (slot < 0) slot = (int)(((uintptr_t)previous >> 6) % PREDICTIONS);
    __atomic_store_n(&t->after[slot], previous, __ATOMIC_RELAXED);
    expect(&t->next[slot], packed, n, k);
}

FEW_ROWS_TARGET
void captioner_team_multiply(captioner_team *t, const float *rows, int m, int k, const uint16_t *packed, int n,
                             const float *bias, float *c, int accumulate, float *statistics, int tiles_per_claim) {
    remember(t, packed, n, k);
    const int tiles = tile_count(n);
    int reserved = 0;
    if (__atomic_load_n(&t->prefetching, __ATOMIC_RELAXED) == packed) {
        reserved = __atomic_load_n(&t->prefetched_tiles, __ATOMIC_RELAXED);
        if (reserved > tiles) reserved = tiles;
    }
    t->rows = rows; t->m = m; t->k = k; t->packed = packed; t->n = n;
    t->bias = bias; t->c = c; t->accumulate = accumulate; t->statistics = statistics;
    t->claim = tiles_per_claim > 0 ? tiles_per_claim : 1;
    t->reserved = reserved;
    __atomic_store_n(&t->next_tile, reserved, __ATOMIC_RELAXED);
    __atomic_store_n(&t->next_reserved, 0, __ATOMIC_RELAXED);
    const int job = t->sequence + 1;
    __atomic_store_n(&t->sequence, job, __ATOMIC_RELEASE);
    claim_tiles(rows, m, k, packed, 0, n, bias, c, accumulate, statistics, t->claim, &t->next_tile, tiles);
    // Then whatever the helper has not reached of its own tiles: they are in its L2, but it may be
    // late (the machine may have taken its core), and waiting for it would cost more.
    claim_tiles(rows, m, k, packed, 0, n, bias, c, accumulate, statistics, t->claim, &t->next_reserved, reserved);
    while (__atomic_load_n(&t->finished, __ATOMIC_ACQUIRE) != job) SPIN_HINT();
}

void captioner_team_finish(captioner_team *t) { __atomic_store_n(&t->sequence, -1, __ATOMIC_RELEASE); }

#else
int captioner_few_rows_available(void) { return 0; }
void captioner_few_rows_round(const float *a, int m, int k, float *rows) {
    const int padded = (k + 1) / 2 * 2;
    for (int r = 0; r < m; r++)
        for (int i = 0; i < padded; i++) {
            const uint32_t bits = (uint32_t)(i < k ? bfloat16(a[(size_t)r * k + i]) : 0) << 16;
            memcpy(rows + (size_t)r * padded + i, &bits, sizeof bits);
        }
}
void captioner_few_rows_multiply(const float *rows, int m, int k, const uint16_t *packed, int n,
                                 const float *bias, float *c, int accumulate, float *statistics,
                                 int tiles_per_claim, int *next_tile) {
    __builtin_trap();
}
void captioner_few_rows_multiply_f32(const float *a, int m, int k, const float *packed, int n,
                                     const float *bias, float *c, int accumulate, float *statistics,
                                     int tiles_per_claim, int *next_tile) {
    __builtin_trap();
}
int captioner_few_rows_avx2_available(void) { return 0; }
void captioner_few_rows_multiply_f32_avx2(const float *a, int m, int k, const float *packed, int n,
                                          const float *bias, float *c, int accumulate, float *statistics,
                                          int tiles_per_claim, int *next_tile) {
    __builtin_trap();
}
captioner_team *captioner_team_create(int prefetch_bytes) { return NULL; }
void captioner_team_destroy(captioner_team *t) {}
void captioner_team_reset(captioner_team *t) {}
void captioner_team_serve(captioner_team *t) { __builtin_trap(); }
void captioner_team_multiply(captioner_team *t, const float *rows, int m, int k, const uint16_t *packed, int n,
                             const float *bias, float *c, int accumulate, float *statistics, int tiles_per_claim) {
    __builtin_trap();
}
void captioner_team_finish(captioner_team *t) {}
#endif

size_t captioner_few_rows_packed_count(int n, int k) {
    return (size_t)tile_count(n) * tile_values(k);
}

void captioner_few_rows_pack(const float *w, int n, int k, uint16_t *packed) {
    const int kp = (k + 1) / 2, tiles = tile_count(n);
    for (int t = 0; t < tiles; t++)
        for (int j = 0; j < CAPTIONER_FEW_ROWS_TILE; j++) {
            int col = t * CAPTIONER_FEW_ROWS_TILE + j;
            uint16_t *out = packed + t * tile_values(k) + 2 * j;
            const float *row = w + (size_t)col * k;
            for (int p = 0; p < kp; p++, out += 2 * CAPTIONER_FEW_ROWS_TILE) {
                out[0] = col < n ? bfloat16(row[2 * p]) : 0;
                out[1] = col < n && 2 * p + 1 < k ? bfloat16(row[2 * p + 1]) : 0;
            }
        }
}

size_t captioner_few_rows_packed_count_f32(int n, int k) {
    return (size_t)tile_count(n) * tile_values_f32(k);
}

void captioner_few_rows_pack_f32(const float *w, int n, int k, float *packed) {
    const int tiles = tile_count(n);
    for (int t = 0; t < tiles; t++)
        for (int j = 0; j < CAPTIONER_FEW_ROWS_TILE; j++) {
            const int col = t * CAPTIONER_FEW_ROWS_TILE + j;
            float *out = packed + t * tile_values_f32(k) + j;
            for (int i = 0; i < k; i++) out[(size_t)i * CAPTIONER_FEW_ROWS_TILE] = col < n ? w[(size_t)col * k + i] : 0;
        }
}
