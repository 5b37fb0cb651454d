import Foundation

/// Bounds the captioning requests the server holds at once (their bodies, decoded pixels and queue
/// slots), so memory stays bounded whatever the clients do: one past the limit gets 503 at once,
/// before its body is read.
final class Admission: @unchecked Sendable {
    private let capacity: Int
    private let metrics: ServerMetrics
    private let lock = NSLock()
    private var admitted = 0

    init(capacity: Int, metrics: ServerMetrics) {
        self.capacity = capacity
        self.metrics = metrics
    }

    /// Runs `body` holding one of the slots, or throws 503 when all are taken.
    func withSlot<T>(_ body: () async throws -> T) async throws -> T {
        let admittedNow: Int? = lock.withLock {
            guard admitted < capacity else { return nil }
            admitted += 1
            return admitted
        }
        guard let admittedNow else { throw ServerError.busy }
        metrics.setInFlight(admittedNow)
        defer {
            let left = lock.withLock { admitted -= 1; return admitted }
            metrics.setInFlight(left)
        }
        return try await body()
    }
}
