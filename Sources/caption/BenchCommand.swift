import ArgumentParser
import Foundation
import TensorCore

/// `caption bench`: timed workloads whose keys match the PyTorch scripts in ../shared/reference and
/// tools/reference, so the two sides can be put in one table.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure Captioner's speed on fixed workloads (compare with tools/reference/bench_micro.py).")

    @OptionGroup var runtime: RuntimeOptions
    @Flag(help: "Print one JSON object instead of a table.") var json = false
    @Option(name: .long, parsing: .upToNextOption, help: "Run only these keys.") var only: [String] = []
    @Option(help: "Seconds to time each workload after warm-up.") var seconds: Double = 3

    func run() throws {
        try runtime.apply()
        let workloads = Self.workloads(seconds: seconds)
        let unknown = Set(only).subtracting(workloads.map(\.key))
        guard unknown.isEmpty else {
            throw ValidationError("unknown bench key(s) \(unknown.sorted().joined(separator: ", ")); known: \(workloads.map(\.key).joined(separator: ", ")).")
        }
        var results: [(String, Double, String)] = []
        for w in workloads where only.isEmpty || only.contains(w.key) {
            if !json { FileHandle.standardError.write(Data("bench: \(w.key)…\n".utf8)) }
            results.append((w.key, w.run(), w.unit))
        }
        if json {
            var object: [String: Any] = ["threads": Threads.count]
            for (k, v, _) in results { object[k] = (v * 100).rounded() / 100 }
            let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            let width = results.map(\.0.count).max() ?? 0
            for (k, v, unit) in results {
                print(k.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + String(format: "%10.2f", v) + "  " + unit)
            }
        }
    }

    struct Workload {
        let key: String, unit: String
        let run: () -> Double
    }

    /// Runs `body` twice to warm up, then as often as fits in `seconds`; returns calls per second.
    static func rate(seconds: Double, _ body: () -> Void) -> Double {
        body(); body()
        let start = DispatchTime.now().uptimeNanoseconds
        var n = 0, elapsed = 0.0
        repeat {
            body()
            n += 1
            elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        } while elapsed < seconds
        return Double(n) / elapsed
    }

    static func workloads(seconds: Double) -> [Workload] {
        var rng = RandomGenerator(seed: 0)
        // The decoders' GEMMs (SPEC §5 workload: B 64, T 22, E 256, H 512, V 3000): the output layer
        // over all steps, the GRU input projection over all steps, and one recurrent step.
        let shapes: [(m: Int, k: Int, n: Int)] = [(1344, 512, 3000), (1344, 256, 1536), (64, 512, 1536)]
        var list = shapes.map { s -> Workload in
            let a = Tensor.randn([s.m, s.k], rng: &rng), w = Tensor.randn([s.n, s.k], rng: &rng)
            return Workload(key: "matmul_\(s.m)x\(s.k)x\(s.n)_gflops", unit: "GFLOP/s") {
                let perSecond = rate(seconds: seconds) { _ = linear(a, weight: w, bias: nil) }
                return perSecond * 2 * Double(s.m * s.k * s.n) / 1e9
            }
        }
        let (b, i, h) = (64, 256, 512)
        let x = Tensor.randn([b, i], rng: &rng), h0 = Tensor.randn([b, h], rng: &rng)
        let bound = 1 / Float(h).squareRoot()
        let weights = [[3 * h, i], [3 * h, h], [3 * h], [3 * h]].map {
            Tensor.uniform($0, low: -bound, high: bound, rng: &rng, requiresGrad: true)
        }
        list.append(Workload(key: "gru_cell_b64_i256_h512_fwd_bwd_ms", unit: "ms") {
            let perSecond = rate(seconds: seconds) {
                for w in weights { w.grad = nil }
                let tape = Tape()
                let out = tape.record { gruCell(x, h0, weightIH: weights[0], weightHH: weights[1], biasIH: weights[2], biasHH: weights[3]) }
                tape.backward(from: out)
            }
            return 1000 / perSecond
        })
        return list
    }
}
