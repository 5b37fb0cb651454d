import ArgumentParser
import CaptionData
import Captioning
import Foundation
import Layers
import Synchronization
import TensorCore

/// Set by SIGINT: training stops after the current step and writes its checkpoint.
let interruptRequested = Atomic<Bool>(false)

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a caption decoder on precomputed image features.",
        discussion: """
        Teacher forcing with Adam, gradient clipping and dropout; validation BLEU-4 by real greedy decoding after \
        every epoch drives the learning-rate plateau (×0.8) and early stopping. The best model goes to --out, a \
        checkpoint to --checkpoint after every epoch and on Ctrl-C, and one JSON line per epoch to --log. \
        `--resume` continues a checkpoint exactly: the same seed gives the same weights as an uninterrupted run.

        Self-critical training (`--from MODEL --reward cider-d`) continues a model trained this way: each step \
        samples --samples captions per image from the model, rewards each by its CIDEr-D against the image's \
        training captions, subtracts a baseline (the greedy caption's reward, or the mean of the other samples) and \
        follows the REINFORCE gradient; validation CIDEr-D picks the best model. Its learning rate defaults to 5e-5.

        Under `mpirun -np N` the N ranks train one model: --batch-size is each rank's, so \
        the job trains at N times it, as one process would at that batch; gradients are summed over the ranks \
        every step, and rank 0 alone writes the model, checkpoint and log. `kill -USR1` on mpirun stops the job \
        after a step with a checkpoint (Ctrl-C makes mpirun kill its ranks); `--resume` continues it with any N.
        """)

    @OptionGroup var runtime: RuntimeOptions
    @Option(help: "The dataset (a folder or caption file in any supported layout).") var data: String
    @Option(help: "Features of the dataset's images, from caption features.") var features: String
    @Option(help: "Decoder: \(Architecture.allCases.map(\.rawValue).joined(separator: ", ")) (default: \(Architecture.softAttentionGRU.rawValue), or --from's).")
    var arch: String?
    @Option(help: "Continue this trained model (its decoder, weights and vocabulary) instead of starting afresh.")
    var from: String?
    @Option(name: [.short, .customLong("out")], help: "Where the best model is written.") var out: String
    @Option(help: "Training checkpoint (default: <out>.checkpoint).") var checkpoint: String?
    @Option(help: "Epoch log, JSON lines (default: <out>.log.jsonl).") var log: String?
    @Flag(help: "Continue from --checkpoint.") var resume = false

    @OptionGroup var training: TrainingFlags
    @OptionGroup(title: "Self-critical training") var selfCritical: SelfCriticalFlags
    @Flag(help: "Captions whose images have no features are an error (by default they are counted, reported and skipped).")
    var strict = false

    func run() throws {
        try runtime.apply()
        setvbuf(stdout, nil, _IOLBF, 0)     // keep stdout lines in order with the progress bar on stderr
        // Under mpirun every rank trains its share of each batch; the leader alone writes and reports.
        let group = CaptionTool.group
        func say(_ line: String) { if group.isLeader { print(line) } }
        func note(_ message: String) { if group.isLeader { warn(message) } }
        // Every rank checks the flags and files; they agree on the outcome before any starts (CaptionTool.agree).
        let prepared = try CaptionTool.agree { try prepare(group: group, note: note) }
        let (run, dataset, architecture) = (prepared.run, prepared.dataset, prepared.architecture)
        let (outURL, checkpointURL, logURL) = (prepared.out, prepared.checkpoint, prepared.log)
        let (data, decoder, trainer) = (run.data, run.model.decoder, run.trainer)
        let settings = trainer.settings
        if data.validation.isEmpty { note("\(dataset.name) has no validation split: no early stopping; the last epoch's model is kept.") }

        let objective = settings.selfCritical.map { "self-critical (CIDEr-D reward, \($0.samples) samples per image, \($0.baseline.rawValue) baseline) " } ?? ""
        let what = settings.selfCritical == nil ? "\(data.samples.count) captions" : "\(trainer.sampleCount) images"
        let ranks = group.size > 1 ? "batches of \(trainer.settings.batchSize) shared by \(group.size) ranks of \(trainer.team) threads" : "\(trainer.team) threads"
        say("training \(architecture.rawValue) \(objective)on \(what) of \(dataset.name): vocabulary \(data.vocabulary.count), "
            + "\(decoder.parameterCount) parameters, \(trainer.stepsPerEpoch) steps per epoch, "
            + "\(ranks), \(Precision.defaultMatmul.rawValue) matrix products")
        // mpirun kills its ranks on Ctrl-C, but forwards SIGUSR1: the way to stop a job at a step.
        catchStopSignals(SIGINT, SIGUSR1)
        let bars = group.isLeader ? EpochProgressBars() : nil
        let summary = try trainer.run(checkpoint: checkpointURL, bestModel: outURL, log: logURL,
                                      progress: bars?.update, shouldStop: { interruptRequested.load(ordering: .relaxed) })
        bars?.finish()
        for record in summary.history.suffix(3) {
            let scores = ["BLEU-4", "CIDEr-D"].compactMap { k in record.validation[k].map { "\(k) \(String(format: "%.4f", $0))" } }
            say("epoch \(record.epoch): loss \(String(format: "%.4f", record.trainLoss)), \(String(format: "%.0f", record.tokensPerSecond)) tokens/s"
                  + (scores.isEmpty ? "" : ", " + scores.joined(separator: ", "))
                  + (record.communicationSeconds.map { String(format: "; %.1f of its %.1f s summing gradients over the ranks", $0, record.seconds) } ?? ""))
        }
        switch summary.stopReason {
        case .interrupted:
            say("interrupted: checkpoint written to \(checkpointURL.path); continue with --resume")
            throw ExitCode(130)
        case .earlyStopping: say("stopped early: no better validation \(settings.monitoredMetric) for \(training.patience) epochs")
        case .timeBudget: say("stopped: time budget of \(Int(training.timeBudget ?? 0)) s used")
        case .completed: break
        }
        say("best model: \(outURL.path)" + (summary.bestScore.map { " (\(settings.monitoredMetric) \(String(format: "%.4f", $0)) at epoch \(summary.bestEpoch!))" } ?? ""))
    }

    /// What `run` trains with, once every rank has checked the flags and files.
    struct Prepared {
        let run: TrainingRun
        let dataset: CaptionDataset
        let architecture: Architecture
        let out: URL, checkpoint: URL, log: URL
    }

    /// Checks the flags and files, loads the dataset, features and any model or checkpoint, and
    /// builds the run; `note` prints a warning (rank 0's alone in a job).
    func prepare(group: ProcessGroup, note: (String) -> Void) throws -> Prepared {
        let start = try from.map { try CaptionModel.load(URL(fileURLWithPath: $0)) }
        var architecture = start?.metadata.decoder.architecture ?? .softAttentionGRU
        if let arch {
            guard let chosen = Architecture(rawValue: arch) else {
                throw ValidationError("unknown --arch \(arch); choose one of \(Architecture.allCases.map(\.rawValue).joined(separator: ", ")).")
            }
            if chosen != architecture, let from {
                throw ValidationError("--arch \(arch) differs from the \(architecture.rawValue) decoder of --from \(from): drop --arch to continue that model.")
            }
            architecture = chosen
        }
        if selfCritical.reward != nil && start == nil {
            throw ValidationError("--reward continues a model trained with cross-entropy: pass it as --from MODEL (train one first with caption train).")
        }
        let checkpointPath = checkpoint ?? out + ".checkpoint", logPath = log ?? out + ".log.jsonl"
        if group.isLeader {   // the only rank that writes them
            try OutputPath.checkFile(out, option: "--out")
            try OutputPath.checkFile(checkpointPath, option: "--checkpoint")
            try OutputPath.checkFile(logPath, option: "--log")
        }
        let (outURL, checkpointURL, logURL) = (URL(fileURLWithPath: out), URL(fileURLWithPath: checkpointPath), URL(fileURLWithPath: logPath))
        let dataset = try CaptionDataset.load(data, strict: strict, checkImages: false)
        let store = try FeatureStore(URL(fileURLWithPath: features))
        // A resumed run keeps the vocabulary and decoder it started with.
        var saved: ModelMetadata?
        if resume {
            guard FileManager.default.fileExists(atPath: checkpointURL.path) else {
                throw ValidationError("--resume: \(checkpointURL.path) does not exist; start without --resume or pass --checkpoint.")
            }
            saved = try CaptionModel.metadata(of: SafeTensors.read(checkpointURL), at: checkpointURL)
        }
        // --batch-size is each rank's: the job's batch is N times it, the batch one process would train at.
        var settings = training.settings(architecture, selfCritical: selfCritical.options)
        settings.batchSize *= group.size
        let run = try TrainingRun(dataset: dataset, features: store, settings: settings,
                                  vocabulary: try saved.map { try Vocabulary(tokens: $0.vocabulary) }, from: start,
                                  commit: ShippedModel.checkoutCommit(), group: group)
        run.model.metadata.provenance.command = (["caption"] + CommandLine.arguments.dropFirst()).joined(separator: " ")
        if let saved, saved.decoder != run.model.metadata.decoder {
            let (was, now) = (saved.decoder, run.model.metadata.decoder)
            throw CommandFailure("\(checkpointURL.path) holds a \(was.architecture.rawValue) decoder (embed \(was.embeddingSize), hidden \(was.hiddenSize), "
                                 + "attention \(was.attentionSize), dropout \(was.dropout), \(was.featureSize) features) but this run asks for a "
                                 + "\(now.architecture.rawValue) (embed \(now.embeddingSize), hidden \(now.hiddenSize), attention \(now.attentionSize), "
                                 + "dropout \(now.dropout), \(now.featureSize) features): resume with the flags it was started with, or start without --resume.")
        }
        let (data, trainer) = (run.data, run.trainer)
        for warning in dataset.warnings { note(warning) }
        if !data.imagesWithoutFeatures.isEmpty && strict {
            throw CommandFailure("\(data.imagesWithoutFeatures.count) captioned images of \(self.data) have no features in \(features) (e.g. \(data.imagesWithoutFeatures[0])): extract them with caption features, or drop --strict to skip them.")
        }
        if !data.imagesWithoutFeatures.isEmpty {
            note("\(data.imagesWithoutFeatures.count) images of \(dataset.name) have no features in \(features) (e.g. \(data.imagesWithoutFeatures[0])); they are skipped.")
        }
        if resume {
            try trainer.resume(from: checkpointURL)
            run.model.metadata.provenance.settings = trainer.settings   // the run's, as the checkpoint holds them
        }
        return Prepared(run: run, dataset: dataset, architecture: architecture, out: outURL, checkpoint: checkpointURL, log: logURL)
    }
}

