import AtomicFiles
import CaptionData
import Foundation
import Layers
import TensorCore

/// One training caption: its image's feature row and its ids, <start> w… <end>.
public struct TrainingSample: Equatable, Sendable {
    public var image: Int
    public var tokens: [Int32]
    public init(image: Int, tokens: [Int32]) {
        self.image = image
        self.tokens = tokens
    }
}

public struct EpochRecord: Codable, Equatable, Sendable {
    public var epoch: Int
    public var trainLoss: Double
    public var tokensPerSecond: Double
    public var seconds: Double
    public var learningRate: Float
    public var validation: [String: Double]
    /// Self-critical runs: the samples' mean CIDEr-D reward and mean baseline over the epoch.
    public var reward: Double?
    public var baseline: Double?
    /// Runs of several processes: the seconds the epoch's steps spent summing gradients over them
    /// (MPI_Allreduce), part of `seconds`.
    public var communicationSeconds: Double?
}

public struct TrainingProgress: Sendable {
    public var epoch: Int, epochs: Int, step: Int, steps: Int
    public var loss: Double
    public var tokensPerSecond: Double
    /// Training seconds so far in this epoch, and in the whole run.
    public var epochSeconds: Double
    public var elapsed: Double
    /// Self-critical runs: the mean reward (CIDEr-D of the samples) and baseline so far this epoch.
    public var reward: Double?
    public var baseline: Double?
}

public enum StopReason: String, Codable, Sendable {
    case completed, earlyStopping = "early-stopping", timeBudget = "time-budget", interrupted
}

public struct TrainingSummary: Sendable {
    public var history: [EpochRecord]
    public var stopReason: StopReason
    public var bestScore: Double?
    public var bestEpoch: Int?
}

/// Everything needed to continue a run exactly where it stopped.
struct TrainerState: Codable, Equatable {
    var settings: TrainingSettings
    var epoch = 0                 // current epoch, from 0
    var step = 0                  // next step within the epoch
    var epochLoss: Double = 0     // Σ loss·tokens so far this epoch
    var epochTokens = 0
    var epochSeconds: Double = 0
    var elapsed: Double = 0
    var history: [EpochRecord] = []
    var plateau: PlateauSchedule
    var bestScore: Double?
    var bestEpoch: Int?
    var badEpochs = 0
    var finished: StopReason?
    var optimizerStep = 0
    /// Self-critical runs: Σ reward·images, Σ baseline·images and images so far this epoch.
    var rewards: RewardSums?
    /// Runs of several processes: seconds spent summing gradients so far this epoch.
    var epochCommunication: Double?
    /// The kernels' team the run trains with, from its first step to its last (`Trainer.team`).
    var team: Int?

    // "options": the key checkpoints have always used.
    enum CodingKeys: String, CodingKey {
        case settings = "options", epoch, step, epochLoss, epochTokens, epochSeconds, elapsed, history, plateau
        case bestScore, bestEpoch, badEpochs, finished, optimizerStep, rewards, epochCommunication, team
    }
}

/// What a step's processes asked for, summed over the group with its gradients: any process's
/// Ctrl-C stops every process, and the leader's clock spends the time budget for all.
struct StopRequests {
    var interrupted = false, budgetSpent = false
    var figures: [Float] { [interrupted ? 1 : 0, budgetSpent ? 1 : 0] }
    init(interrupted: Bool, budgetSpent: Bool) { (self.interrupted, self.budgetSpent) = (interrupted, budgetSpent) }
    init<C: Collection<Float>>(figures: C) { (interrupted, budgetSpent) = (figures.first! > 0, figures.dropFirst().first! > 0) }
}

/// One step's results for the whole batch: its mean loss and target tokens, for self-critical steps
/// the samples' mean reward and baseline, and the stop requests.
struct StepOutcome {
    var loss: Double
    var tokens: Int
    var rewards: (reward: Double, baseline: Double)?
    var stops: StopRequests
}

