import Foundation
import Vision

/// Turns uploaded bytes into the encoder's input off Swift's cooperative pool, a few images at a
/// time: decoding a large photo takes a while and its pixels take memory, so the number decoded at
/// once is bounded, and a slow decode never stalls the HTTP handlers.
final class ImagePreparation: @unchecked Sendable {
    private let preprocessing: Preprocessing
    private let maxPixels: Int
    private let queue = OperationQueue()

    init(preprocessing: Preprocessing, maxPixels: Int, concurrentDecodes: Int) {
        self.preprocessing = preprocessing
        self.maxPixels = maxPixels
        queue.name = "caption-image-decoding"
        queue.maxConcurrentOperationCount = max(1, concurrentDecodes)
    }

    /// [3, crop, crop] normalised pixels; 413 for too many pixels, 422 for anything unreadable.
    func pixels(of data: Data) async throws -> [Float] {
        // The declared size is checked first, so a decompression bomb never reaches the decoder.
        if let size = DeclaredSize.of(data), size.width.multipliedReportingOverflow(by: size.height).partialValue > maxPixels {
            throw ServerError.tooManyPixels(width: size.width, height: size.height, limit: maxPixels)
        }
        let cancelled = CancellationFlag()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<[Float], Error>) in
                queue.addOperation { [preprocessing, maxPixels] in
                    // A request that timed out while waiting for a decoding slot is not decoded at all.
                    guard !cancelled.isSet else { return continuation.resume(throwing: CancellationError()) }
                    do {
                        let image = try ImageDecoder.decode(data: data, name: "The uploaded image", maxPixels: maxPixels)
                        continuation.resume(returning: preprocessing.tensor(for: image))
                    } catch let error as ImageError {
                        continuation.resume(throwing: ServerError.unreadableImage(error.description))
                    } catch {
                        continuation.resume(throwing: ServerError.unreadableImage("The uploaded image could not be decoded (\(error))"))
                    }
                }
            }
        } onCancel: {
            cancelled.set()
        }
    }
}

/// A flag one task sets and a worker thread reads.
final class CancellationFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.withLock { value } }
    func set() { lock.withLock { value = true } }
}
