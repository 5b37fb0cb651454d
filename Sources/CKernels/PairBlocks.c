// A float32 weight rounded to bfloat16 straight into oneDNN's BA16a64b2a layout, the one its AMX
// matmul kernels choose for every weight Captioner multiplies. Rounding to a plain bfloat16 copy and
// then oneDNN's reorder into the layout took about 2 ms for the 3000×512 output layer's two layouts
// (the reorder ran at about 2.5 GB/s), every optimizer step; this loop reads the weight once per
// layout and writes each line of the layout whole.
//
// For logical dims K×N (K the inner dimension of the product), BA16a64b2a is
//   [⌈N/64⌉ column blocks][⌈K/32⌉·16 row pairs][64 columns][2 rows],
// i.e. for each block of 64 columns and each pair of rows (2p, 2p+1), the 64 columns' two values
// side by side in one 32-bit word, zero where N or K is padded. (FewRows.c packs the same way, with
// K padded only to an even count.)

#include "CKernels.h"
#include "Rounding.h"
#include <string.h>

/// The pair of rows (row, row + 1) of column `column`, rounded, when the weight is stored [N][K]:
/// two neighbouring values of that column's stored row; zero past K.
static inline uint32_t stored_pair(const float *plain, int k, int column, int row) {
    const float *at = plain + (size_t)column * k + row;
    return row >= k ? 0 : (uint32_t)bfloat16(at[0]) | (row + 1 < k ? (uint32_t)bfloat16(at[1]) << 16 : 0);
}

#if defined(__x86_64__)
#include <immintrin.h>
#define PAIR_BLOCKS_TARGET __attribute__((target("avx512f")))

/// 32 consecutive floats (16 pairs) → the 16 pairs' words: word q = bf16(x[2q]) | bf16(x[2q+1]) << 16.
PAIR_BLOCKS_TARGET
static inline __m512i pairs_of(const float *x) {
    // Each value rounded into its lane's low half, then narrowed to 16 bits (vpmovdw): the values
    // stay in their order, so each neighbouring two form a pair's word, the even one low.
    const __m256i low = _mm512_cvtepi32_epi16(_mm512_srli_epi32(rounded_high(_mm512_loadu_ps(x)), 16));
    const __m256i high = _mm512_cvtepi32_epi16(_mm512_srli_epi32(rounded_high(_mm512_loadu_ps(x + 16)), 16));
    return _mm512_inserti64x4(_mm512_castsi256_si512(low), high, 1);
}

/// 16 stored rows × 16 pairs (32 values of each row) into 16 output lines of 16 columns: each row's
/// pairs made in a register, then a 16×16 transpose of 32-bit words, so every store is a whole line.
PAIR_BLOCKS_TARGET
static void transposed_tile(const float *plain, int k, int column, int row, uint32_t *out) {
    __m512i r[16], t[16];
    for (int i = 0; i < 16; i++) r[i] = pairs_of(plain + (size_t)(column + i) * k + row);
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {
        r[i] = _mm512_unpacklo_epi64(t[i], t[i + 2]);
        r[i + 1] = _mm512_unpackhi_epi64(t[i], t[i + 2]);
        r[i + 2] = _mm512_unpacklo_epi64(t[i + 1], t[i + 3]);
        r[i + 3] = _mm512_unpackhi_epi64(t[i + 1], t[i + 3]);
    }
    for (int i = 0; i < 16; i += 8)
        for (int q = 0; q < 4; q++) {
            t[i + q] = _mm512_shuffle_i32x4(r[i + q], r[i + q + 4], 0x88);
            t[i + q + 4] = _mm512_shuffle_i32x4(r[i + q], r[i + q + 4], 0xDD);
        }
    for (int q = 0; q < 8; q++) {                              // line c: pair c of the 16 rows, in order
        _mm512_storeu_si512((void *)(out + (size_t)q * 64), _mm512_shuffle_i32x4(t[q], t[q + 8], 0x88));
        _mm512_storeu_si512((void *)(out + (size_t)(q + 8) * 64), _mm512_shuffle_i32x4(t[q], t[q + 8], 0xDD));
    }
}

/// 16 columns of two stored rows → their 16 words: bf16(even[j]) | bf16(odd[j]) << 16.
PAIR_BLOCKS_TARGET
static inline void row_pairs(const float *even, const float *odd, uint32_t *out) {
    const __m512i low = _mm512_srli_epi32(rounded_high(_mm512_loadu_ps(even)), 16);
    _mm512_storeu_si512((void *)out, _mm512_or_si512(low, rounded_high(_mm512_loadu_ps(odd))));
}
#endif

void captioner_pair_blocks(const float *plain, int k, int n, int transposed, uint16_t *blocked,
                           int block_begin, int block_end) {
#if defined(__x86_64__)
    const int wide = captioner_few_rows_available();          // AVX-512F, as FewRows.c checks it
#else
    const int wide = 0;
#endif
    const int pairs = (k + 31) / 32 * 16;
    if (!transposed) {
        // plain is [K][N]: a pair is the same column of two neighbouring rows. Row pair by row pair
        // over all the blocks, so both stored rows stream through once.
        for (int p = 0; p < pairs; p++) {
            const int row = 2 * p;
            for (int block = block_begin; block < block_end; block++) {
                uint32_t *line = (uint32_t *)blocked + ((size_t)block * pairs + p) * 64;
                const int first = block * 64, columns = n - first < 64 ? n - first : 64;
                const float *even = plain + (size_t)row * n + first, *odd = even + n;
                int j = 0;
#if defined(__x86_64__)
                if (wide && row + 1 < k)
                    for (; j + 16 <= columns; j += 16) row_pairs(even + j, odd + j, line + j);
#endif
                for (; j < columns; j++)
                    line[j] = row >= k ? 0 : (uint32_t)bfloat16(even[j]) | (row + 1 < k ? (uint32_t)bfloat16(odd[j]) << 16 : 0);
                if (columns < 64) memset(line + columns, 0, (64 - columns) * sizeof(uint32_t));
            }
        }
        return;
    }
    for (int block = block_begin; block < block_end; block++) {
        uint32_t *out = (uint32_t *)blocked + (size_t)block * pairs * 64;
        const int first = block * 64, columns = n - first < 64 ? n - first : 64;
        if (columns < 64)
            for (int p = 0; p < pairs; p++) memset(out + (size_t)p * 64 + columns, 0, (64 - columns) * sizeof(uint32_t));
        // plain is [N][K]: a pair is two neighbouring values of column `first + j`'s stored row,
        // so the block is a transpose of 32-bit pairs, done in 16×16 tiles of whole lines (walking
        // 64 rows pair by pair strides them by the row length: for K = 512 all 64 fall into four
        // of L1's sets). Tiles past N or K, where a row would run out, go pair by pair.
        for (int p0 = 0; p0 < pairs; p0 += 16)
            for (int j0 = 0; j0 < columns; j0 += 16) {
#if defined(__x86_64__)
                if (wide && j0 + 16 <= columns && 2 * (p0 + 16) <= k) {
                    transposed_tile(plain, k, first + j0, 2 * p0, out + (size_t)p0 * 64 + j0);
                    continue;
                }
#endif
                const int j1 = j0 + 16 < columns ? j0 + 16 : columns;
                for (int p = p0; p < p0 + 16; p++)
                    for (int j = j0; j < j1; j++) out[(size_t)p * 64 + j] = stored_pair(plain, k, first + j, 2 * p);
            }
    }
}
