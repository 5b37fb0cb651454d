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
// 64 columns × 2 values = 256 bytes. Every weight byte is read once per call and feeds m rows, so
// the loop runs at about the speed the cache hierarchy delivers W.

#include "CKernels.h"

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

/// acc[r][b] = Σ_p rows[r, 2p]·w_even + rows[r, 2p+1]·w_odd for one tile's 4 × 16 columns.
/// Up to two rows, the odd half sums into its own registers: a single row's four chains of two
/// dependent FMAs per pair would otherwise wait on latency, not throughput.
FEW_ROWS_TARGET
static inline __attribute__((always_inline))
void tile(const float *rows, const int m, int kp, const uint16_t *w, __m512 acc[CAPTIONER_FEW_ROWS_MAX][4]) {
    const int split = m <= 2;
    const __m512i high = _mm512_set1_epi32((int)0xFFFF0000u);
    __m512 odd[2][4];
    for (int r = 0; r < m; r++)
        for (int b = 0; b < 4; b++) acc[r][b] = _mm512_setzero_ps();
    if (split)
        for (int r = 0; r < m; r++)
            for (int b = 0; b < 4; b++) odd[r][b] = _mm512_setzero_ps();
    for (int p = 0; p < kp; p++, w += 2 * CAPTIONER_FEW_ROWS_TILE) {
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
    if (split)
        for (int r = 0; r < m; r++)
            for (int b = 0; b < 4; b++) acc[r][b] = _mm512_add_ps(acc[r][b], odd[r][b]);
}

FEW_ROWS_TARGET
static inline __attribute__((always_inline))
void multiply(const float *rows, const int m, int k, const uint16_t *packed, int n,
              const float *bias, float *c, int accumulate, int tile_begin, int tile_end) {
    const int kp = (k + 1) / 2;
    for (int t = tile_begin; t < tile_end; t++) {
        __m512 acc[CAPTIONER_FEW_ROWS_MAX][4];
        tile(rows, m, kp, packed + (size_t)t * kp * 2 * CAPTIONER_FEW_ROWS_TILE, acc);
        for (int b = 0; b < 4; b++) {
            int col = t * CAPTIONER_FEW_ROWS_TILE + b * 16;
            if (col >= n) break;
            __mmask16 mask = n - col >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - col)) - 1);
            __m512 add = bias ? _mm512_maskz_loadu_ps(mask, bias + col) : _mm512_setzero_ps();
            for (int r = 0; r < m; r++) {
                float *out = c + (size_t)r * n + col;
                __m512 v = _mm512_add_ps(acc[r][b], add);
                if (accumulate) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mask, out));
                _mm512_mask_storeu_ps(out, mask, v);
            }
        }
    }
}

FEW_ROWS_TARGET
void captioner_few_rows_multiply(const float *rows, int m, int k, const uint16_t *packed, int n,
                                 const float *bias, float *c, int accumulate, int tiles_per_claim, int *next_tile) {
    const int tiles = (n + CAPTIONER_FEW_ROWS_TILE - 1) / CAPTIONER_FEW_ROWS_TILE;
    const int claim = tiles_per_claim > 0 ? tiles_per_claim : 1;
    for (;;) {
        int begin = __atomic_fetch_add(next_tile, claim, __ATOMIC_RELAXED);
        if (begin >= tiles) return;
        int end = begin + claim < tiles ? begin + claim : tiles;
        // A constant row count per call, so the row loops unroll and the accumulators stay in registers.
        switch (m) {
        case 1: multiply(rows, 1, k, packed, n, bias, c, accumulate, begin, end); break;
        case 2: multiply(rows, 2, k, packed, n, bias, c, accumulate, begin, end); break;
        case 3: multiply(rows, 3, k, packed, n, bias, c, accumulate, begin, end); break;
        case 4: multiply(rows, 4, k, packed, n, bias, c, accumulate, begin, end); break;
        default: __builtin_trap();
        }
    }
}

#else
int captioner_few_rows_available(void) { return 0; }
void captioner_few_rows_multiply(const float *rows, int m, int k, const uint16_t *packed, int n,
                                 const float *bias, float *c, int accumulate, int tiles_per_claim, int *next_tile) {
    __builtin_trap();
}
#endif

/// float32 → bfloat16, round to nearest even; NaN stays a (quiet) NaN.
static inline uint16_t bfloat16(float value) {
    union { float f; uint32_t u; } bits = { value };
    uint32_t u = bits.u;
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) return (uint16_t)((u >> 16) | 0x40);
    return (uint16_t)((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}

size_t captioner_few_rows_packed_count(int n, int k) {
    size_t tiles = (size_t)(n + CAPTIONER_FEW_ROWS_TILE - 1) / CAPTIONER_FEW_ROWS_TILE;
    return tiles * (size_t)((k + 1) / 2) * 2 * CAPTIONER_FEW_ROWS_TILE;
}

void captioner_few_rows_pack(const float *w, int n, int k, uint16_t *packed) {
    const int kp = (k + 1) / 2, tiles = (n + CAPTIONER_FEW_ROWS_TILE - 1) / CAPTIONER_FEW_ROWS_TILE;
    for (int t = 0; t < tiles; t++)
        for (int j = 0; j < CAPTIONER_FEW_ROWS_TILE; j++) {
            int col = t * CAPTIONER_FEW_ROWS_TILE + j;
            uint16_t *out = packed + (size_t)t * kp * 2 * CAPTIONER_FEW_ROWS_TILE + 2 * j;
            const float *row = w + (size_t)col * k;
            for (int p = 0; p < kp; p++, out += 2 * CAPTIONER_FEW_ROWS_TILE) {
                out[0] = col < n ? bfloat16(row[2 * p]) : 0;
                out[1] = col < n && 2 * p + 1 < k ? bfloat16(row[2 * p + 1]) : 0;
            }
        }
}
