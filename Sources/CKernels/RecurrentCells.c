// The GRU and LSTM cells' pointwise passes on 16 lanes: TensorCore's Recurrent.gruForward and
// lstmForward, the same operations in the same order (separate multiplies and adds, never fused;
// the same clamps and division), so each value is the same bit for bit as the Swift loops'
// eight-lane ones. A beam step's GRU cell (3 rows × 512) took about 5% of the step on eight lanes.
//
//   GRU: r  = σ(gi_r + gh_r)       σ(x) = ½ + ½·tanh(x/2), tanh = Eigen's 13/6 rational (FastMath.swift)
//        z  = σ(gi_z + gh_z)
//        n  = tanh(gi_n + r ⊙ gh_n)
//        h' = (1 − z) ⊙ n + z ⊙ h                saved, when asked: [r | z | n | gh_n]
//
//   LSTM: i, f, o = σ(gi + gh)  g = tanh(gi_g + gh_g)   (PyTorch's gate order i, f, g, o)
//         c' = f ⊙ c + i ⊙ g    h' = o ⊙ tanh(c')      saved, when asked: [i | f | g | o | tanh c']

#include "CKernels.h"

#if defined(__x86_64__)
#include <immintrin.h>
#define CELLS_TARGET __attribute__((target("avx512f")))

// A lane's r, then n, is a chain of about 40 dependent operations (two Horner polynomials and a
// division each), some 200 cycles; on one vector at a time the core overlapped little more than
// one such chain. So every step below is taken for VECTORS vectors (64 units) side by side, which
// gives it four independent chains to interleave: 3.9 → 2.8 µs for a beam's 3 × 512 cell.
enum { VECTORS = 4 };

/// `fastTanh` on each of v's vectors: clamped to ±7.9988117 (vmaxps(lo, v) and vminps(hi, x),
/// which keep a NaN as the Swift compare-and-replace does), then p(x²)·x / q(x²).
CELLS_TARGET
static inline __attribute__((always_inline)) void fast_tanh(__m512 v[VECTORS]) {
#pragma clang fp contract(off)
    __m512 x[VECTORS], x2[VECTORS], p[VECTORS], q[VECTORS];
    for (int i = 0; i < VECTORS; i++) {
        x[i] = _mm512_min_ps(_mm512_set1_ps(7.9988117f), _mm512_max_ps(_mm512_set1_ps(-7.9988117f), v[i]));
        x2[i] = _mm512_mul_ps(x[i], x[i]);
        p[i] = _mm512_set1_ps(-2.7607685e-16f);
        q[i] = _mm512_set1_ps(1.1982584e-06f);
    }
    for (int i = 0; i < VECTORS; i++) p[i] = _mm512_add_ps(_mm512_mul_ps(p[i], x2[i]), _mm512_set1_ps(2.0001879e-13f));
    for (int i = 0; i < VECTORS; i++) p[i] = _mm512_sub_ps(_mm512_mul_ps(p[i], x2[i]), _mm512_set1_ps(8.6046715e-11f));
    for (int i = 0; i < VECTORS; i++) p[i] = _mm512_add_ps(_mm512_mul_ps(p[i], x2[i]), _mm512_set1_ps(5.1222971e-08f));
    for (int i = 0; i < VECTORS; i++) p[i] = _mm512_add_ps(_mm512_mul_ps(p[i], x2[i]), _mm512_set1_ps(1.4857224e-05f));
    for (int i = 0; i < VECTORS; i++) p[i] = _mm512_add_ps(_mm512_mul_ps(p[i], x2[i]), _mm512_set1_ps(6.3726193e-04f));
    for (int i = 0; i < VECTORS; i++) p[i] = _mm512_add_ps(_mm512_mul_ps(p[i], x2[i]), _mm512_set1_ps(4.8935246e-03f));
    for (int i = 0; i < VECTORS; i++) p[i] = _mm512_mul_ps(p[i], x[i]);
    for (int i = 0; i < VECTORS; i++) q[i] = _mm512_add_ps(_mm512_mul_ps(q[i], x2[i]), _mm512_set1_ps(1.1853471e-04f));
    for (int i = 0; i < VECTORS; i++) q[i] = _mm512_add_ps(_mm512_mul_ps(q[i], x2[i]), _mm512_set1_ps(2.2684346e-03f));
    for (int i = 0; i < VECTORS; i++) q[i] = _mm512_add_ps(_mm512_mul_ps(q[i], x2[i]), _mm512_set1_ps(4.8935252e-03f));
    for (int i = 0; i < VECTORS; i++) v[i] = _mm512_div_ps(p[i], q[i]);
}