/// Ctrl-C (and the other `signals`) set `interruptRequested` (`CaptionTool.main` unblocked them).
func catchStopSignals(_ signals: Int32...) {
    for number in signals { signal(number) { _ in interruptRequested.store(true, ordering: .relaxed) } }
}

func warn(_ message: String) {
    FileHandle.standardError.write(Data("warning: \(message)\n".utf8))
}

/// The training choices `caption train` and `caption compare` share, with the same names and defaults.
struct TrainingFlags: ParsableArguments {
    @Option(parsing: .unconditional) var epochs = 20
    @Option(name: .customLong("batch-size"), parsing: .unconditional, help: "Captions per step (each rank's, under mpirun).") var batchSize = 64
    @Option(name: .customLong("lr"), parsing: .unconditional, help: "Adam learning rate (default: 4e-4, or 5e-5 with --reward).") var learningRate: Float?
    @Option(parsing: .unconditional, help: "Seed for initialisation, shuffling, dropout and sampling.") var seed: UInt64 = 1
    @Option(name: .customLong("min-count"), parsing: .unconditional, help: "Keep words seen at least this often in training captions.") var minCount = 5
    @Option(name: .customLong("max-words"), parsing: .unconditional, help: "Longer captions are cut.") var maxWords = 30
    @Option(parsing: .unconditional) var embed = 256
    @Option(parsing: .unconditional) var hidden = 512
    @Option(parsing: .unconditional, help: "Attention size (soft attention).") var attention = 256
    @Option(parsing: .unconditional) var dropout: Float = 0.5
    @Option(name: .customLong("clip"), parsing: .unconditional, help: "Gradient-norm limit.") var gradientClip: Float = 5
    @Option(name: .customLong("attention-penalty"), parsing: .unconditional, help: "λ of the doubly stochastic attention penalty (default 1 for soft attention).")
    var attentionPenalty: Float?
    @Option(name: .customLong("scheduled-sampling"), parsing: .unconditional, help: "Final probability of feeding back the model's own word.") var scheduledSampling: Float = 0
    @Option(parsing: .unconditional, help: "Early-stopping patience, in epochs.") var patience = 4
    @Option(name: .customLong("time-budget"), parsing: .unconditional, help: "Stop after this many seconds of training.") var timeBudget: Double?

