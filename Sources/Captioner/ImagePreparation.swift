import Foundation
import Vision

/// Turns image bytes into the encoder's input off Swift's cooperative pool, a few images at a time:
/// decoding a large photo takes a while and its pixels take memory, so the number decoded at once
/// is bounded, and a slow decode never stalls the caller's tasks (the server's HTTP handlers).
final class ImagePreparation: @unchecked Sendable {
    private let preprocessing: Preprocessing
    private let maxPixels: Int
    private let queue = OperationQueue()

    init(preprocessing: Preprocessing, maxPixels: Int, concurrentDecodes: Int) {
        self.preprocessing = preprocessing
        self.maxPixels = maxPixels
        queue.name = "captioner-image-decoding"
        queue.maxConcurrentOperationCount = max(1, concurrentDecodes)
    }

    /// [3, crop, crop] normalised pixels of an encoded JPEG or PNG; `name` is how errors call it.
    func pixels(of data: Data, name: String) async throws -> [Float] {
        // The declared size is checked first, so a decompression bomb never reaches the decoder.
        if let size = DeclaredSize.of(data), size.width.multipliedReportingOverflow(by: size.height).partialValue > maxPixels {
            throw CaptionerError(.tooManyPixels, ImageError.tooManyPixels(name, width: size.width, height: size.height, limit: maxPixels).description)
        }
        return try await onQueue { [preprocessing, maxPixels] in
            do {
                return preprocessing.tensor(for: try ImageDecoder.decode(data: data, name: name, maxPixels: maxPixels))
            } catch let error as ImageError {
                throw CaptionerError(error.isPixelLimit ? .tooManyPixels : .unreadableImage, error.description)
            }
        }
    }

    /// [3, crop, crop] normalised pixels of a JPEG or PNG file, read on the decoding queue too.
    func pixels(ofFileAt url: URL) async throws -> [Float] {
        let data = try await onQueue {
            do { return try ImageDecoder.read(url) } catch let error as ImageError { throw CaptionerError(.unreadableImage, error.description) }
        }
        return try await pixels(of: data, name: url.path)
    }

    /// [3, crop, crop] normalised pixels of a decoded image.
    func pixels(of image: RGBImage) async throws -> [Float] {
        try await onQueue { [preprocessing] in preprocessing.tensor(for: image) }
    }

    /// Runs `work` on the decoding queue; a caller cancelled while waiting for a slot is not run at all.
    private func onQueue<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        let cancelled = CancellationFlag()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, Error>) in
                queue.addOperation {
                    guard !cancelled.isSet else { return continuation.resume(throwing: CancellationError()) }
                    continuation.resume(with: Result { try work() })
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
