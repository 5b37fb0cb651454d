/// Learning-rate schedules with PyTorch's semantics. Both are Codable so checkpoints carry them.

/// `StepLR`: multiplies the rate by `gamma` every `stepSize` epochs.
public struct StepSchedule: Codable, Equatable {
    public let initialRate: Float, stepSize: Int, gamma: Float
    public private(set) var epoch = 0

    public init(initialRate: Float, stepSize: Int, gamma: Float = 0.1) {
        self.initialRate = initialRate
        self.stepSize = stepSize
        self.gamma = gamma
    }

    public var rate: Float { initialRate * Float(pow(Double(gamma), Double(epoch / stepSize))) }

    /// Call once per finished epoch; returns the rate for the next one.
    public mutating func step() -> Float {
        epoch += 1
        return rate
    }
}

/// `ReduceLROnPlateau`: when the watched metric has not improved by more than `threshold`
/// (relative) for `patience` epochs, multiply the rate by `factor` (not below `minimumRate`), then
/// wait `cooldown` epochs before counting again.
public struct PlateauSchedule: Codable, Equatable {
    public enum Mode: String, Codable { case min, max }
    public let mode: Mode, factor: Float, patience: Int, threshold: Float, cooldown: Int, minimumRate: Float
    public private(set) var rate: Float
    public private(set) var best: Float?
    public private(set) var badEpochs = 0
    public private(set) var cooldownLeft = 0
    public private(set) var reductions = 0

    public init(rate: Float, mode: Mode = .max, factor: Float = 0.8, patience: Int = 2, threshold: Float = 1e-4,
                cooldown: Int = 0, minimumRate: Float = 0) {
        precondition(factor < 1, "the plateau factor must be below 1")
        self.rate = rate
        self.mode = mode
        self.factor = factor
        self.patience = patience
        self.threshold = threshold
        self.cooldown = cooldown
        self.minimumRate = minimumRate
    }

    private func isBetter(_ value: Float, than best: Float) -> Bool {
        mode == .max ? value > best * (1 + threshold) : value < best * (1 - threshold)
    }

    /// Call with the epoch's metric; returns the rate for the next epoch.
    public mutating func step(metric: Float) -> Float {
        if let b = best, !isBetter(metric, than: b) {
            badEpochs += 1
        } else {
            best = metric
            badEpochs = 0
        }
        if cooldownLeft > 0 {
            cooldownLeft -= 1
            badEpochs = 0
        }
        if badEpochs > patience {
            let reduced = max(rate * factor, minimumRate)
            if rate - reduced > 1e-8 {
                rate = reduced
                reductions += 1
            }
            cooldownLeft = cooldown
            badEpochs = 0
        }
        return rate
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
