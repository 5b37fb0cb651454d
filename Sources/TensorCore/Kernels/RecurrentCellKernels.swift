import CKernels

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Fused pointwise parts of the GRU and LSTM cells, forward and backward side by side.
/// The GEMMs around them (x·W_ihᵀ + b_ih, h·W_hhᵀ + b_hh) run on oneDNN; these loops do the rest in
/// one pass over memory. Gate order and equations are PyTorch's (`nn.GRU`: r, z, n; `nn.LSTM`: i, f, g, o).
enum Recurrent {
    @inline(__always) static func sigmoid(_ x: Float) -> Float { fastSigmoid(x) }

    // MARK: GRU
    //
    //   r  = σ(gi_r + gh_r)            gi = x·W_ihᵀ + b_ih   (B, 3H)
    //   z  = σ(gi_z + gh_z)            gh = h·W_hhᵀ + b_hh   (B, 3H)
    //   n  = tanh(gi_n + r ⊙ gh_n)
    //   h' = (1 − z) ⊙ n + z ⊙ h
    //
    // Saved per row for backward: [r | z | n | gh_n]  (B, 4H)

    /// Rows per thread for a cell's pointwise pass: each column of a row evaluates a rational
    /// function per gate (about 25 operations each), so a row weighs about `gates` times its width.
    /// A packed batch's late steps have 16–40 rows alive, and split across the cores from here.
    private static func cellRows(hidden: Int, gates: Int) -> Int { Threads.minimumRows(rowWork: gates * hidden) }

    /// A cell's forward pass over `batch` rows split across the cores: on AVX-512 the same loop on
    /// sixteen lanes (CKernels' RecurrentCells.c, the same values) takes a whole range of rows;
    /// elsewhere `row` runs the Swift loop for each.
    private static func forEachRowRange(_ batch: Int, hidden: Int, gates: Int, sixteenLanes: (Range<Int>) -> Void, row: (Int) -> Void) {
        Threads.parallelRanges(batch, minimumPerThread: cellRows(hidden: hidden, gates: gates)) { rows in
            if CPUFeatures.hasAVX512 { sixteenLanes(rows) } else { for b in rows { row(b) } }
        }
    }

    /// Rows are `giStride`, `hStride`, `outStride` floats apart so time-major slices of a sequence
    /// can be read and written in place.
    static func gruForward(batch: Int, hidden H: Int,
                           gi: UnsafePointer<Float>, giStride: Int,
                           gh: UnsafePointer<Float>,
                           h: UnsafePointer<Float>, hStride: Int,
                           out: UnsafeMutablePointer<Float>, outStride: Int,
                           saved: UnsafeMutablePointer<Float>?) {
        forEachRowRange(batch, hidden: H, gates: 3, sixteenLanes: { rows in
            captioner_gru_cell(Int32(rows.lowerBound), Int32(rows.upperBound), Int32(H), gi, Int32(giStride), gh,
                               h, Int32(hStride), out, Int32(outStride), saved)
        }) { b in
            let xi = gi + b * giStride, hh = gh + b * 3 * H, hp = h + b * hStride, o = out + b * outStride
            let s = saved.map { $0 + b * 4 * H }
            // Eight lanes at a time (the same operations as the scalar tail, so the same values).
            let vectorEnd = H & ~7
            var j = 0
            while j < vectorEnd {
                let r = fastSigmoid(load8(xi + j) + load8(hh + j))
                let z = fastSigmoid(load8(xi + H + j) + load8(hh + H + j))
                let ghn = load8(hh + 2 * H + j)
                let n = fastTanh(load8(xi + 2 * H + j) + r * ghn)
                store8((SIMD8(repeating: 1) - z) * n + z * load8(hp + j), o + j)
                if let s { store8(r, s + j); store8(z, s + H + j); store8(n, s + 2 * H + j); store8(ghn, s + 3 * H + j) }
                j += 8
            }
            for j in vectorEnd..<H {
                let r = sigmoid(xi[j] + hh[j])
                let z = sigmoid(xi[H + j] + hh[H + j])
                let ghn = hh[2 * H + j]
                let n = fastTanh(xi[2 * H + j] + r * ghn)
                o[j] = (1 - z) * n + z * hp[j]
                if let s { s[j] = r; s[H + j] = z; s[2 * H + j] = n; s[3 * H + j] = ghn }
            }
        }
    }

    //   dz    = dh' ⊙ (h − n)                  dn   = dh' ⊙ (1 − z)
    //   dn̂    = dn ⊙ (1 − n²)                  (pre-activation of n)
    //   dr    = dn̂ ⊙ gh_n                      dr̂  = dr ⊙ r(1 − r)        dẑ = dz ⊙ z(1 − z)
    //   dgi   = [dr̂ | dẑ | dn̂]                 dgh  = [dr̂ | dẑ | dn̂ ⊙ r]
    //   dh    = dh' ⊙ z  (+ dgh·W_hh, added by the caller's GEMM)

