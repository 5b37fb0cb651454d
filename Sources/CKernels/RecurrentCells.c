// The GRU cell's pointwise pass on 16 lanes: TensorCore's Recurrent.gruForward, the same
// operations in the same order (separate multiplies and adds, never fused; the same clamps and
// division), so each value is the same bit for bit as the Swift loop's eight-lane one — only
// twice as wide. A beam step's cell (3 rows × 512) took about 5% of the step on eight lanes.
//
//   r  = σ(gi_r + gh_r)         σ(x) = ½ + ½·tanh(x/2), tanh = Eigen's 13/6 rational (FastMath.swift)
//   z  = σ(gi_z + gh_z)
//   n  = tanh(gi_n + r ⊙ gh_n)
//   h' = (1 − z) ⊙ n + z ⊙ h
//
// Saved per row, when asked, for backward: [r | z | n | gh_n].

#include "CKernels.h"

#if defined(__x86_64__)
#include <immintrin.h>
#define CELLS_TARGET __attribute__((target("avx512f")))

/// `fastTanh`: clamped to ±7.9988117 (vmaxps(lo, v) and vminps(hi, x), which keep a NaN as the
/// Swift compare-and-replace does), then p(x²)·x / q(x²).
CELLS_TARGET
static inline __attribute__((always_inline)) __m512 fast_tanh(__m512 value) {
#pragma clang fp contract(off)
    __m512 x = _mm512_max_ps(_mm512_set1_ps(-7.9988117f), value);
    x = _mm512_min_ps(_mm512_set1_ps(7.9988117f), x);
    const __m512 x2 = _mm512_mul_ps(x, x);
    __m512 p = _mm512_set1_ps(-2.7607685e-16f);
    p = _mm512_add_ps(_mm512_mul_ps(p, x2), _mm512_set1_ps(2.0001879e-13f));
    p = _mm512_sub_ps(_mm512_mul_ps(p, x2), _mm512_set1_ps(8.6046715e-11f));
    p = _mm512_add_ps(_mm512_mul_ps(p, x2), _mm512_set1_ps(5.1222971e-08f));
    p = _mm512_add_ps(_mm512_mul_ps(p, x2), _mm512_set1_ps(1.4857224e-05f));
    p = _mm512_add_ps(_mm512_mul_ps(p, x2), _mm512_set1_ps(6.3726193e-04f));
    p = _mm512_add_ps(_mm512_mul_ps(p, x2), _mm512_set1_ps(4.8935246e-03f));
    p = _mm512_mul_ps(p, x);
    __m512 q = _mm512_set1_ps(1.1982584e-06f);
    q = _mm512_add_ps(_mm512_mul_ps(q, x2), _mm512_set1_ps(1.1853471e-04f));
    q = _mm512_add_ps(_mm512_mul_ps(q, x2), _mm512_set1_ps(2.2684346e-03f));
    q = _mm512_add_ps(_mm512_mul_ps(q, x2), _mm512_set1_ps(4.8935252e-03f));
    return _mm512_div_ps(p, q);
}

/// `fastSigmoid`: ½ + ½·tanh(½x).
CELLS_TARGET
static inline __attribute__((always_inline)) __m512 fast_sigmoid(__m512 x) {
#pragma clang fp contract(off)
    const __m512 half = _mm512_set1_ps(0.5f);
    return _mm512_add_ps(half, _mm512_mul_ps(half, fast_tanh(_mm512_mul_ps(half, x))));
}

CELLS_TARGET
void captioner_gru_cell(int row_begin, int row_end, int hidden, const float *gi, int gi_stride, const float *gh,
                        const float *h, int h_stride, float *out, int out_stride, float *saved) {
#pragma clang fp contract(off)
    const int H = hidden;
    const __m512 one = _mm512_set1_ps(1);
    for (int b = row_begin; b < row_end; b++) {
        const float *xi = gi + (size_t)b * gi_stride, *hh = gh + (size_t)b * 3 * H, *hp = h + (size_t)b * h_stride;
        float *o = out + (size_t)b * out_stride, *s = saved ? saved + (size_t)b * 4 * H : NULL;
        for (int j = 0; j < H; j += 16) {
            // The last lanes masked: the same operations as the full ones, so the same values.
            const __mmask16 lanes = H - j >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (H - j)) - 1);
            const __m512 r = fast_sigmoid(_mm512_add_ps(_mm512_maskz_loadu_ps(lanes, xi + j), _mm512_maskz_loadu_ps(lanes, hh + j)));
            const __m512 z = fast_sigmoid(_mm512_add_ps(_mm512_maskz_loadu_ps(lanes, xi + H + j),
                                                        _mm512_maskz_loadu_ps(lanes, hh + H + j)));
            const __m512 ghn = _mm512_maskz_loadu_ps(lanes, hh + 2 * H + j);
            const __m512 n = fast_tanh(_mm512_add_ps(_mm512_maskz_loadu_ps(lanes, xi + 2 * H + j), _mm512_mul_ps(r, ghn)));
            const __m512 kept = _mm512_mul_ps(z, _mm512_maskz_loadu_ps(lanes, hp + j));
            _mm512_mask_storeu_ps(o + j, lanes, _mm512_add_ps(_mm512_mul_ps(_mm512_sub_ps(one, z), n), kept));
            if (s) {
                _mm512_mask_storeu_ps(s + j, lanes, r);
                _mm512_mask_storeu_ps(s + H + j, lanes, z);
                _mm512_mask_storeu_ps(s + 2 * H + j, lanes, n);
                _mm512_mask_storeu_ps(s + 3 * H + j, lanes, ghn);
            }
        }
    }
}
#else
void captioner_gru_cell(int row_begin, int row_end, int hidden, const float *gi, int gi_stride, const float *gh,
                        const float *h, int h_stride, float *out, int out_stride, float *saved) {
    __builtin_trap();
}
#endif
