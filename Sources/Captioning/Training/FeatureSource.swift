import TensorCore

/// Image features by row, for training and decoding without touching images.
public protocol FeatureSource {
    var count: Int { get }
    var featureSize: Int { get }
    /// Whether the spatial grid is available (attention models need it).
    var hasGrid: Bool { get }
    /// Features of `rows`, in order.
    func features(rows: [Int]) -> ImageFeatures
}

/// Features held in memory: pooled [N, C] and optionally grid [N, L, C].
public final class InMemoryFeatures: FeatureSource {
    public let pooled: Tensor
    public let grid: Tensor?

    public init(pooled: Tensor, grid: Tensor?) {
        precondition(grid == nil || grid!.shape[0] == pooled.shape[0], "grid and pooled features disagree on the image count")
        self.pooled = pooled
        self.grid = grid
    }

    public var count: Int { pooled.shape[0] }
    public var featureSize: Int { pooled.shape[1] }
    public var hasGrid: Bool { grid != nil }

    public func features(rows: [Int]) -> ImageFeatures {
        Tape.withoutRecording {
            ImageFeatures(pooled: pooled, grid: grid).rows(rows.map(Int32.init))
        }
    }
}
