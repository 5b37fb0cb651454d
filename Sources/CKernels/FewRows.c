// A few rows times a bfloat16 weight, on AVX512-BF16 dot products.
//
//   C[r, j] = (accumulate ? C[r, j] : 0) + bias[j] + Σ_p  a[r, 2p]·w[j, 2p] + a[r, 2p+1]·w[j, 2p+1]
//
// Each VDPBF16PS multiplies 16 columns' pairs of bfloat16 values by one row's pair (broadcast) and
// adds both products into float32 lanes: bfloat16 operands, float32 sums, as oneDNN's AMX path.
// The weight is packed so that one tile (64 columns) is a single sequential stream: for each pair p,
// 64 columns × 2 values = 256 bytes. Every weight byte is read once per call and feeds m rows, so
// the loop runs at the speed the cache hierarchy delivers W (a beam step's 3×512·512×3000 output
// layer: about 80 µs against oneDNN's 118 µs when W comes from L3).

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
        unsigned b7 = 0, a71 = 0;
        if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) b7 = b;
        if (__get_cpuid_count(7, 1, &a, &b, &c, &d)) a71 = a;
        int f = (b7 >> 16) & 1, bw = (b7 >> 30) & 1, vl = (b7 >> 31) & 1, bf16 = (a71 >> 5) & 1;
        ok = zmmState && f && bw && vl && bf16;
    }
    known = ok;
    return ok;
}

#define FEW_ROWS_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))

FEW_ROWS_TARGET
static inline __attribute__((always_inline))
void tile(const uint32_t *pairs, const int m, int kp, const uint16_t *w, __m512 acc[CAPTIONER_FEW_ROWS_MAX][4]) {
    for (int r = 0; r < m; r++)
        for (int b = 0; b < 4; b++) acc[r][b] = _mm512_setzero_ps();
    for (int p = 0; p < kp; p++, w += 2 * CAPTIONER_FEW_ROWS_TILE) {
        __m512bh w0 = (__m512bh)_mm512_load_si512((const void *)(w + 0));
        __m512bh w1 = (__m512bh)_mm512_load_si512((const void *)(w + 32));
        __m512bh w2 = (__m512bh)_mm512_load_si512((const void *)(w + 64));
        __m512bh w3 = (__m512bh)_mm512_load_si512((const void *)(w + 96));
        for (int r = 0; r < m; r++) {
            __m512bh x = (__m512bh)_mm512_set1_epi32((int)pairs[r * kp + p]);
            acc[r][0] = _mm512_dpbf16_ps(acc[r][0], x, w0);
            acc[r][1] = _mm512_dpbf16_ps(acc[r][1], x, w1);
            acc[r][2] = _mm512_dpbf16_ps(acc[r][2], x, w2);
            acc[r][3] = _mm512_dpbf16_ps(acc[r][3], x, w3);
        }
    }
}

FEW_ROWS_TARGET
static inline __attribute__((always_inline))
void multiply(const uint32_t *pairs, const int m, int k, const uint16_t *packed, int n,
              const float *bias, float *c, int accumulate, int tile_begin, int tile_end) {
    const int kp = (k + 1) / 2;
    for (int t = tile_begin; t < tile_end; t++) {
        __m512 acc[CAPTIONER_FEW_ROWS_MAX][4];
        tile(pairs, m, kp, packed + (size_t)t * kp * 2 * CAPTIONER_FEW_ROWS_TILE, acc);
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
void captioner_few_rows_multiply(const uint32_t *pairs, int m, int k, const uint16_t *packed, int n,
                                 const float *bias, float *c, int accumulate, int tiles_per_claim, int *next_tile) {
    const int tiles = (n + CAPTIONER_FEW_ROWS_TILE - 1) / CAPTIONER_FEW_ROWS_TILE;
    const int claim = tiles_per_claim > 0 ? tiles_per_claim : 1;
    for (;;) {
        int begin = __atomic_fetch_add(next_tile, claim, __ATOMIC_RELAXED);
        if (begin >= tiles) return;
        int end = begin + claim < tiles ? begin + claim : tiles;
        // A constant row count per call, so the row loops unroll and the accumulators stay in registers.
        switch (m) {
        case 1: multiply(pairs, 1, k, packed, n, bias, c, accumulate, begin, end); break;
        case 2: multiply(pairs, 2, k, packed, n, bias, c, accumulate, begin, end); break;
        case 3: multiply(pairs, 3, k, packed, n, bias, c, accumulate, begin, end); break;
        case 4: multiply(pairs, 4, k, packed, n, bias, c, accumulate, begin, end); break;
        default: __builtin_trap();
        }
    }
}

#else
int captioner_few_rows_available(void) { return 0; }
void captioner_few_rows_multiply(const uint32_t *pairs, int m, int k, const uint16_t *packed, int n,
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