    /// Writes dgi (row stride `dgiStride`), dgh (B, 3H) and the direct part of dh (row stride `dhStride`);
    /// with `dgiRounded` / `dghRounded`, also each row of dgi / dgh in bfloat16 (rows of 3H).
    static func gruBackward(batch: Int, hidden H: Int,
                            dhNext: UnsafePointer<Float>, dhNextStride: Int,
                            saved: UnsafePointer<Float>,
                            h: UnsafePointer<Float>, hStride: Int,
                            dgi: UnsafeMutablePointer<Float>, dgiStride: Int,
                            dgh: UnsafeMutablePointer<Float>,
                            dh: UnsafeMutablePointer<Float>, dhStride: Int,
                            dgiRounded: UnsafeMutablePointer<UInt16>? = nil, dghRounded: UnsafeMutablePointer<UInt16>? = nil) {
        precondition(dgiRounded == nil || dgiStride == 3 * H, "gruBackward: rounded dgi needs rows of 3H")
        Threads.parallelRanges(batch, minimumPerThread: cellRows(hidden: H, gates: 3)) { rows in
            for b in rows {
                let g = dhNext + b * dhNextStride, s = saved + b * 4 * H, hp = h + b * hStride
                let di = dgi + b * dgiStride, dhh = dgh + b * 3 * H, dhp = dh + b * dhStride
                // Eight lanes at a time (the same operations as the scalar tail, so the same values).
                let vectorEnd = H & ~7
                let one = SIMD8<Float>(repeating: 1)
                var j = 0
                while j < vectorEnd {
                    let r = load8(s + j), z = load8(s + H + j), n = load8(s + 2 * H + j), ghn = load8(s + 3 * H + j)
                    let d = load8(g + j)
                    let dz = d * (load8(hp + j) - n)
                    let dnHat = d * (one - z) * (one - n * n)
                    let drHat = dnHat * ghn * r * (one - r)
                    let dzHat = dz * z * (one - z)
                    store8(drHat, di + j); store8(dzHat, di + H + j); store8(dnHat, di + 2 * H + j)
                    store8(drHat, dhh + j); store8(dzHat, dhh + H + j); store8(dnHat * r, dhh + 2 * H + j)
                    store8(d * z, dhp + j)
                    j += 8
                }
                for j in vectorEnd..<H {
                    let r = s[j], z = s[H + j], n = s[2 * H + j], ghn = s[3 * H + j]
                    let d = g[j]
                    let dz = d * (hp[j] - n)
                    let dnHat = d * (1 - z) * (1 - n * n)
                    let drHat = dnHat * ghn * r * (1 - r)
                    let dzHat = dz * z * (1 - z)
                    di[j] = drHat; di[H + j] = dzHat; di[2 * H + j] = dnHat
                    dhh[j] = drHat; dhh[H + j] = dzHat; dhh[2 * H + j] = dnHat * r
                    dhp[j] = d * z
                }
                // The rows just written, rounded while they are in L1.
                if let dgiRounded { BFloat16.convert(di, count: 3 * H, into: dgiRounded + b * 3 * H) }
                if let dghRounded { BFloat16.convert(dhh, count: 3 * H, into: dghRounded + b * 3 * H) }
            }
        }
    }

    // MARK: LSTM
    //
    //   [î f̂ ĝ ô] = x·W_ihᵀ + b_ih + h·W_hhᵀ + b_hh   (B, 4H)
    //   i = σ(î)  f = σ(f̂)  g = tanh(ĝ)  o = σ(ô)
    //   c' = f ⊙ c + i ⊙ g          h' = o ⊙ tanh(c')
    //
    // Saved per row: [i | f | g | o | tanh c']  (B, 5H)

