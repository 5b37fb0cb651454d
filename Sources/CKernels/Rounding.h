// float32 → bfloat16 as TensorCore's BFloat16.round does it, for the C loops that write bfloat16.
#ifndef CAPTIONER_ROUNDING_H
#define CAPTIONER_ROUNDING_H

#include <stdint.h>
#include <string.h>

/// Round to nearest even; NaN stays a (quiet) NaN.
static inline uint16_t bfloat16(float value) {
    uint32_t u;
    memcpy(&u, &value, sizeof u);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) return (uint16_t)((u >> 16) | 0x40);
    return (uint16_t)((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}

#if defined(__x86_64__)
#include <immintrin.h>

/// `bfloat16` on 16 lanes, the result left in each lane's high half (low half zero): the rounded
/// value as a float32.
__attribute__((target("avx512f")))
static inline __m512i rounded_high(__m512 value) {
    const __m512i u = _mm512_castps_si512(value), top = _mm512_set1_epi32((int)0xFFFF0000u);
    const __m512i odd = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
    const __m512i rounded = _mm512_and_si512(_mm512_add_epi32(_mm512_add_epi32(u, _mm512_set1_epi32(0x7FFF)), odd), top);
    const __mmask16 nan = _mm512_cmp_epu32_mask(_mm512_and_si512(u, _mm512_set1_epi32(0x7FFFFFFF)),
                                                _mm512_set1_epi32(0x7F800000), _MM_CMPINT_NLE);
    const __m512i quiet = _mm512_or_si512(_mm512_and_si512(u, top), _mm512_set1_epi32(0x00400000));
    return _mm512_mask_mov_epi32(rounded, nan, quiet);
}
#endif

#endif
