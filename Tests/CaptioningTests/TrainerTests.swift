import CaptionData
import Foundation
import Testing
import TestSupport
import Layers
import TensorCore
@testable import Captioning

/// A toy task a decoder can learn quickly: each image's caption is spelled out by its features.
struct ToyTask {
    let features: InMemoryFeatures
    let samples: [TrainingSample]
    static let vocabulary = ["<pad>", "<start>", "<end>", "<unk>"] + (4..<14).map { "w\($0)" }

    init(images: Int = 24, seed: UInt64 = 3) {
        var rng = RandomGenerator(seed: seed)
        let grid = Tensor.randn([images, 4, 8], rng: &rng)
        let pooled = Tape.withoutRecording { grid.mean(axis: 1) }
        features = InMemoryFeatures(pooled: pooled, grid: grid)
        var samples: [TrainingSample] = []
        for i in 0..<images {
            // Word k of the caption is chosen by the signs of pooled channels 2k, 2k+1 (every decoder sees them).
            let words = (0..<3).map { k -> Int32 in
                let base = i * 8 + 2 * k
                return 4 + Int32(3 * k / 2) + Int32((pooled.data[base] > 0 ? 1 : 0) + (pooled.data[base + 1] > 0 ? 2 : 0))
            }
            samples.append(TrainingSample(image: i, tokens: [SpecialToken.start] + words + [SpecialToken.end]))
        }
        self.samples = samples
    }

    func model(_ arch: Architecture, seed: UInt64 = 9) throws -> CaptionModel {
        let config = DecoderConfig(architecture: arch, vocabularySize: Self.vocabulary.count, featureSize: 8,
                                   embeddingSize: 8, hiddenSize: 16, attentionSize: 8, dropout: 0.1)
        let decoder = try makeDecoder(config, source: .initialise(seed: seed))
        return CaptionModel(decoder: decoder, metadata: ModelMetadata(decoder: config, vocabulary: Self.vocabulary,
                                                                       encoder: EncoderInfo(), provenance: Provenance(dataset: "toy")))
    }

    /// Fraction of images whose greedy caption is exactly right.
    func accuracy(_ decoder: CaptionDecoder) -> Double {
        let all = features.features(rows: Array(0..<features.count))
        let decoded = decodeCaptions(decoder, all, options: .greedy(maxWords: 6)).map { $0[0] }
        let right = zip(decoded, samples).filter { $0.tokens == Array($1.tokens.dropFirst().dropLast()) }.count
        return Double(right) / Double(samples.count)
    }
}

@Suite struct TrainerTests {
    @Test(arguments: Architecture.allCases)
    func learnsTheToyTask(_ arch: Architecture) throws {
        let task = ToyTask()
        let model = try task.model(arch)
        var options = TrainingSettings()
        options.epochs = 60
        options.batchSize = 8
        options.learningRate = 1e-2
        options.earlyStoppingPatience = 100
        options.monitor = "accuracy"
        options.plateauPatience = 100
        let trainer = try Trainer(model: model, samples: task.samples, features: task.features, settings: options,
                                  validate: { ["accuracy": task.accuracy($0)] })
        let temporary = try TemporaryDirectory(), dir = temporary.url
        let summary = try trainer.run(checkpoint: dir.appendingPathComponent("c.ckpt"), bestModel: dir.appendingPathComponent("m.safetensors"),
                                      log: dir.appendingPathComponent("log.jsonl"))
        #expect(summary.history.first!.trainLoss > summary.history.last!.trainLoss * 3, "\(arch): loss did not fall")
        #expect((summary.bestScore ?? 0) >= 0.5, "\(arch): best greedy accuracy \(summary.bestScore ?? 0)")
        let log = try String(contentsOf: dir.appendingPathComponent("log.jsonl"), encoding: .utf8)
        #expect(log.split(separator: "\n").count == 60)
        // The best model file reloads to the same accuracy.
        let reloaded = try CaptionModel.load(dir.appendingPathComponent("m.safetensors"))
        #expect(task.accuracy(reloaded.decoder) == summary.bestScore)
        #expect(reloaded.metadata.provenance.bestValidation?["accuracy"] == summary.bestScore)
    }

    func options(epochs: Int) -> TrainingSettings {
        var o = TrainingSettings()
        o.epochs = epochs
        o.batchSize = 5
        o.learningRate = 5e-3
        o.scheduledSampling = 0.25
        return o
    }