    static func lstmForward(batch: Int, hidden H: Int,
                            gi: UnsafePointer<Float>, giStride: Int,
                            gh: UnsafePointer<Float>,
                            c: UnsafePointer<Float>, cStride: Int,
                            hOut: UnsafeMutablePointer<Float>, hOutStride: Int,
                            cOut: UnsafeMutablePointer<Float>, cOutStride: Int,
                            saved: UnsafeMutablePointer<Float>?) {
        forEachRowRange(batch, hidden: H, gates: 4, sixteenLanes: { rows in
            captioner_lstm_cell(Int32(rows.lowerBound), Int32(rows.upperBound), Int32(H), gi, Int32(giStride), gh,
                                c, Int32(cStride), hOut, Int32(hOutStride), cOut, Int32(cOutStride), saved)
        }) { b in
            let xi = gi + b * giStride, hh = gh + b * 4 * H, cp = c + b * cStride
            let ho = hOut + b * hOutStride, co = cOut + b * cOutStride
            let s = saved.map { $0 + b * 5 * H }
            // Eight lanes at a time (the same operations as the scalar tail, so the same values).
            let vectorEnd = H & ~7
            var j = 0
            while j < vectorEnd {
                let i = fastSigmoid(load8(xi + j) + load8(hh + j))
                let f = fastSigmoid(load8(xi + H + j) + load8(hh + H + j))
                let g = fastTanh(load8(xi + 2 * H + j) + load8(hh + 2 * H + j))
                let o = fastSigmoid(load8(xi + 3 * H + j) + load8(hh + 3 * H + j))
                let cNew = f * load8(cp + j) + i * g
                let tc = fastTanh(cNew)
                store8(cNew, co + j)
                store8(o * tc, ho + j)
                if let s { store8(i, s + j); store8(f, s + H + j); store8(g, s + 2 * H + j); store8(o, s + 3 * H + j); store8(tc, s + 4 * H + j) }
                j += 8
            }
            for j in vectorEnd..<H {
                let i = sigmoid(xi[j] + hh[j])
                let f = sigmoid(xi[H + j] + hh[H + j])
                let g = fastTanh(xi[2 * H + j] + hh[2 * H + j])
                let o = sigmoid(xi[3 * H + j] + hh[3 * H + j])
                let cNew = f * cp[j] + i * g
                let tc = fastTanh(cNew)
                co[j] = cNew
                ho[j] = o * tc
                if let s { s[j] = i; s[H + j] = f; s[2 * H + j] = g; s[3 * H + j] = o; s[4 * H + j] = tc }
            }
        }
    }

    //   dc  = dc' + dh' ⊙ o ⊙ (1 − tanh²c')
    //   dô  = dh' ⊙ tanh c' ⊙ o(1 − o)       dî = dc ⊙ g ⊙ i(1 − i)
    //   df̂  = dc ⊙ c ⊙ f(1 − f)              dĝ = dc ⊙ i ⊙ (1 − g²)
    //   dgates = [dî | df̂ | dĝ | dô]  (the same for the ih and hh GEMMs)
    //   dc_prev = dc ⊙ f

    static func lstmBackward(batch: Int, hidden H: Int,
                             dhNext: UnsafePointer<Float>, dhNextStride: Int,
                             dcNext: UnsafePointer<Float>?, dcNextStride: Int,
                             saved: UnsafePointer<Float>,
                             c: UnsafePointer<Float>, cStride: Int,
                             dgates: UnsafeMutablePointer<Float>, dgatesStride: Int,
                             dc: UnsafeMutablePointer<Float>, dcStride: Int,
                             dgatesRounded: UnsafeMutablePointer<UInt16>? = nil) {
        precondition(dgatesRounded == nil || dgatesStride == 4 * H, "lstmBackward: rounded dgates needs rows of 4H")
        Threads.parallelRanges(batch, minimumPerThread: cellRows(hidden: H, gates: 4)) { rows in
            for b in rows {
                let gh = dhNext + b * dhNextStride, gc = dcNext.map { $0 + b * dcNextStride }
                let s = saved + b * 5 * H, cp = c + b * cStride
                let dg = dgates + b * dgatesStride, dcp = dc + b * dcStride
                // Eight lanes at a time (the same operations as the scalar tail, so the same values).
                let vectorEnd = H & ~7
                let one = SIMD8<Float>(repeating: 1)
                var j = 0
                while j < vectorEnd {
                    let i = load8(s + j), f = load8(s + H + j), g = load8(s + 2 * H + j), o = load8(s + 3 * H + j)
                    let tc = load8(s + 4 * H + j)
                    let dh = load8(gh + j)
                    let dcTotal = (gc.map { load8($0 + j) } ?? SIMD8()) + dh * o * (one - tc * tc)
                    store8(dcTotal * g * i * (one - i), dg + j)
                    store8(dcTotal * load8(cp + j) * f * (one - f), dg + H + j)
                    store8(dcTotal * i * (one - g * g), dg + 2 * H + j)
                    store8(dh * tc * o * (one - o), dg + 3 * H + j)
                    store8(dcTotal * f, dcp + j)
                    j += 8
                }
                for j in vectorEnd..<H {
                    let i = s[j], f = s[H + j], g = s[2 * H + j], o = s[3 * H + j], tc = s[4 * H + j]
                    let dh = gh[j]
                    let dcTotal = (gc?[j] ?? 0) + dh * o * (1 - tc * tc)
                    dg[j] = dcTotal * g * i * (1 - i)
                    dg[H + j] = dcTotal * cp[j] * f * (1 - f)
                    dg[2 * H + j] = dcTotal * i * (1 - g * g)
                    dg[3 * H + j] = dh * tc * o * (1 - o)
                    dcp[j] = dcTotal * f
                }
                // The row just written, rounded while it is in L1 (rows of 4H).
                if let dgatesRounded { BFloat16.convert(dg, count: 4 * H, into: dgatesRounded + b * 4 * H) }
            }
        }
    }
}