    func validate() throws {
        try OptionCheck.integer(epochs, "--epochs", 1...100_000)
        try OptionCheck.integer(batchSize, "--batch-size", 1...65_536)
        if let learningRate { try OptionCheck.number(learningRate, "--lr", above: 0) }
        try OptionCheck.integer(minCount, "--min-count", 1...Int.max)
        try OptionCheck.integer(maxWords, "--max-words", 1...1_000)
        try OptionCheck.integer(embed, "--embed", 1...65_536)
        try OptionCheck.integer(hidden, "--hidden", 1...65_536)
        try OptionCheck.integer(attention, "--attention", 1...65_536)
        try OptionCheck.number(dropout, "--dropout", atLeast: 0, below: 1)
        try OptionCheck.number(gradientClip, "--clip", above: 0)
        if let attentionPenalty { try OptionCheck.number(attentionPenalty, "--attention-penalty", atLeast: 0) }
        try OptionCheck.number(scheduledSampling, "--scheduled-sampling", atLeast: 0, atMost: 1)
        try OptionCheck.integer(patience, "--patience", 1...Int.max)
        if let timeBudget { try OptionCheck.number(timeBudget, "--time-budget", above: 0) }
    }

    /// The flags as the settings `TrainingRun` (and `caption compare`) share.
    func settings(_ architecture: Architecture, selfCritical: SelfCriticalOptions? = nil) -> TrainingSettings {
        var settings = TrainingSettings()
        settings.architecture = architecture
        settings.epochs = epochs
        settings.batchSize = batchSize
        settings.learningRate = learningRate ?? (selfCritical == nil ? 4e-4 : 5e-5)
        settings.seed = seed
        settings.minCount = minCount
        settings.maxWords = maxWords
        settings.embeddingSize = embed
        settings.hiddenSize = hidden
        settings.attentionSize = attention
        settings.dropout = dropout
        settings.gradientClip = gradientClip
        settings.attentionPenalty = attentionPenalty
        settings.scheduledSampling = scheduledSampling
        settings.earlyStoppingPatience = patience
        settings.timeBudget = timeBudget
        settings.selfCritical = selfCritical
        return settings
    }
}

