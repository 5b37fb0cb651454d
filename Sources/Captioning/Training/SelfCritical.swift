import CaptionData
import CaptionMetrics
import Foundation
import Layers
import TensorCore

/// Self-critical sequence training (Rennie et al. 2017) after cross-entropy training.
public struct SelfCriticalOptions: Codable, Equatable, Sendable {
    public enum Baseline: String, Codable, CaseIterable, Sendable {
        /// The reward of the image's greedy caption (the paper's SCST).
        case greedy
        /// The mean reward of the image's other samples ("new SCST"; needs at least two samples).
        case mean
    }
    /// Captions sampled per image and step.
    public var samples = 5
    public var baseline = Baseline.greedy
    /// Sampling temperature; 1 samples the model's own distribution.
    public var temperature: Float = 1
    public var maxWords = 16

    public init(samples: Int = 5, baseline: Baseline = .greedy, temperature: Float = 1, maxWords: Int = 16) {
        self.samples = samples
        self.baseline = baseline
        self.temperature = temperature
        self.maxWords = maxWords
    }
}

/// What a self-critical run needs besides the options: each training image's references, as word ids,
/// and the CIDEr-D reward over them (document frequencies of the training references, computed once).
public struct SelfCriticalCorpus: Sendable {
    public let options: SelfCriticalOptions
    /// Feature row → index into `reward`'s images.
    let imageIndex: [Int: Int]
    let reward: CiderDReward

    /// `references[row]`: the training captions of the image at feature row `row`, with <start>/<end>.
    public init(options: SelfCriticalOptions, references: [Int: [[Int32]]]) {
        self.options = options
        let rows = references.keys.sorted()
        var index: [Int: Int] = [:]
        for (i, row) in rows.enumerated() { index[row] = i }
        imageIndex = index
        // <end> stays in the references, as a word: see `score`.
        reward = CiderDReward(references: rows.map { row in
            references[row]!.map { Array($0.filter { $0 != SpecialToken.start && $0 != SpecialToken.pad }) }
        })
    }

    /// The images to train on, one sample per image (the captions come from the model itself).
    var samples: [TrainingSample] { imageIndex.keys.sorted().map { TrainingSample(image: $0, tokens: []) } }

    /// CIDEr-D of a caption (words without <start>/<end>) that did or did not end. As in
    /// self-critical.pytorch, <end> counts as a word of the candidate and of the references, so a
    /// caption cut short ("a dog runs through a") loses the n-grams that end a sentence, and one that
    /// never ends scores below the same words ended.
    func score(_ caption: [Int32], finished: Bool, row: Int) -> Double {
        reward.score(finished ? caption + [SpecialToken.end] : caption, image: imageIndex[row]!)
    }
}

/// One self-critical step's figures, averaged over its samples.
struct SelfCriticalStep {
    var loss: Double
    var tokens: Int
    var reward: Double
    var baseline: Double
}

/// The self-critical loss of K sampled captions per image with rewards r and baselines b:
///   loss = −(1/N) Σ_k (r_k − b_k) Σ_t log p(w_kt | w_k<t, image),
/// N the number of sampled tokens (<end> included where drawn), i.e. the fused cross-entropy over the
/// samples with each caption's rows weighted by its advantage r_k − b_k (REINFORCE with a baseline).
/// The gradient flows through log p only; rewards and baselines are constants.
public func selfCriticalLoss(_ decoder: CaptionDecoder, _ features: ImageFeatures, samples: [SampledCaption],
                             advantages: [Float]) -> Tensor {
    precondition(samples.count == features.batch && advantages.count == samples.count, "selfCriticalLoss: sizes")
    let tokens = selfCriticalTokens(samples)
    let (y, _) = decoder.outputFeatures(features, tokens: tokens)
    let (_, targets) = teacherForcing(tokens)
    let width = tokens.shape[1] - 1
    let weights = (0..<targets.count).map { advantages[$0 / width] }
    let layer = decoder.outputLayer
    return linearCrossEntropy(y.reshaped([-1, layer.inFeatures]), weight: layer.weight, bias: layer.bias,
                              targets: targets, ignoreIndex: SpecialToken.pad, rowWeights: weights)
}

/// <start> w… <end> <pad>… per sample (no <end> for a sample that ran out of length).
func selfCriticalTokens(_ samples: [SampledCaption]) -> IntTensor {
    let width = samples.map { $0.tokens.count + ($0.finished ? 2 : 1) }.max()!
    var ids = [Int32](repeating: SpecialToken.pad, count: samples.count * width)
    for (r, s) in samples.enumerated() {
        let row = [SpecialToken.start] + s.tokens + (s.finished ? [SpecialToken.end] : [])
        for (j, t) in row.enumerated() { ids[r * width + j] = t }
    }
    return IntTensor(shape: [samples.count, width], values: ids)
}

