import CaptionData
import Captioner
import Captioning
import Foundation
import TensorCore
import Testing
import Vision

/// A tiny random-weight model over a small vocabulary: real decoding, in microseconds.
/// With `neverEnding`, <end> can never win, so every caption runs to max_words.
public func tinyModel(_ architecture: Architecture = .softAttentionGRU, seed: UInt64 = 7, neverEnding: Bool = false) throws -> CaptionModel {
    let vocabulary = ["<pad>", "<start>", "<end>", "<unk>", "a", "red", "blue", "circle", "square", "left", "of", "above"]
    let config = DecoderConfig(architecture: architecture, vocabularySize: vocabulary.count, featureSize: QuadrantEncoder.channels,
                               embeddingSize: 8, hiddenSize: 8, attentionSize: 8, dropout: 0)
    let decoder = try makeDecoder(config, source: .initialise(seed: seed))
    if neverEnding {
        let bias = try #require(decoder.namedParameters.first { $0.name == "out.bias" }?.tensor)
        bias.data[Int(SpecialToken.end)] = -1e4
    }
    return CaptionModel(decoder: decoder, metadata: ModelMetadata(decoder: config, vocabulary: vocabulary,
                                                                   encoder: EncoderInfo(), provenance: Provenance()))
}

/// A small deterministic encoder standing in for a CNN: a 2×2 grid whose cells hold the mean of
/// each colour channel over that quadrant of the crop, and their overall mean. It can be held
/// shut (`hold()`), so tests can fill the queue or outlast the timeout on purpose.
public final class QuadrantEncoder: FeatureEncoder, @unchecked Sendable {
    public static let channels = 4
    public let preprocessing = Preprocessing(resizeShorter: 32, crop: 28)
    public var featureChannels: Int { Self.channels }

    public init() {}

    private let lock = NSLock()
    private var held = false
    private var inside = 0
    private let gate = DispatchSemaphore(value: 0)
    private var runs: [Int] = []
    /// The batch size of every model run so far.
    public var batchSizes: [Int] { lock.withLock { runs } }

    /// Makes the next model run block inside the encoder until `release()`.
    public func hold() { lock.withLock { held = true } }
    public func release() {
        let wasHeld = lock.withLock { () -> Bool in let h = held; held = false; return h }
        if wasHeld { gate.signal() }
    }
    /// Whether a model run is blocked inside the encoder now.
    public var isBlocked: Bool { lock.withLock { inside > 0 } }

    public func features(of pixels: [Float], batch: Int) throws -> ImageFeatures {
        let mustWait = lock.withLock { () -> Bool in runs.append(batch); if held { inside += 1 }; return held }
        if mustWait {
            gate.wait()
            lock.withLock { inside -= 1 }
        }
        let crop = preprocessing.crop, half = crop / 2, plane = crop * crop
        var grid = [Float](repeating: 0, count: batch * 4 * Self.channels)
        var pooled = [Float](repeating: 0, count: batch * Self.channels)
        for b in 0..<batch {
            for cell in 0..<4 {
                let (top, left) = ((cell / 2) * half, (cell % 2) * half)
                var sums = [Float](repeating: 0, count: 3)
                for c in 0..<3 {
                    for y in top..<(top + half) {
                        for x in left..<(left + half) { sums[c] += pixels[b * 3 * plane + c * plane + y * crop + x] }
                    }
                }
                let means = sums.map { $0 / Float(half * half) }
                let values = means + [means.reduce(0, +) / 3]
                for c in 0..<Self.channels {
                    grid[(b * 4 + cell) * Self.channels + c] = values[c]
                    pooled[b * Self.channels + c] += values[c] / 4
                }
            }
        }
        return ImageFeatures(pooled: Tensor(shape: [batch, Self.channels], values: pooled),
                             grid: Tensor(shape: [batch, 4, Self.channels], values: grid))
    }
}

/// Polls until `condition` holds (or fails the test after `seconds`).
public func waitUntil(_ what: String, seconds: Double = 5, _ condition: () async -> Bool) async throws {
    let deadline = ContinuousClock.now + .milliseconds(Int64(seconds * 1000))
    while await !condition() {
        guard ContinuousClock.now < deadline else { Issue.record("timed out waiting until \(what)"); return }
        try await Task.sleep(for: .milliseconds(5))
    }
}

/// A PNG header (signature + IHDR) declaring width × height, with no pixel data behind it.
public func pngHeader(width: UInt32, height: UInt32) -> Data {
    var data = Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13]) + Data("IHDR".utf8)
    for value in [width, height] { data += withUnsafeBytes(of: value.bigEndian) { Data($0) } }
    data += Data([8, 2, 0, 0, 0, 0, 0, 0, 0])  // depth 8, RGB, then a CRC nobody gets to check
    return data
}