/// `caption train`'s self-critical flags (`--reward` turns it on).
struct SelfCriticalFlags: ParsableArguments {
    @Option(help: "Self-critical training with this reward (cider-d); needs --from.") var reward: String?
    @Option(parsing: .unconditional, help: "Self-critical: captions sampled per image and step.") var samples = 5
    @Option(help: "Self-critical baseline: greedy (the greedy caption's reward) or mean (of the image's other samples).") var baseline = "greedy"
    @Option(parsing: .unconditional, help: "Self-critical: sampling temperature (1 samples the model's own distribution).") var temperature: Float = 1
    @Option(name: .customLong("sample-words"), parsing: .unconditional, help: "Self-critical: longest sampled caption, in words.") var sampleWords = 16

    func validate() throws {
        if let reward, reward != "cider-d" { throw ValidationError("unknown --reward \(reward); the reward is cider-d.") }
        try OptionCheck.integer(samples, "--samples", 1...100)
        guard let chosen = SelfCriticalOptions.Baseline(rawValue: baseline) else {
            throw ValidationError("unknown --baseline \(baseline); choose greedy or mean.")
        }
        if chosen == .mean && samples < 2 { throw ValidationError("--baseline mean needs --samples 2 or more (the mean of the image's other samples).") }
        try OptionCheck.number(temperature, "--temperature", above: 0)
        try OptionCheck.integer(sampleWords, "--sample-words", 1...1_000)
    }

    /// The options, when --reward asks for self-critical training.
    var options: SelfCriticalOptions? {
        guard reward != nil else { return nil }
        return SelfCriticalOptions(samples: samples, baseline: SelfCriticalOptions.Baseline(rawValue: baseline) ?? .greedy,
                                   temperature: temperature, maxWords: sampleWords)
    }
}