    @Test(arguments: [Architecture.showTellLSTM, .softAttentionGRU])
    func interruptedRunResumesToTheSameWeights(_ arch: Architecture) throws {
        let task = ToyTask()
        let temporary = try TemporaryDirectory(), dir = temporary.url
        let validate: (CaptionDecoder) -> [String: Double] = { ["BLEU-4": task.accuracy($0)] }

        let straight = try task.model(arch)
        _ = try Trainer(model: straight, samples: task.samples, features: task.features, settings: options(epochs: 3), validate: validate)
            .run(checkpoint: dir.appendingPathComponent("a.ckpt"), bestModel: dir.appendingPathComponent("a.safetensors"), log: nil)

        // Stop in the middle of the second epoch, as Ctrl-C would, then resume in a fresh trainer.
        var steps = 0
        let first = try task.model(arch)
        let interrupted = try Trainer(model: first, samples: task.samples, features: task.features, settings: options(epochs: 3), validate: validate)
        let checkpoint = dir.appendingPathComponent("b.ckpt")
        let partial = try interrupted.run(checkpoint: checkpoint, bestModel: dir.appendingPathComponent("b.safetensors"), log: nil,
                                          shouldStop: { steps += 1; return steps == 7 })
        #expect(partial.stopReason == .interrupted)
        let second = try task.model(arch, seed: 12345)      // different initial weights: all must come from the checkpoint
        let resumed = try Trainer(model: second, samples: task.samples, features: task.features, settings: options(epochs: 3), validate: validate)
        try resumed.resume(from: checkpoint)
        let summary = try resumed.run(checkpoint: checkpoint, bestModel: dir.appendingPathComponent("b.safetensors"), log: nil)
        #expect(summary.stopReason == .completed)
        #expect(summary.history.count == 3)
        for ((name, a), (_, b)) in zip(straight.decoder.namedParameters, second.decoder.namedParameters) {
            #expect(a.scalars == b.scalars, "\(arch): \(name) differs after resuming")
        }
    }

    @Test func sameSeedSameRun() throws {
        let task = ToyTask()
        let temporary = try TemporaryDirectory(), dir = temporary.url
        var weights: [[Float]] = []
        for run in 0..<2 {
            let model = try task.model(.showTellGRU)
            _ = try Trainer(model: model, samples: task.samples, features: task.features, settings: options(epochs: 2), validate: nil)
                .run(checkpoint: dir.appendingPathComponent("\(run).ckpt"), bestModel: dir.appendingPathComponent("\(run).safetensors"), log: nil)
            weights.append(model.decoder.parameters.flatMap(\.scalars))
        }
        #expect(weights[0] == weights[1])
    }

    @Test func timeBudgetStopsTraining() throws {
        let task = ToyTask()
        let temporary = try TemporaryDirectory(), dir = temporary.url
        var o = options(epochs: 1000)
        o.timeBudget = 0.3
        let summary = try Trainer(model: try task.model(.showTellGRU), samples: task.samples, features: task.features, settings: o, validate: nil)
            .run(checkpoint: dir.appendingPathComponent("c.ckpt"), bestModel: dir.appendingPathComponent("m.safetensors"), log: nil)
        #expect(summary.stopReason == .timeBudget)
        #expect(summary.history.count < 1000)
        #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("m.safetensors").path))
    }

    @Test func badInputsAreClearErrors() throws {
        let task = ToyTask()
        let model = try task.model(.softAttentionGRU)
        #expect(throws: TrainingError.self) {
            _ = try Trainer(model: model, samples: [], features: task.features, settings: TrainingSettings(), validate: nil)
        }
        #expect(throws: TrainingError.self) {
            _ = try Trainer(model: model, samples: task.samples, features: InMemoryFeatures(pooled: task.features.pooled, grid: nil),
                            settings: TrainingSettings(), validate: nil)
        }
        let temporary = try TemporaryDirectory(), dir = temporary.url
        let plainModel = dir.appendingPathComponent("m.safetensors")
        try model.save(to: plainModel)
        let trainer = try Trainer(model: model, samples: task.samples, features: task.features, settings: TrainingSettings(), validate: nil)
        #expect(throws: TrainingError.self) { try trainer.resume(from: plainModel) }
    }
}

@Suite struct ModelFileTests {
    @Test func savesAndLoadsEveryArchitecture() throws {
        let task = ToyTask()
        let temporary = try TemporaryDirectory(), dir = temporary.url
        for arch in Architecture.allCases {
            let model = try task.model(arch)
            let url = dir.appendingPathComponent("\(arch.rawValue).safetensors")
            try model.save(to: url)
            let back = try CaptionModel.load(url)
            #expect(back.metadata == model.metadata)
            for ((n1, a), (n2, b)) in zip(model.decoder.namedParameters, back.decoder.namedParameters) {
                #expect(n1 == n2 && a.scalars == b.scalars)
            }
        }
    }

    @Test func foreignTruncatedAndMismatchedFilesAreRejected() throws {
        let temporary = try TemporaryDirectory(), dir = temporary.url
        let model = try ToyTask().model(.showTellGRU)
        let url = dir.appendingPathComponent("m.safetensors")
        try model.save(to: url)
        // Foreign: a safetensors file without Captioner metadata.
        let foreign = dir.appendingPathComponent("foreign.safetensors")
        try SafeTensors(tensors: ["w": Tensor(zeros: [2])]).write(to: foreign)
        #expect(throws: ModelFileError.self) { _ = try CaptionModel.load(foreign) }
        // Truncated.
        let data = try Data(contentsOf: url)
        let truncated = dir.appendingPathComponent("truncated.safetensors")
        try data.prefix(data.count / 2).write(to: truncated)
        #expect(throws: SafeTensorsError.self) { _ = try CaptionModel.load(truncated) }
        // Shapes that do not fit the architecture it names.
        var file = model.safeTensors()
        file.tensors["out.bias"] = Tensor(zeros: [99])
        let mismatched = dir.appendingPathComponent("mismatched.safetensors")
        try file.write(to: mismatched)
        do {
            _ = try CaptionModel.load(mismatched)
            Issue.record("a mismatched model loaded")
        } catch let error as WeightError {
            #expect(error.description.contains("out.bias") && error.description.contains(mismatched.path))
        }
    }
}