struct RewardSums: Codable, Equatable {
    var reward: Double = 0, baseline: Double = 0, images = 0
    var meanReward: Double { reward / Double(max(images, 1)) }
    var meanBaseline: Double { baseline / Double(max(images, 1)) }
}

public struct TrainingError: Error, CustomStringConvertible {
    public let description: String
}

/// Teacher-forced training with Adam, gradient clipping, dropout, optional scheduled sampling, a
/// plateau learning-rate decay and early stopping on a validation score computed by real decoding.
/// Runs are repeatable: shuffles, dropout masks and sampling draws all derive from (seed, epoch,
/// step), so a run resumed from a checkpoint ends with the same weights as one never interrupted.
public final class Trainer {
    public let model: CaptionModel
    let samples: [TrainingSample]
    let features: FeatureSource
    let optimizer: Adam
    var state: TrainerState
    /// Set for self-critical training: the references and reward its steps score samples with.
    let selfCritical: SelfCriticalCorpus?
    /// Scores the decoder on held-out data (e.g. BLEU-4 of greedy captions); nil skips validation.
    let validate: ((CaptionDecoder) -> [String: Double])?
    /// The processes sharing each batch (MPI ranks), or this one alone.
    public let group: ProcessGroup
    /// The gradients and figures a step sums over the group, kept from step to step.
    var exchangeBuffer: [Float] = []
    /// What else the processes of a group must agree on before they start (`checkTheGroupAgrees`),
    /// such as the validation images behind `validate`.
    public var agreement: [(what: String, value: UInt64)] = []

    /// With `selfCritical`, the run trains by self-critical sequence training on the corpus's images
    /// (`samples` is then ignored) and `settings.selfCritical` records its settings.
    /// `group`: the processes training this model together; each computes its share of every batch,
    /// and only the leader writes files.
    public init(model: CaptionModel, samples: [TrainingSample], features: FeatureSource, settings: TrainingSettings,
                selfCritical: SelfCriticalCorpus? = nil, group: ProcessGroup = SingleProcess(),
                validate: ((CaptionDecoder) -> [String: Double])?) throws {
        let samples = selfCritical?.samples ?? samples
        guard !samples.isEmpty else { throw TrainingError(description: "the training split has no captions: check the dataset and its split lists.") }
        if model.decoder.config.architecture.usesGrid && !features.hasGrid {
            throw TrainingError(description: "\(model.decoder.config.architecture.rawValue) needs grid features, but the feature store has only pooled ones: re-run caption features.")
        }
        self.model = model
        self.samples = samples
        self.features = features
        self.validate = validate
        self.selfCritical = selfCritical
        self.group = group
        var settings = settings
        settings.selfCritical = selfCritical?.options
        optimizer = Adam(model.decoder.namedParameters, learningRate: settings.learningRate)
        state = TrainerState(settings: settings, plateau: PlateauSchedule(rate: settings.learningRate, mode: .max,
                                                                          factor: settings.plateauFactor, patience: settings.plateauPatience))
    }

    public var settings: TrainingSettings { state.settings }
    public var history: [EpochRecord] { state.history }
    /// Training captions, or images for self-critical training.
    public var sampleCount: Int { samples.count }
    public var stepsPerEpoch: Int { (samples.count + settings.batchSize - 1) / settings.batchSize }

    /// A 64-bit mix of the seed with counters (SplitMix64 finaliser), for per-step generators.
    static func mix(_ values: UInt64...) -> UInt64 {
        var h: UInt64 = 0x9E37_79B9_7F4A_7C15
        for v in values {
            h ^= v &+ 0x9E37_79B9_7F4A_7C15 &+ (h << 6) &+ (h >> 2)
            h = (h ^ (h >> 30)) &* 0xBF58_476D_1CE4_E5B9
            h = (h ^ (h >> 27)) &* 0x94D0_49BB_1331_11EB
            h ^= h >> 31
        }
        return h
    }

