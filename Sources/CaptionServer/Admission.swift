import Foundation

/// Bounds how many requests are at one stage at once (receiving their bodies; or decoding and
/// waiting for the model), so memory stays bounded whatever the clients do: one past the limit
/// gets `refusal` (a 503) at once.
final class Admission: @unchecked Sendable {
    private let capacity: Int
    private let refusal: ServerError
    private let report: @Sendable (Int) -> Void
    private let lock = NSLock()
    private var admitted = 0

    init(capacity: Int, refusal: ServerError, report: @escaping @Sendable (Int) -> Void) {
        self.capacity = capacity
        self.refusal = refusal
        self.report = report
    }

    /// How many requests hold a slot now.
    var count: Int { lock.withLock { admitted } }

    /// Runs `body` holding one of the slots, or throws `refusal` when all are taken.
    func withSlot<T>(_ body: () async throws -> T) async throws -> T {
        let admittedNow: Int? = lock.withLock {
            guard admitted < capacity else { return nil }
            admitted += 1
            return admitted
        }
        guard let admittedNow else { throw refusal }
        report(admittedNow)
        defer {
            let left = lock.withLock { admitted -= 1; return admitted }
            report(left)
        }
        return try await body()
    }
}
