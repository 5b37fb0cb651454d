import ArgumentParser
import CaptionMetrics
import Captioning
import Foundation
import Layers
import Synchronization
import TensorCore
import Vision

/// `caption bench`: timed workloads whose keys match the PyTorch benchmark scripts (scripts/bench-vs-pytorch runs
/// both sides), so the two sides can be put in one table.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure Captioner's speed on fixed workloads (scripts/bench-vs-pytorch puts PyTorch's figures beside them).")

    @OptionGroup var runtime: RuntimeOptions
    @Flag(help: "Print one JSON object instead of a table.") var json = false
    @Option(name: .long, parsing: .upToNextOption, help: "Run only these keys.") var only: [String] = []
    @Option(parsing: .unconditional, help: "Seconds to time each workload after warm-up.") var seconds: Double = 3
    @Option(name: .customLong("write-corpus"), help: ArgumentHelp("Write the evaluate workload's corpus here as references.jsonl and predictions.jsonl, and exit.", valueName: "dir", visibility: .hidden))
    var writeCorpus: String?
    @Option(parsing: .unconditional, help: ArgumentHelp("Run each workload exactly this many times after one warm-up call instead of for --seconds (for profilers).", visibility: .hidden))
    var iterations: Int?
    @Option(parsing: .unconditional, help: "Run this many busy loops beside the benchmark, as other work on a shared machine would, to measure under load.")
    var load = 0
    @Option(name: .customLong("busy-loop"), help: ArgumentHelp("Be one of --load's busy loops, until process <pid> exits.", valueName: "pid", visibility: .hidden))
    var busyLoopParent: Int32?

    func validate() throws {
        try OptionCheck.number(seconds, "--seconds", above: 0, atMost: 3_600)
        if let iterations { try OptionCheck.integer(iterations, "--iterations", 1...1_000_000) }
        try OptionCheck.integer(load, "--load", 0...64)
    }

    func run() throws {
        if let busyLoopParent { BusyLoops.spin(parent: busyLoopParent) }
        try runtime.apply()
        Self.fixedIterations.store(iterations ?? 0, ordering: .relaxed)
        if let writeCorpus {
            try Self.writeEvaluationCorpus(to: URL(fileURLWithPath: writeCorpus))
            return
        }
        // Memory figures are per process: when other keys run too, measure them in a fresh child.
        let isolated = only.count == 1 && Self.memoryKeys.contains(only[0])
        let workloads = Self.workloads(seconds: seconds) + Self.evaluationWorkloads(seconds: seconds) + Self.serveWorkloads(seconds: seconds)
            + Self.memoryWorkloads(seconds: seconds, isolated: isolated, threads: runtime.threads)
        let unknown = Set(only).subtracting(workloads.map(\.key))
        guard unknown.isEmpty else {
            throw ValidationError("unknown bench key(s) \(unknown.sorted().joined(separator: ", ")); known: \(workloads.map(\.key).joined(separator: ", ")).")
        }
        var results: [(String, Double, String)] = []
        let busyLoops = try BusyLoops(count: load)
        for w in workloads where only.isEmpty || only.contains(w.key) {
            if !json { FileHandle.standardError.write(Data("bench: \(w.key)…\n".utf8)) }
            let value = w.run()
            if value.isFinite { results.append((w.key, value, w.unit)) }
        }
        busyLoops.stop()
        if json {
            var object: [String: Any] = ["threads": Threads.count, "precision": Precision.defaultMatmul.rawValue,
                                         "isa": CPUFeatures.instructionSet, "load": load]
            for (k, v, _) in results { object[k] = (v * 100).rounded() / 100 }
            let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            print("threads \(Threads.count), precision \(Precision.defaultMatmul.rawValue), \(CPUFeatures.instructionSet)"
                  + (load > 0 ? ", \(load) busy loop\(load == 1 ? "" : "s") beside it" : ""))
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

    /// `--iterations`, 0 when timing by `--seconds`.
    static let fixedIterations = Atomic<Int>(0)

    /// Runs `body` twice to warm up, then as often as fits in `seconds` (or once to warm up, then
    /// `--iterations` times); returns calls per second.
    static func rate(seconds: Double, _ body: () -> Void) -> Double {
        let iterations = fixedIterations.load(ordering: .relaxed)
        if iterations > 0 {
            body()
            let start = DispatchTime.now().uptimeNanoseconds
            for _ in 0..<iterations { body() }
            return Double(iterations) / (Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
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
        // Every workload builds its inputs when it runs, so `--only` pays only for what it asks for.
        // The decoders' GEMMs (SPEC §5 workload: B 64, T 22, E 256, H 512, V 3000): the output layer
        // over all steps, the GRU input projection over all steps, and one recurrent step.
        let shapes: [(m: Int, k: Int, n: Int)] = [(1344, 512, 3000), (1344, 256, 1536), (64, 512, 1536)]
        var list = shapes.enumerated().map { index, s -> Workload in
            Workload(key: "matmul_\(s.m)x\(s.k)x\(s.n)_gflops", unit: "GFLOP/s") {
                var rng = RandomGenerator(seed: UInt64(index))
                let a = Tensor.randn([s.m, s.k], rng: &rng), w = Tensor.randn([s.n, s.k], rng: &rng)
                let perSecond = rate(seconds: seconds) { _ = linear(a, weight: w, bias: nil) }
                return perSecond * 2 * Double(s.m * s.k * s.n) / 1e9
            }
        }
        list.append(Workload(key: "gru_cell_b64_i256_h512_fwd_bwd_ms", unit: "ms") {
            var rng = RandomGenerator(seed: 0)
            let (b, i, h) = (64, 256, 512)
            let x = Tensor.randn([b, i], rng: &rng), h0 = Tensor.randn([b, h], rng: &rng)
            let bound = 1 / Float(h).squareRoot()
            let weights = [[3 * h, i], [3 * h, h], [3 * h], [3 * h]].map {
                Tensor.uniform($0, low: -bound, high: bound, rng: &rng, requiresGrad: true)
            }
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

    /// A value made on first use (bench inputs shared by several workloads).
    final class Lazy<T> {
        private var value: T?
        private let make: () -> T
        init(_ make: @escaping () -> T) { self.make = make }
        var get: T {
            if let value { return value }
            let v = make()
            value = v
            return v
        }
    }

    /// EfficientNet-Lite0 on random [32, 3, 224, 224] and [1, 3, 224, 224] input, as bench_torch.py
    /// times `extract_features`; needs the weights `scripts/bootstrap` downloads.
    static func encoderWorkloads(seconds: Double) -> [Workload] {
        let encoder = Lazy { () -> ConvNetEncoder? in
            guard let url = EncoderLoading.defaultWeights(for: EfficientNetLiteVariant.lite0.name),
                  let encoder = try? ConvNetEncoder.load(name: EfficientNetLiteVariant.lite0.name, weights: url) else {
                FileHandle.standardError.write(Data("bench: skipping the EfficientNet-Lite0 workloads: no weights in \(EncoderLoading.cacheDirectory.path)/weights (run scripts/bootstrap).\n".utf8))
                return nil
            }
            return encoder
        }
        let images = Lazy { () -> (batch32: [Float], single: [Float]) in
            var rng = RandomGenerator(seed: 1)
            func randomImages(_ batch: Int) -> [Float] { Tensor.randn([batch, 3, 224, 224], rng: &rng).scalars }
            return (randomImages(32), randomImages(1))
        }
        return [
            Workload(key: "features_lite0_b32_images_per_s", unit: "images/s") {
                guard let encoder = encoder.get else { return .nan }
                let batch32 = images.get.batch32
                return 32 * rate(seconds: seconds) { _ = try! encoder.encode(batch32, batch: 32, height: 224, width: 224) }
            },
            Workload(key: "features_lite0_b1_ms", unit: "ms") {
                guard let encoder = encoder.get else { return .nan }
                let single = images.get.single
                return 1000 / rate(seconds: seconds) { _ = try! encoder.encode(single, batch: 1, height: 224, width: 224) }
            },
        ]
    }

    /// SPEC §5's Flickr8k-shaped workload, as the PyTorch benchmark runs it:
    /// V 3000, C 1280, L 49, batch 64, T 22 with caption lengths 11.8 ± 3.8 words.
    static func decoderWorkloads(seconds: Double) -> [Workload] {
        let (v, c, l, b, t) = (3000, 1280, 49, 64, 22)
        let inputs = Lazy { () -> (tokens: IntTensor, features: ImageFeatures, total: Int) in
            var rng = RandomGenerator(seed: 0)
            let tokens = flickrLikeTokens(batch: b, vocabulary: v, steps: t, rng: &rng)
            let grid = Tensor.randn([b, l, c], rng: &rng)
            let features = ImageFeatures(pooled: Tensor.randn([b, c], rng: &rng), grid: grid)
            let total = tokens.values.filter { $0 != 0 }.count - b      // targets: words + <end>
            return (tokens, features, total)
        }

        func train(_ arch: Architecture, key: String) -> Workload {
            Workload(key: key, unit: "tokens/s") {
                let (tokens, features, total) = inputs.get
                let decoder = try! makeDecoder(DecoderConfig(architecture: arch, vocabularySize: v, featureSize: c), source: .initialise(seed: 0))
                let optimizer = Adam(decoder.namedParameters, learningRate: 4e-4)
                decoder.setTraining(true)
                // One team throughout, chosen as `caption train` chooses it (Trainer.team).
                let steps = Threads.withTeam(Threads.teamForNow()) { rate(seconds: seconds) { trainStep(decoder, optimizer, features, tokens) } }
                return steps * Double(total)
            }
        }

        let greedy = Workload(key: "greedy_showtell_gru_b64_captions_per_s", unit: "captions/s") {
            let features = inputs.get.features
            let decoder = try! makeDecoder(DecoderConfig(architecture: .showTellGRU, vocabularySize: v, featureSize: c), source: .initialise(seed: 0))
            decoder.setTraining(false)
            // As the PyTorch side: t − 1 steps of argmax for the whole batch, no early stop (the team
            // following the load before each batch, as `decodeCaptions` does).
            return rate(seconds: seconds) {
                Threads.followLoad()
                return Tape.withoutRecording {
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
            let one = inputs.get.features.rows([0])
            return 1000 / rate(seconds: seconds) {
                _ = decodeCaptions(decoder, one, options: SearchOptions(beamSize: 3, maxWords: t - 2, blockRepeatedTrigrams: false))   // as the twin searches
            }
        }

        /// Beam 3 of one image through the decoder a server runs: the shipped captioner's shapes
        /// (soft attention, Flickr8k's V = 2,538, EfficientNet-Lite2's 9×9 grid of 1,280 channels).
        func attentionBeam(_ arch: Architecture, key: String) -> Workload {
            Workload(key: key, unit: "ms") {
                var rng = RandomGenerator(seed: 1)
                let grid = Tensor.randn([1, 81, c], rng: &rng)
                let one = ImageFeatures(pooled: Tape.withoutRecording { grid.mean(axis: 1) }, grid: grid)
                let decoder = try! makeDecoder(DecoderConfig(architecture: arch, vocabularySize: 2_538, featureSize: c), source: .initialise(seed: 0))
                return 1000 / rate(seconds: seconds) {
                    _ = decodeCaptions(decoder, one, options: SearchOptions(beamSize: 3, maxWords: t - 2, blockRepeatedTrigrams: false))
                }
            }
        }

        return [
            train(.showTellGRU, key: "train_showtell_gru_tokens_per_s"),
            train(.showTellLSTM, key: "train_showtell_lstm_tokens_per_s"),
            train(.softAttentionGRU, key: "train_soft_attention_gru_tokens_per_s"),
            train(.adaptiveAttentionGRU, key: "train_adaptive_attention_gru_tokens_per_s"),
            greedy, beam,
            attentionBeam(.softAttentionGRU, key: "beam3_soft_attention_gru_v2538_ms"),
            attentionBeam(.adaptiveAttentionGRU, key: "beam3_adaptive_attention_gru_v2538_ms"),
        ]
    }

    // MARK: - Evaluation

    static let evaluationImages = 5000, evaluationReferences = 5

    /// tools/reference/bench_metrics.py's corpus: caption_corpus.make_sets(7, 5000, 5, 5).
    static func evaluationCorpus() -> [ScoringItem] {
        BenchCorpus.makeSets(seed: 7, count: evaluationImages, minReferences: evaluationReferences, maxReferences: evaluationReferences)
            .map { ScoringItem(image: $0.image, prediction: $0.prediction, references: $0.references) }
    }

    static func writeEvaluationCorpus(to directory: URL) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var references = "", predictions = ""
        func quoted(_ s: String) -> String {
            String(decoding: try! JSONSerialization.data(withJSONObject: [s], options: [.withoutEscapingSlashes]), as: UTF8.self).dropFirst().dropLast().description
        }
        for item in evaluationCorpus() {
            references += "{\"image\": \(quoted(item.image)), \"captions\": [\(item.references.map(quoted).joined(separator: ", "))]}\n"
            predictions += "{\"image\": \(quoted(item.image)), \"caption\": \(quoted(item.prediction))}\n"
        }
        try references.write(to: directory.appendingPathComponent("references.jsonl"), atomically: true, encoding: .utf8)
        try predictions.write(to: directory.appendingPathComponent("predictions.jsonl"), atomically: true, encoding: .utf8)
    }

    /// BLEU-1..4, ROUGE-L and CIDEr-D of 5,000 predictions against 5 references each, PTB-tokenised,
    /// as bench_metrics.py times pycocoevalcap (tokenizer + Bleu + Rouge + Cider; no METEOR).
    static func evaluationWorkloads(seconds: Double) -> [Workload] {
        [Workload(key: "evaluate_5000_seconds", unit: "s") {
            let items = evaluationCorpus()
            let scorer = CaptionScorer(options: ScoringOptions(meteor: false, threads: Threads.count))
            return 1 / rate(seconds: seconds) { _ = try! scorer.evaluate(items) }
        }]
    }

    /// bench_torch.py's `flickr_like_tokens`: lengths N(11.8, 3.8) clamped to 4…T−2, <start> w… <end> <pad>….
    static func flickrLikeTokens(batch b: Int, vocabulary v: Int, steps t: Int = 22, rng: inout RandomGenerator) -> IntTensor {
        var ids = [Int32](repeating: 0, count: b * t)
        for r in 0..<b {
            let n = min(max(Int((rng.normal() * 3.8 + 11.8).rounded()), 4), t - 2)
            ids[r * t] = 1
            for j in 1...n { ids[r * t + j] = Int32(4 + rng.int(below: v - 4)) }
            ids[r * t + n + 1] = 2
        }
        return IntTensor(shape: [b, t], values: ids)
    }
}