    func order(epoch: Int) -> [Int] {
        var rng = RandomGenerator(seed: Self.mix(settings.seed, UInt64(epoch), 0x5EED))
        var order = Array(0..<samples.count)
        for i in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(i, rng.int(below: i + 1)) }
        return order
    }

    /// One optimisation step on the global batch `batch`, of which this process computes its share
    /// (`ProcessGroup.share`): every caption keeps its batch row for dropout and scheduled sampling,
    /// the loss is weighted by the share (`BatchShare`), and the gradients and figures are summed
    /// over the group before the update, so every process applies the update of the whole batch.
    /// `stops()` is asked just before that sum: (interrupted, time budget spent), true if on any process.
    func trainStep(_ batch: [TrainingSample], epoch: Int, step: Int, stops: () -> StopRequests) -> StepOutcome {
        if let selfCritical { return selfCriticalStep(batch, corpus: selfCritical, epoch: epoch, step: step, stops: stops) }
        let decoder = model.decoder
        decoder.setTraining(true)
        decoder.dropoutGenerator = RandomGenerator(seed: Self.mix(settings.seed, UInt64(epoch), UInt64(step), 0xD80))
        let rows = group.share(of: batch.count)
        decoder.dropout.firstRow = rows.lowerBound
        let mine = batch[rows]
        // The whole batch's width, so every part's rows have the shape (and dropout draws) they have in it.
        let width = batch.map(\.tokens.count).max()!
        let targets = batch.reduce(0) { $0 + $1.tokens.count - 1 }
        var loss: Float = 0
        if !mine.isEmpty {
            var ids = [Int32](repeating: SpecialToken.pad, count: mine.count * width)
            for (r, s) in mine.enumerated() { for (j, t) in s.tokens.enumerated() { ids[r * width + j] = t } }
            let tokens = IntTensor(shape: [mine.count, width], values: ids)
            let share = group.size == 1 ? BatchShare.whole
                : BatchShare(targets: Float(mine.reduce(0) { $0 + $1.tokens.count - 1 }) / Float(targets),
                             captions: Float(mine.count) / Float(batch.count))
            let feats = features.features(rows: mine.map(\.image))
            let sampling = settings.scheduledSampling * Float(epoch + 1) / Float(max(settings.epochs, 1))
            let penalty = settings.attentionPenalty ?? decoder.config.architecture.defaultAttentionPenalty
            let tape = Tape()
            let value = tape.record { () -> Tensor in
                if sampling > 0 {
                    var rng = RandomGenerator(seed: Self.mix(settings.seed, UInt64(epoch), UInt64(step), 0x55))
                    let (logits, attention) = decoder.forwardScheduled(feats, tokens: tokens, probability: sampling, rng: &rng,
                                                                       firstRow: rows.lowerBound, batchRows: batch.count)
                    return captionLoss(logits: logits, attention: attention, tokens: tokens, attentionPenalty: penalty, share: share)
                }
                // Teacher forcing with the output layer fused into the loss (same value and gradients).
                return decoder.trainingLoss(feats, tokens: tokens, attentionPenalty: penalty, share: share)
            }
            tape.backward(from: value)
            loss = value.item
        }
        let summed = exchange(figures: [loss] + stops().figures)
        update()
        return StepOutcome(loss: Double(summed[0]), tokens: targets, rewards: nil, stops: StopRequests(figures: summed.dropFirst()))
    }

    /// Sums the gradients and `figures` over the group (`sumGradients`), timing it.
    func exchange(figures: [Float]) -> [Float] {
        guard group.size > 1 else { return figures }
        let started = DispatchTime.now().uptimeNanoseconds
        defer { state.epochCommunication = (state.epochCommunication ?? 0) + Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9 }
        return sumGradients(model.decoder.parameters, figures: figures, over: group, buffer: &exchangeBuffer)
    }

    /// clip_grad_norm_ then step, with the clipping applied as the optimizer reads the gradients.
    func update() {
        optimizer.step(gradientScale: gradientClipping(model.decoder.parameters, maxNorm: settings.gradientClip).coefficient)
        optimizer.zeroGrad()
    }

    /// Trains until the epochs run out, early stopping, the time budget, or `shouldStop()` (checked
    /// after every step, e.g. set by Ctrl-C). Writes `checkpoint` after every epoch and when stopped,
    /// the best model to `bestModel`, and the epoch log (JSON lines) to `log`.
    public func run(checkpoint: URL, bestModel: URL, log: URL?, progress: ((TrainingProgress) -> Void)? = nil,
                    shouldStop: () -> Bool = { false }) throws -> TrainingSummary {
        // One team from the first step to the last, validation included: results depend on its size.
        try Threads.withTeam(team) { try train(checkpoint: checkpoint, bestModel: bestModel, log: log, progress: progress, shouldStop: shouldStop) }
    }

    /// The kernels' team this run trains with: the one a resumed run started with (so `--resume`
    /// ends with the weights of a run never stopped), else the cores the machine leaves free when it
    /// starts (`Threads.teamForNow`); `--threads` overrides both. A seed gives the same run for the same team.
    public var team: Int {
        let team = Threads.isFixed ? Threads.requested : min(state.team ?? Threads.teamForNow(), Threads.requested)
        state.team = team
        return team
    }

    private func train(checkpoint: URL, bestModel: URL, log: URL?, progress: ((TrainingProgress) -> Void)?,
                       shouldStop: () -> Bool) throws -> TrainingSummary {
        try checkTheGroupAgrees()
        if let finished = state.finished {
            return TrainingSummary(history: state.history, stopReason: finished, bestScore: state.bestScore, bestEpoch: state.bestEpoch)
        }
        var reason = StopReason.completed
        let steps = stepsPerEpoch
        var lastReport = Date.distantPast
        training: while state.epoch < settings.epochs {
            let order = order(epoch: state.epoch)
            while state.step < steps {
                let started = DispatchTime.now().uptimeNanoseconds
                let slice = order[(state.step * settings.batchSize)..<min(samples.count, (state.step + 1) * settings.batchSize)]
                let outcome = trainStep(slice.map { samples[$0] }, epoch: state.epoch, step: state.step) {
                    // The leader's clock decides the budget, so every process stops at the same step.
                    let spent = settings.timeBudget.map { budget in
                        group.isLeader && state.elapsed + Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9 >= budget
                    } ?? false
                    return StopRequests(interrupted: shouldStop(), budgetSpent: spent)
                }
                let loss = outcome.loss
                guard loss.isFinite else { throw divergence(loss.isNaN ? "the loss became NaN" : "the loss became infinite") }
                if let rewards = outcome.rewards {
                    var sums = state.rewards ?? RewardSums()
                    sums.reward += rewards.reward * Double(slice.count)
                    sums.baseline += rewards.baseline * Double(slice.count)
                    sums.images += slice.count
                    state.rewards = sums
                }
                let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
                state.epochLoss += loss * Double(outcome.tokens)
                state.epochTokens += outcome.tokens
                state.epochSeconds += seconds
                state.elapsed += seconds
                state.step += 1
                if let progress, state.step == steps || Date().timeIntervalSince(lastReport) > 0.2 {
                    lastReport = Date()
                    progress(TrainingProgress(epoch: state.epoch + 1, epochs: settings.epochs, step: state.step, steps: steps,
                                              loss: state.epochLoss / Double(max(state.epochTokens, 1)),
                                              tokensPerSecond: Double(state.epochTokens) / max(state.epochSeconds, 1e-9),
                                              epochSeconds: state.epochSeconds, elapsed: state.elapsed,
                                              reward: state.rewards?.meanReward, baseline: state.rewards?.meanBaseline))
                }
                if outcome.stops.interrupted { reason = .interrupted; break training }
                if outcome.stops.budgetSpent { reason = .timeBudget; break }
            }
            try finishEpoch(bestModel: bestModel)
            if let log { try writeLog(log) }
            if state.badEpochs >= settings.earlyStoppingPatience && validate != nil { reason = .earlyStopping }
            if reason != .completed { break }
            try saveCheckpoint(checkpoint)
        }
        if reason != .interrupted { state.finished = reason }
        try saveCheckpoint(checkpoint)
        return TrainingSummary(history: state.history, stopReason: reason, bestScore: state.bestScore, bestEpoch: state.bestEpoch)
    }

    /// Stops a run whose numbers stopped being numbers, before anything non-finite is written: the
    /// model, checkpoint and log keep what the last finite state wrote. (In a group every process
    /// sees the same summed loss and weights, so all stop at once.)
    func divergence(_ what: String) -> Error {
        let message = "training diverged at epoch \(state.epoch + 1), step \(state.step + 1) (\(what)), so it stopped; "
            + "the model, checkpoint and log keep their last finite state: try a lower --lr than \(settings.learningRate) or a smaller --clip."
        return group.size > 1 ? GroupFailure(message) : TrainingError(description: message)
    }

    /// Before the first step of a group: every process must be about to train the same run, or
    /// their collective calls would fall out of step. They compare their data's sizes, position,
    /// settings and a checksum of the weights with the leader's (a rank on another machine may have
    /// other copies of the files, or an older checkpoint).
    func checkTheGroupAgrees() throws {
        guard group.size > 1 else { return }
        var weights = Fingerprint()
        for p in model.decoder.parameters {
            UnsafeRawBufferPointer(start: p.data, count: p.count * 4).withMemoryRebound(to: UInt32.self) { words in
                for w in words { weights.add(UInt64(w)) }
            }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]   // key order is otherwise free to differ between processes
        var settingsHash = Fingerprint()
        settingsHash.add(bytes: (try? encoder.encode(settings)) ?? Data())
        var captions = Fingerprint()
        for sample in samples {
            captions.add(UInt64(sample.image))
            for t in sample.tokens { captions.add(UInt64(UInt32(bitPattern: t))) }
        }
        let figures: [(String, UInt64)] = [
            ("training captions", captions.value), ("feature rows", UInt64(features.count)), ("validation", validate == nil ? 0 : 1),
            ("epoch", UInt64(state.epoch)), ("step", UInt64(state.step)), ("optimizer steps", UInt64(optimizer.stepCount)),
            ("settings", settingsHash.value), ("weights", weights.value),
        ] + agreement.map { ($0.what, $0.value) }
        let mine = figures.flatMap { [Int32(truncatingIfNeeded: $0.1), Int32(truncatingIfNeeded: $0.1 >> 32)] }
        let all = group.gather(mine)
        for (rank, theirs) in all.enumerated() where theirs != all[0] {
            let differing = figures.indices.filter { i in theirs.count != all[0].count || theirs[(2 * i)...(2 * i + 1)] != all[0][(2 * i)...(2 * i + 1)] }
            throw GroupFailure("rank \(rank) is not about to train what rank 0 is (its \(differing.map { figures[$0].0 }.joined(separator: ", ")) differ): "
                               + "every rank needs the same dataset, feature file and flags, and with --resume the same checkpoint; "
                               + "on several machines, copy rank 0's files to the same paths on each.")
        }
    }

    /// Throws `divergence` when any weight is NaN or infinite (a finite loss can still be followed by
    /// an update that overflows).
    func checkWeightsAreFinite() throws {
        for (name, tensor) in model.decoder.namedParameters {
            let values = UnsafeBufferPointer(start: tensor.data, count: tensor.count)
            if !values.allSatisfy(\.isFinite) { throw divergence("\(name) holds non-finite values") }
        }
    }

    /// Closes the current epoch: validation by real decoding, the plateau schedule, the best model.
    func finishEpoch(bestModel: URL) throws {
        try checkWeightsAreFinite()
        var scores: [String: Double] = [:]
        if let validate { scores = validate(model.decoder) }
        let record = EpochRecord(epoch: state.epoch + 1, trainLoss: state.epochLoss / Double(max(state.epochTokens, 1)),
                                 tokensPerSecond: Double(state.epochTokens) / max(state.epochSeconds, 1e-9),
                                 seconds: state.epochSeconds, learningRate: optimizer.learningRate, validation: scores,
                                 reward: state.rewards?.meanReward, baseline: state.rewards?.meanBaseline,
                                 communicationSeconds: state.epochCommunication)
        state.history.append(record)
        if let score = scores[settings.monitoredMetric] {
            optimizer.learningRate = state.plateau.step(metric: Float(score))
            if state.bestScore.map({ score > $0 }) ?? true {
                state.bestScore = score
                state.bestEpoch = state.epoch + 1
                state.badEpochs = 0
                try saveModel(bestModel)
            } else {
                state.badEpochs += 1
            }
        } else {
            try saveModel(bestModel)   // without validation, the latest model is the one to keep
        }
        state.epoch += 1
        state.step = 0
        state.epochLoss = 0
        state.epochTokens = 0
        state.epochSeconds = 0
        state.rewards = nil
        state.epochCommunication = nil
    }

    func saveModel(_ url: URL) throws {
        guard group.isLeader else { return }
        model.metadata.provenance.epochs = state.epoch + 1
        model.metadata.provenance.seed = settings.seed
        if let best = state.bestScore { model.metadata.provenance.bestValidation = [settings.monitoredMetric: best] }
        try model.save(to: url)
    }

    func writeLog(_ url: URL) throws {
        guard group.isLeader else { return }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var text = Data()
        for record in state.history {
            text.append(try encoder.encode(record))
            text.append(0x0A)
        }
        try AtomicFile.write(text, to: url)
    }

    // MARK: Checkpoints

    /// The model file plus the optimizer's moments and the trainer's state.
    public func saveCheckpoint(_ url: URL) throws {
        try checkWeightsAreFinite()
        guard group.isLeader else { return }
        var file = model.safeTensors()
        let optimizerState = optimizer.stateDict()
        for (k, v) in optimizerState.tensors { file.tensors["optimizer.\(k)"] = v }
        state.optimizerStep = optimizer.stepCount
        state.plateau = state.plateau
        let json = try JSONEncoder().encode(state)
        file.metadata["trainer"] = String(decoding: json, as: UTF8.self)
        file.metadata["optimizer.lr"] = String(optimizer.learningRate)
        try file.write(to: url)
    }

    /// Continues from a checkpoint written by `saveCheckpoint`: weights, optimizer moments and
    /// learning rate, the position in the epoch, the history and the early-stopping state.
    public func resume(from url: URL) throws {
        let file = try SafeTensors.read(url)
        guard let json = file.metadata["trainer"], let saved = try? JSONDecoder().decode(TrainerState.self, from: Data(json.utf8)) else {
            throw TrainingError(description: "\(url.path) is not a training checkpoint (no trainer state): pass the .checkpoint file that caption train wrote.")
        }
        let weights = file.tensors.filter { !$0.key.hasPrefix("optimizer.") }
        try model.decoder.loadStateDict(weights, origin: url.path)
        var optimizerState = SafeTensors(metadata: ["step": String(saved.optimizerStep), "lr": file.metadata["optimizer.lr"] ?? String(settings.learningRate)])
        for (k, v) in file.tensors where k.hasPrefix("optimizer.") { optimizerState.tensors[String(k.dropFirst("optimizer.".count))] = v }
        try optimizer.loadState(optimizerState)
        guard saved.settings.selfCritical == settings.selfCritical else {
            func describe(_ o: SelfCriticalOptions?) -> String {
                o.map { "self-critical training (\($0.samples) samples, \($0.baseline.rawValue) baseline, temperature \($0.temperature), \($0.maxWords) words)" } ?? "cross-entropy training"
            }
            throw TrainingError(description: "\(url.path) is a checkpoint of \(describe(saved.settings.selfCritical)), but this run asks for \(describe(settings.selfCritical)): "
                                + "resume with the flags it was started with (--from, --reward, --samples, --baseline, --temperature, --sample-words).")
        }
        var restored = saved
        // The run may be continued with more epochs or a new budget; everything else is as saved.
        restored.settings.epochs = settings.epochs
        restored.settings.timeBudget = settings.timeBudget
        if restored.finished == .timeBudget || restored.finished == .completed { restored.finished = nil }
        state = restored
    }
}