extension Trainer {
    /// One self-critical step on the images of the global batch `batch`, of which this process takes
    /// its share: sample (image b of the batch drawing from its own generator), reward, baseline,
    /// REINFORCE, the gradients summed over the group as in `trainStep`.
    func selfCriticalStep(_ batch: [TrainingSample], corpus: SelfCriticalCorpus, epoch: Int, step: Int,
                          stops: () -> StopRequests) -> StepOutcome {
        let decoder = model.decoder
        let options = corpus.options
        let k = options.samples
        let part = group.share(of: batch.count)
        let rows = batch[part].map(\.image)
        let features = rows.isEmpty ? nil : self.features.features(rows: rows)
        var sampled: [SampledCaption] = [], rewards: [Double] = [], baselines: [Double] = []
        if let features {
            let generators = part.map { RandomGenerator(seed: Self.mix(settings.seed, UInt64(epoch), UInt64(step), 0x5C57, UInt64($0))) }
            // <unk> may be sampled (it is never shown to a user: decoding suppresses it), so at temperature 1
            // the samples come from the very softmax the loss differentiates; <pad> and <start> are never
            // targets, so the cross-entropy model gives them almost no mass. Other temperatures bias the
            // gradient, as in self-critical.pytorch.
            sampled = sampleCaptions(decoder, features, count: k, maxWords: options.maxWords, temperature: options.temperature,
                                     allowUnknown: true, generators: generators)
            rewards = [Double](repeating: 0, count: sampled.count)
            rewards.withUnsafeMutableBufferPointer { out in
                Threads.parallelRanges(sampled.count, minimumPerThread: 16) { range in
                    for i in range { out[i] = corpus.score(sampled[i].tokens, finished: sampled[i].finished, row: rows[i / k]) }
                }
            }
            baselines = [Double](repeating: 0, count: sampled.count)
            switch options.baseline {
            case .greedy:
                let greedy = decodeCaptions(decoder, features, options: .greedy(maxWords: options.maxWords)).map { $0[0] }
                for (b, caption) in greedy.enumerated() {
                    let r = corpus.score(caption.tokens, finished: caption.finished, row: rows[b])
                    for j in 0..<k { baselines[b * k + j] = r }
                }
            case .mean:
                for b in 0..<rows.count {
                    let total = rewards[(b * k)..<((b + 1) * k)].reduce(0, +)
                    for j in 0..<k { baselines[b * k + j] = (total - rewards[b * k + j]) / Double(k - 1) }
                }
            }
        }
        let (rewardSum, baselineSum) = (rewards.reduce(0, +), baselines.reduce(0, +))
        let tokens = sampled.reduce(0) { $0 + $1.tokens.count + ($1.finished ? 1 : 0) }
        // The loss is a mean over the whole batch's sampled tokens: a share weighs its own mean by its part.
        var allTokens: [Float] = [Float(tokens)]
        allTokens.withUnsafeMutableBufferPointer { group.sum($0) }
        var loss: Float = 0
        if let features {
            let share = group.size == 1 ? 1 : Float(tokens) / max(allTokens[0], 1)
            let advantages = zip(rewards, baselines).map { Float($0 - $1) }
            let expanded = features.rows((0..<sampled.count).map { Int32($0 / k) })
            decoder.setTraining(false)   // the loss differentiates the distribution the samples came from
            let tape = Tape()
            let value = tape.record {
                let mean = selfCriticalLoss(decoder, expanded, samples: sampled, advantages: advantages)
                return share == 1 ? mean : mean * share
            }
            tape.backward(from: value)
            loss = value.item
        }
        let summed = exchange(figures: [loss, Float(rewardSum), Float(baselineSum)] + stops().figures)
        update()
        let samples = Double(batch.count * k)
        // Alone, the sums stay in Double; a group's went through the Float buffer.
        let (rewardTotal, baselineTotal) = group.size == 1 ? (rewardSum, baselineSum) : (Double(summed[1]), Double(summed[2]))
        return StepOutcome(loss: Double(summed[0]), tokens: Int(allTokens[0].rounded()),
                           rewards: (rewardTotal / samples, baselineTotal / samples), stops: StopRequests(figures: summed.dropFirst(3)))
    }
}
