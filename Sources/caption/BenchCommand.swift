import ArgumentParser
import Captioning
import Foundation
import Layers
import TensorCore
import Vision

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
        list += decoderWorkloads(seconds: seconds)
        list += encoderWorkloads(seconds: seconds)
        return list
    }

    /// EfficientNet-Lite0 on random [32, 3, 224, 224] and [1, 3, 224, 224] input, as bench_torch.py
    /// times `extract_features`; needs the weights `scripts/bootstrap` downloads.
    static func encoderWorkloads(seconds: Double) -> [Workload] {
        guard let url = EncoderLoading.defaultWeights(for: EfficientNetLiteVariant.lite0.name),
              let encoder = try? ConvNetEncoder.load(name: EfficientNetLiteVariant.lite0.name, weights: url) else {
            FileHandle.standardError.write(Data("bench: skipping the EfficientNet-Lite0 workloads: no weights in \(EncoderLoading.cacheDirectory.path)/weights (run scripts/bootstrap).\n".utf8))
            return []
        }
        var rng = RandomGenerator(seed: 1)
        func randomImages(_ batch: Int) -> [Float] { Tensor.randn([batch, 3, 224, 224], rng: &rng).scalars }
        let batch32 = randomImages(32), single = randomImages(1)
        return [
            Workload(key: "features_lite0_b32_images_per_s", unit: "images/s") {
                32 * rate(seconds: seconds) { _ = try! encoder.encode(batch32, batch: 32, height: 224, width: 224) }
            },
            Workload(key: "features_lite0_b1_ms", unit: "ms") {
                1000 / rate(seconds: seconds) { _ = try! encoder.encode(single, batch: 1, height: 224, width: 224) }
            },
        ]
    }

    /// SPEC §5's Flickr8k-shaped workload, as ../shared/reference/bench_torch.py runs it:
    /// V 3000, C 1280, L 49, batch 64, T 22 with caption lengths 11.8 ± 3.8 words.
    static func decoderWorkloads(seconds: Double) -> [Workload] {
        let (v, c, l, b, t) = (3000, 1280, 49, 64, 22)
        var rng = RandomGenerator(seed: 0)
        var ids = [Int32](repeating: 0, count: b * t)
        var targets = 0
        for r in 0..<b {
            let n = min(max(Int((rng.normal() * 3.8 + 11.8).rounded()), 4), t - 2)
            ids[r * t] = 1
            for j in 1...n { ids[r * t + j] = Int32(4 + rng.int(below: v - 4)) }
            ids[r * t + n + 1] = 2
            targets += n + 1
        }
        let tokens = IntTensor(shape: [b, t], values: ids)
        let grid = Tensor.randn([b, l, c], rng: &rng)
        let features = ImageFeatures(pooled: Tensor.randn([b, c], rng: &rng), grid: grid)
        let total = targets

        func train(_ arch: Architecture, key: String) -> Workload {
            Workload(key: key, unit: "tokens/s") {
                let decoder = try! makeDecoder(DecoderConfig(architecture: arch, vocabularySize: v, featureSize: c), source: .initialise(seed: 0))
                let optimizer = Adam(decoder.namedParameters, learningRate: 4e-4)
                decoder.setTraining(true)
                let steps = rate(seconds: seconds) {
                    let tape = Tape()
                    let loss = tape.record { () -> Tensor in
                        let (logits, attention) = decoder.forward(features, tokens: tokens)
                        return captionLoss(logits: logits, attention: attention, tokens: tokens, attentionPenalty: arch.defaultAttentionPenalty)
                    }
                    tape.backward(from: loss)
                    clipGradientNorm(decoder.parameters, maxNorm: 5)
                    optimizer.step()
                    optimizer.zeroGrad()
                }
                return steps * Double(total)
            }
        }

        let greedy = Workload(key: "greedy_showtell_gru_b64_captions_per_s", unit: "captions/s") {
            let decoder = try! makeDecoder(DecoderConfig(architecture: .showTellGRU, vocabularySize: v, featureSize: c), source: .initialise(seed: 0))
            decoder.setTraining(false)
            // As the PyTorch side: t − 1 steps of argmax for the whole batch, no early stop.
            return rate(seconds: seconds) {
                Tape.withoutRecording {
                    var state = decoder.initialState(features)
                    var words = IntTensor([Int32](repeating: 1, count: b))
                    for _ in 0..<(t - 1) {
                        let out = decoder.step(state, words: words)
                        state = out.state
                        for r in 0..<b {
                            let row = out.logits.data + r * v
                            var best = 0
                            for j in 1..<v where row[j] > row[best] { best = j }
                            words.values[r] = Int32(best)
                        }
                    }
                }
            } * Double(b)
        }

        let beam = Workload(key: "beam3_showtell_gru_ms", unit: "ms") {
            let decoder = try! makeDecoder(DecoderConfig(architecture: .showTellGRU, vocabularySize: v, featureSize: c), source: .initialise(seed: 0))
            let one = features.rows([0])
            return 1000 / rate(seconds: seconds) {
                _ = beamSearch(decoder, one, options: SearchOptions(beamSize: 3, maxWords: t - 2))
            }
        }

        return [
            train(.showTellGRU, key: "train_showtell_gru_tokens_per_s"),
            train(.showTellLSTM, key: "train_showtell_lstm_tokens_per_s"),
            train(.softAttentionGRU, key: "train_soft_attention_gru_tokens_per_s"),
            train(.adaptiveAttentionGRU, key: "train_adaptive_attention_gru_tokens_per_s"),
            greedy, beam,
        ]
    }
}
