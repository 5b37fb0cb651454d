import Dispatch
import Foundation
import TensorCore

/// A batch of image files decoded and preprocessed for an encoder, in parallel. Files that cannot
/// be used are listed with the reason (one sentence naming the file) instead of stopping the batch.
public struct ImageBatch {
    /// [B, 3, crop, crop] for the images that decoded, in input order.
    public var pixels: [Float]
    /// Indices (into the input list) of the images in `pixels`, in order.
    public var decoded: [Int]
    /// (index into the input list, why it failed).
    public var failures: [(index: Int, reason: String)]

    public static func load(_ urls: [URL], preprocessing: Preprocessing, maxPixels: Int = ImageDecoder.defaultMaxPixels) -> ImageBatch {
        var results = [Result<[Float], Error>?](repeating: nil, count: urls.count)
        let lock = NSLock()
        DispatchQueue.concurrentPerform(iterations: urls.count) { i in
            let result = Result { preprocessing.tensor(for: try ImageDecoder.decode(contentsOf: urls[i], maxPixels: maxPixels)) }
            lock.lock(); results[i] = result; lock.unlock()
        }
        var batch = ImageBatch(pixels: [], decoded: [], failures: [])
        batch.pixels.reserveCapacity(urls.count * 3 * preprocessing.crop * preprocessing.crop)
        for (i, result) in results.enumerated() {
            switch result! {
            case .success(let pixels): batch.pixels += pixels; batch.decoded.append(i)
            case .failure(let error): batch.failures.append((i, String(describing: error)))
            }
        }
        return batch
    }
}
