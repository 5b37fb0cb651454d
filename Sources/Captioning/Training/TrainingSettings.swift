import Foundation

/// Every choice of a training run, with its defaults: the one type `caption train`'s flags, `caption
/// compare`'s configurations, `TrainingRun`, `Trainer` and its checkpoints share, so a configuration
/// trained by `compare` is the run `train` would make and a resumed run is the run that started.
public struct TrainingSettings: Codable, Equatable, Sendable {
    public var architecture: Architecture = .softAttentionGRU
    public var epochs = 20
    public var batchSize = 64
    public var learningRate: Float = 4e-4
    public var seed: UInt64 = 1
    public var minCount = 5
    public var maxWords = 30
    public var embeddingSize = 256
    public var hiddenSize = 512
    public var attentionSize = 256
    public var dropout: Float = 0.5
    public var gradientClip: Float = 5
    /// λ of the attention penalty; nil takes the architecture's default (1 for soft attention).
    public var attentionPenalty: Float?
    /// Final probability of feeding the model its own previous word, reached linearly over the epochs.
    public var scheduledSampling: Float = 0
    /// The learning rate is multiplied by `plateauFactor` after `plateauPatience` epochs without improvement.
    public var plateauFactor: Float = 0.8
    public var plateauPatience = 1
    /// Stop after this many epochs without a better validation score.
    public var earlyStoppingPatience = 4
    /// The validation metric that decides the best model, early stopping and the plateau; nil means
    /// BLEU-4, or CIDEr-D for self-critical training (which optimises it).
    public var monitor: String?
    /// Stop (after the current step) once this much training time has passed, in seconds.
    public var timeBudget: Double?
    /// Self-critical training (`--reward cider-d`), which continues a trained model (`--from`).
    public var selfCritical: SelfCriticalOptions?

    public init() {}

    /// The metric `monitor` names, its default filled in.
    public var monitoredMetric: String { monitor ?? (selfCritical == nil ? "BLEU-4" : "CIDEr-D") }

    /// Model files and checkpoints written before a setting existed lack its key: it takes its default.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func value<T: Decodable>(_ key: CodingKeys, _ fallback: T) throws -> T { try c.decodeIfPresent(T.self, forKey: key) ?? fallback }
        let d = TrainingSettings()
        architecture = try value(.architecture, d.architecture)
        epochs = try value(.epochs, d.epochs)
        batchSize = try value(.batchSize, d.batchSize)
        learningRate = try value(.learningRate, d.learningRate)
        seed = try value(.seed, d.seed)
        minCount = try value(.minCount, d.minCount)
        maxWords = try value(.maxWords, d.maxWords)
        embeddingSize = try value(.embeddingSize, d.embeddingSize)
        hiddenSize = try value(.hiddenSize, d.hiddenSize)
        attentionSize = try value(.attentionSize, d.attentionSize)
        dropout = try value(.dropout, d.dropout)
        gradientClip = try value(.gradientClip, d.gradientClip)
        attentionPenalty = try c.decodeIfPresent(Float.self, forKey: .attentionPenalty)
        scheduledSampling = try value(.scheduledSampling, d.scheduledSampling)
        plateauFactor = try value(.plateauFactor, d.plateauFactor)
        plateauPatience = try value(.plateauPatience, d.plateauPatience)
        earlyStoppingPatience = try value(.earlyStoppingPatience, d.earlyStoppingPatience)
        monitor = try c.decodeIfPresent(String.self, forKey: .monitor)
        timeBudget = try c.decodeIfPresent(Double.self, forKey: .timeBudget)
        selfCritical = try c.decodeIfPresent(SelfCriticalOptions.self, forKey: .selfCritical)
    }
}
