import Captioning
import Foundation
import Logging

/// What the model made of one image, with where the time went.
struct CaptionResult: Sendable {
    /// Best first; one for greedy decoding, up to `beam` otherwise.
    var hypotheses: [DecodedCaption]
    /// How many images shared the model run.
    var batchSize: Int
    var queueWait: Duration
    var encodeTime: Duration
    var decodeTime: Duration
    /// L, the cells of the encoder's grid that attention weights range over.
    var gridCells: Int
}

/// Told about every model run and queue change (the server's Prometheus metrics).
public protocol BatchObserver: Sendable {
    /// A model run over `size` images finished after `duration` (encoder and decoder).
    func recordBatch(size: Int, duration: Duration)
    /// `depth` images now wait for the model.
    func setQueueDepth(_ depth: Int)
}

/// Owns the model and the encoder, which are not safe to call concurrently, and runs them on one
/// thread of its own: requests queue up here, and each model run takes up to `maxBatch` of them,
/// waiting at most `maxWait` after the first for others to arrive — and not at all when
/// `requestsInFlight` says every request in flight is already queued. The encoder sees the whole batch
/// at once; the decoder sees each group of images that asked for the same search together.
///
/// A plain thread, not a task: a model run blocks for tens of milliseconds, which must never hold
/// a thread of Swift's cooperative pool that the HTTP handlers need.
final class InferenceWorker: @unchecked Sendable {
    private let model: CaptionModel
    private let encoder: FeatureEncoder
    private let maxBatch: Int
    private let maxWait: Duration
    private let observer: BatchObserver?
    private let logger: Logger
    private let requestsInFlight: @Sendable () -> Int

    private struct Job {
        let id: UInt64
        let pixels: [Float]
        let search: SearchOptions
        let enqueued: ContinuousClock.Instant
    }

    // Everything below is guarded by `condition`.
    private let condition = NSCondition()
    private var pending: [Job] = []
    private var waiting: [UInt64: CheckedContinuation<CaptionResult, Error>] = [:]
    /// Results whose caller has not come for them yet (`enqueue` then `result(of:)`).
    private var finished: [UInt64: Result<CaptionResult, Error>] = [:]
    /// Images cancelled while their batch ran.
    private var abandoned: Set<UInt64> = []
    private var nextID: UInt64 = 0
    private var accepting = true
    private var exited = false
    private var exitWaiters: [CheckedContinuation<Void, Never>] = []

    init(model: CaptionModel, encoder: FeatureEncoder, maxBatch: Int, maxWait: Duration,
         observer: BatchObserver?, logger: Logger, requestsInFlight: @escaping @Sendable () -> Int) {
        precondition(maxBatch >= 1, "a batch holds at least one image")
        self.model = model
        self.encoder = encoder
        self.maxBatch = maxBatch
        self.maxWait = maxWait
        self.observer = observer
        self.logger = logger
        self.requestsInFlight = requestsInFlight
        let thread = Thread { [self] in loop() }
        thread.name = "captioner-inference"
        thread.stackSize = 16 << 20
        thread.start()
    }

    /// Captions one preprocessed image ([3, crop, crop]). Cancelling the calling task answers it at
    /// once with CancellationError: a queued image leaves the queue, a running one's result is dropped.
    func caption(pixels: [Float], search: SearchOptions) async throws -> CaptionResult {
        try await result(of: try enqueue([pixels], search: search)[0])
    }

    /// Queues `images` together, in this order, so no other image can come between them; their
    /// results are then collected with `result(of:)`.
    func enqueue(_ images: [[Float]], search: SearchOptions) throws -> [UInt64] {
        condition.lock()
        defer { condition.unlock() }
        guard accepting else { throw CaptionerError.shuttingDown }
        let now = ContinuousClock.now
        let ids = images.map { pixels -> UInt64 in
            nextID += 1
            pending.append(Job(id: nextID, pixels: pixels, search: search, enqueued: now))
            return nextID
        }
        observer?.setQueueDepth(pending.count)
        condition.signal()
        return ids
    }

