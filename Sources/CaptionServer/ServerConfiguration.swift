import Foundation
import TensorCore
import Vision

/// The knobs of `caption serve`: where it listens, how it batches, and what it refuses.
public struct ServerConfiguration: Sendable {
    public var host = "127.0.0.1"
    public var port = 8080
    /// Most images encoded and decoded together.
    public var maxBatch = 8
    /// How long the first request of a batch waits for company before the batch runs anyway.
    public var maxWait: Duration = .milliseconds(10)
    /// Captioning requests admitted at once, once their body has arrived (decoding, waiting for or in
    /// the model); more get 503.
    public var queueCapacity = 64
    /// Request bodies being received at once, apart from the queue, so slow uploads cannot take the
    /// model's places; more get 503. Bounds the memory bodies hold to this × `maxBodyBytes`.
    public var uploadCapacity = 128
    /// Longest a request body may take to arrive, in seconds (408 above): a client that declares a
    /// length and stalls holds an upload place no longer than this.
    public var bodyTimeoutSeconds: Double = 10
    /// Largest request body, in bytes (413 above).
    public var maxBodyBytes = 10 * 1_048_576
    /// Largest image, in pixels (413 above), checked on the declared size before decoding.
    public var maxPixels = ImageDecoder.defaultMaxPixels
    /// Whole-request limit, from the first byte read to the reply (504 above).
    public var timeoutSeconds: Double = 30
    /// Images decoded at the same time: bounds the memory held by decoded pixels.
    public var concurrentDecodes = Threads.availableCores()
    /// Defaults for requests that do not say.
    public var defaultBeam = 3
    public var defaultMaxWords = 30
    /// The upper bounds a request may ask for, so one request cannot take the worker for long.
    public var beamLimit = 10
    public var maxWordsLimit = 100

    public init() {}
}