/// `fastSigmoid` on each of v's vectors: ½ + ½·tanh(½x).
CELLS_TARGET
static inline __attribute__((always_inline)) void fast_sigmoid(__m512 v[VECTORS]) {
#pragma clang fp contract(off)
    const __m512 half = _mm512_set1_ps(0.5f);
    for (int i = 0; i < VECTORS; i++) v[i] = _mm512_mul_ps(half, v[i]);
    fast_tanh(v);
    for (int i = 0; i < VECTORS; i++) v[i] = _mm512_add_ps(half, _mm512_mul_ps(half, v[i]));
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
        for (int first = 0; first < H; first += 16 * VECTORS) {
            // Lanes past H masked: the same operations as the others, so the same values.
            __mmask16 lanes[VECTORS];
            __m512 r[VECTORS], z[VECTORS], n[VECTORS], ghn[VECTORS];
            for (int i = 0; i < VECTORS; i++) {
                const int j = first + 16 * i;
                lanes[i] = j >= H ? 0 : H - j >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (H - j)) - 1);
                r[i] = _mm512_add_ps(_mm512_maskz_loadu_ps(lanes[i], xi + j), _mm512_maskz_loadu_ps(lanes[i], hh + j));
                z[i] = _mm512_add_ps(_mm512_maskz_loadu_ps(lanes[i], xi + H + j), _mm512_maskz_loadu_ps(lanes[i], hh + H + j));
            }
            fast_sigmoid(r);
            fast_sigmoid(z);
            for (int i = 0; i < VECTORS; i++) {
                const int j = first + 16 * i;
                ghn[i] = _mm512_maskz_loadu_ps(lanes[i], hh + 2 * H + j);
                n[i] = _mm512_add_ps(_mm512_maskz_loadu_ps(lanes[i], xi + 2 * H + j), _mm512_mul_ps(r[i], ghn[i]));
            }
            fast_tanh(n);
            for (int i = 0; i < VECTORS; i++) {
                const int j = first + 16 * i;
                const __m512 kept = _mm512_mul_ps(z[i], _mm512_maskz_loadu_ps(lanes[i], hp + j));
                _mm512_mask_storeu_ps(o + j, lanes[i], _mm512_add_ps(_mm512_mul_ps(_mm512_sub_ps(one, z[i]), n[i]), kept));
                if (s) {
                    _mm512_mask_storeu_ps(s + j, lanes[i], r[i]);
                    _mm512_mask_storeu_ps(s + H + j, lanes[i], z[i]);
                    _mm512_mask_storeu_ps(s + 2 * H + j, lanes[i], n[i]);
                    _mm512_mask_storeu_ps(s + 3 * H + j, lanes[i], ghn[i]);
                }
            }
        }
    }
}

CELLS_TARGET
void captioner_lstm_cell(int row_begin, int row_end, int hidden, const float *gi, int gi_stride, const float *gh,
                         const float *c, int c_stride, float *h_out, int h_out_stride, float *c_out, int c_out_stride,
                         float *saved) {
#pragma clang fp contract(off)
    const int H = hidden;
    for (int b = row_begin; b < row_end; b++) {
        const float *xi = gi + (size_t)b * gi_stride, *hh = gh + (size_t)b * 4 * H, *cp = c + (size_t)b * c_stride;
        float *ho = h_out + (size_t)b * h_out_stride, *co = c_out + (size_t)b * c_out_stride;
        float *s = saved ? saved + (size_t)b * 5 * H : NULL;
        for (int first = 0; first < H; first += 16 * VECTORS) {
            __mmask16 lanes[VECTORS];
            __m512 in[VECTORS], forget[VECTORS], g[VECTORS], out[VECTORS], cell[VECTORS], tc[VECTORS];
            for (int v = 0; v < VECTORS; v++) {
                const int j = first + 16 * v;
                lanes[v] = j >= H ? 0 : H - j >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (H - j)) - 1);
                in[v] = _mm512_add_ps(_mm512_maskz_loadu_ps(lanes[v], xi + j), _mm512_maskz_loadu_ps(lanes[v], hh + j));
                forget[v] = _mm512_add_ps(_mm512_maskz_loadu_ps(lanes[v], xi + H + j), _mm512_maskz_loadu_ps(lanes[v], hh + H + j));
                g[v] = _mm512_add_ps(_mm512_maskz_loadu_ps(lanes[v], xi + 2 * H + j), _mm512_maskz_loadu_ps(lanes[v], hh + 2 * H + j));
                out[v] = _mm512_add_ps(_mm512_maskz_loadu_ps(lanes[v], xi + 3 * H + j), _mm512_maskz_loadu_ps(lanes[v], hh + 3 * H + j));
            }
            fast_sigmoid(in);
            fast_sigmoid(forget);
            fast_tanh(g);
            fast_sigmoid(out);
            for (int v = 0; v < VECTORS; v++) {
                const int j = first + 16 * v;
                cell[v] = _mm512_add_ps(_mm512_mul_ps(forget[v], _mm512_maskz_loadu_ps(lanes[v], cp + j)), _mm512_mul_ps(in[v], g[v]));
                tc[v] = cell[v];
            }
            fast_tanh(tc);
            for (int v = 0; v < VECTORS; v++) {
                const int j = first + 16 * v;
                _mm512_mask_storeu_ps(co + j, lanes[v], cell[v]);
                _mm512_mask_storeu_ps(ho + j, lanes[v], _mm512_mul_ps(out[v], tc[v]));
                if (s) {
                    _mm512_mask_storeu_ps(s + j, lanes[v], in[v]);
                    _mm512_mask_storeu_ps(s + H + j, lanes[v], forget[v]);
                    _mm512_mask_storeu_ps(s + 2 * H + j, lanes[v], g[v]);
                    _mm512_mask_storeu_ps(s + 3 * H + j, lanes[v], out[v]);
                    _mm512_mask_storeu_ps(s + 4 * H + j, lanes[v], tc[v]);
                }
            }
        }
    }
}
#else
void captioner_lstm_cell(int row_begin, int row_end, int hidden, const float *gi, int gi_stride, const float *gh,
                         const float *c, int c_stride, float *h_out, int h_out_stride, float *c_out, int c_out_stride,
                         float *saved) {
    __builtin_trap();
}
void captioner_gru_cell(int row_begin, int row_end, int hidden, const float *gi, int gi_stride, const float *gh,
                        const float *h, int h_stride, float *out, int out_stride, float *saved) {
    __builtin_trap();
}
#endif