    /// The result of a queued image, waited for (or taken, if its batch already ran). Cancelling
    /// the calling task answers at once with CancellationError and drops the image.
    func result(of id: UInt64) async throws -> CaptionResult {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<CaptionResult, Error>) in
                condition.lock()
                defer { condition.unlock() }
                if let result = finished.removeValue(forKey: id) { return continuation.resume(with: result) }
                guard !Task.isCancelled else { return continuation.resume(throwing: CancellationError()) }
                waiting[id] = continuation
            }
        } onCancel: {
            condition.lock()
            defer { condition.unlock() }
            if let index = pending.firstIndex(where: { $0.id == id }) {
                pending.remove(at: index)
                observer?.setQueueDepth(pending.count)
            } else if finished.removeValue(forKey: id) == nil {
                abandoned.insert(id)   // running now: its result is dropped when it comes
            }
            // Answered now even when its batch is already running: a time-out must not wait for the model.
            waiting.removeValue(forKey: id)?.resume(throwing: CancellationError())
        }
    }

    /// A caller that counted as under way has ended: the batch being gathered need not wait for it.
    func wake() { condition.withLock { condition.broadcast() } }

    /// False once `finish()` or `stop()` was called.
    var isAccepting: Bool { condition.withLock { accepting } }

    /// Refuses new images, runs the queued ones, and returns once the thread has exited.
    func finish() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            condition.lock()
            defer { condition.unlock() }
            accepting = false
            if exited { return continuation.resume() }
            exitWaiters.append(continuation)
            condition.broadcast()
        }
    }

    /// Refuses new images; the thread runs the queued ones and exits without anyone waiting.
    func stop() {
        condition.withLock {
            accepting = false
            condition.broadcast()
        }
    }

    private func loop() {
        while let batch = nextBatch() {
            let results = run(batch)
            condition.lock()
            var answers: [(CheckedContinuation<CaptionResult, Error>, Result<CaptionResult, Error>)] = []
            for (job, result) in zip(batch, results) {
                if let continuation = waiting.removeValue(forKey: job.id) { answers.append((continuation, result)) }
                else if abandoned.remove(job.id) == nil { finished[job.id] = result }
            }
            condition.unlock()
            for (continuation, result) in answers { continuation.resume(with: result) }
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
        while pending.count < maxBatch && accepting && requestsInFlight() > pending.count {
            let remaining = ContinuousClock.now.duration(to: deadline)
            guard remaining > .zero else { break }
            let (seconds, attoseconds) = remaining.components
            _ = condition.wait(until: Date(timeIntervalSinceNow: Double(seconds) + Double(attoseconds) * 1e-18))
            if pending.isEmpty { return [] }  // every queued job was cancelled while we waited
        }
        let batch = Array(pending.prefix(maxBatch))
        pending.removeFirst(batch.count)
        observer?.setQueueDepth(pending.count)
        return batch
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
            let groups = Dictionary(grouping: batch.indices) { batch[$0].search }
            for (search, rows) in groups.sorted(by: { $0.value[0] < $1.value[0] }) {
                let groupFeatures = rows.count == batch.count ? features : features.rows(rows.map { Int32($0) })
                let decoded = decodeCaptions(model.decoder, groupFeatures, options: search)
                for (row, result) in zip(rows, decoded) { hypotheses[row] = result }
            }
            let finished = ContinuousClock.now
            observer?.recordBatch(size: batch.count, duration: finished - started)
            return batch.indices.map { i in
                .success(CaptionResult(hypotheses: hypotheses[i], batchSize: batch.count, queueWait: started - batch[i].enqueued,
                                       encodeTime: encoded - started, decodeTime: finished - encoded,
                                       gridCells: features.grid?.shape[1] ?? 0))
            }
        } catch {
            logger.error("model run failed: \(error)")
            return batch.map { _ in .failure(CaptionerError.modelFailure(error)) }
        }
    }
}
