import Captioning
import Foundation
import Logging
import ServiceLifecycle

/// What the model made of one image, with where the time went.
public struct CaptionResult: Sendable {
    /// Best first; one for greedy decoding, up to `beam` otherwise.
    public var hypotheses: [DecodedCaption]
    /// How many images shared the model run.
    public var batchSize: Int
    public var queueWait: Duration
    public var encodeTime: Duration
    public var decodeTime: Duration
    /// L, the cells of the encoder's grid that attention weights range over.
    public var gridCells: Int
}

/// Owns the model and the encoder, which are not safe to call concurrently, and runs them on one
/// thread of its own: requests queue up here, and each model run takes up to `maxBatch` of them,
/// waiting at most `maxWait` after the first for others to arrive — and not at all when
/// `requestsInFlight` says every request in flight is already queued. The encoder sees the whole batch
/// at once; the decoder sees each group of images that asked for the same beam and length together.
///
/// A plain thread, not a task: a model run blocks for tens of milliseconds, which must never hold
/// a thread of Swift's cooperative pool that the HTTP handlers need.
public final class InferenceWorker: @unchecked Sendable, Service {
    private let model: CaptionModel
    private let encoder: FeatureEncoder
    private let maxBatch: Int
    private let maxWait: Duration
    private let metrics: ServerMetrics
    private let logger: Logger
    private let requestsInFlight: (@Sendable () -> Int)?

    private struct Job {
        let id: UInt64
        let pixels: [Float]
        let options: CaptionOptions
        let enqueued: ContinuousClock.Instant
    }

    // Everything below is guarded by `condition`.
    private let condition = NSCondition()
    private var pending: [Job] = []
    private var waiting: [UInt64: CheckedContinuation<CaptionResult, Error>] = [:]
    private var nextID: UInt64 = 0
    private var accepting = true
    private var exited = false
    private var exitWaiters: [CheckedContinuation<Void, Never>] = []

    public init(model: CaptionModel, encoder: FeatureEncoder, maxBatch: Int, maxWait: Duration,
                metrics: ServerMetrics, logger: Logger, requestsInFlight: (@Sendable () -> Int)? = nil) {
        precondition(maxBatch >= 1, "a batch holds at least one image")
        self.model = model
        self.encoder = encoder
        self.maxBatch = maxBatch
        self.maxWait = maxWait
        self.metrics = metrics
        self.logger = logger
        self.requestsInFlight = requestsInFlight
        let thread = Thread { [self] in loop() }
        thread.name = "caption-inference"
        thread.stackSize = 16 << 20
        thread.start()
    }

    /// Captions one preprocessed image ([3, crop, crop]). Cancelling the calling task answers it at
    /// once with CancellationError: a queued image leaves the queue, a running one's result is dropped.
    public func caption(pixels: [Float], options: CaptionOptions) async throws -> CaptionResult {
        let id: UInt64 = condition.withLock { nextID += 1; return nextID }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<CaptionResult, Error>) in
                condition.lock()
                defer { condition.unlock() }
                guard accepting else { return continuation.resume(throwing: ServerError.shuttingDown) }
                guard !Task.isCancelled else { return continuation.resume(throwing: CancellationError()) }
                waiting[id] = continuation
                pending.append(Job(id: id, pixels: pixels, options: options, enqueued: .now))
                metrics.setQueueDepth(pending.count)
                condition.signal()
            }
        } onCancel: {
            condition.lock()
            defer { condition.unlock() }
            if let index = pending.firstIndex(where: { $0.id == id }) {
                pending.remove(at: index)
                metrics.setQueueDepth(pending.count)
            }
            // Answered now even when its batch is already running: a time-out must not wait for the model.
            waiting.removeValue(forKey: id)?.resume(throwing: CancellationError())
        }
    }

    /// Waits for graceful shutdown (the HTTP server has drained by then: it shuts down first), then
    /// finishes whatever is still queued and stops the thread.
    public func run() async throws {
        try? await gracefulShutdown()
        await finish()
    }

    /// Refuses new images, runs the queued ones, and returns once the thread has exited.
    public func finish() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            condition.lock()
            defer { condition.unlock() }
            accepting = false
            if exited { return continuation.resume() }
            exitWaiters.append(continuation)
            condition.broadcast()
        }
    }

    private func loop() {
        while let batch = nextBatch() {
            let results = run(batch)
            condition.lock()
            let continuations = batch.map { waiting.removeValue(forKey: $0.id) }
            condition.unlock()
            for (continuation, result) in zip(continuations, results) { continuation?.resume(with: result) }
        }
        condition.lock()
        exited = true
        let waiters = exitWaiters
        exitWaiters = []
        condition.unlock()
        for waiter in waiters { waiter.resume() }
        logger.debug("inference worker stopped")
    }

    /// Blocks until there is work, then gathers up to `maxBatch` jobs or until the first has waited
    /// `maxWait`. Nil once shutting down with nothing left.
    private func nextBatch() -> [Job]? {
        condition.lock()
        defer { condition.unlock() }
        while pending.isEmpty {
            if !accepting { return nil }
            condition.wait()
        }
        let deadline = pending[0].enqueued + maxWait
        while pending.count < maxBatch && accepting && (requestsInFlight?() ?? .max) > pending.count {
            let remaining = ContinuousClock.now.duration(to: deadline)
            guard remaining > .zero else { break }
            let (seconds, attoseconds) = remaining.components
            _ = condition.wait(until: Date(timeIntervalSinceNow: Double(seconds) + Double(attoseconds) * 1e-18))
            if pending.isEmpty { return [] }  // every queued job was cancelled while we waited
        }
        let batch = Array(pending.prefix(maxBatch))
        pending.removeFirst(batch.count)
        metrics.setQueueDepth(pending.count)
        return batch
    }

    private struct SearchKey: Hashable {
        let beam: Int
        let maxWords: Int
    }

    private func run(_ batch: [Job]) -> [Result<CaptionResult, Error>] {
        guard !batch.isEmpty else { return [] }
        let started = ContinuousClock.now
        do {
            var pixels: [Float] = []
            pixels.reserveCapacity(batch.count * batch[0].pixels.count)
            for job in batch { pixels += job.pixels }
            let features = try encoder.features(of: pixels, batch: batch.count)
            let encoded = ContinuousClock.now
            var hypotheses = [[DecodedCaption]](repeating: [], count: batch.count)
            let groups = Dictionary(grouping: batch.indices) { SearchKey(beam: batch[$0].options.beam, maxWords: batch[$0].options.maxWords) }
            for (key, rows) in groups.sorted(by: { $0.value[0] < $1.value[0] }) {
                let groupFeatures = rows.count == batch.count ? features : features.rows(rows.map { Int32($0) })
                let decoded = decodeCaptions(model.decoder, groupFeatures, options: SearchOptions(beamSize: key.beam, maxWords: key.maxWords))
                for (row, result) in zip(rows, decoded) { hypotheses[row] = result }
            }
            let finished = ContinuousClock.now
            metrics.recordBatch(size: batch.count, duration: finished - started)
            return batch.indices.map { i in
                .success(CaptionResult(hypotheses: hypotheses[i], batchSize: batch.count, queueWait: started - batch[i].enqueued,
                                       encodeTime: encoded - started, decodeTime: finished - encoded,
                                       gridCells: features.grid?.shape[1] ?? 0))
            }
        } catch {
            logger.error("model run failed: \(error)")
            return batch.map { _ in .failure(ServerError.internalFailure(error)) }
        }
    }
}
