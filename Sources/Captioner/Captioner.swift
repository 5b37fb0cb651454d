import Captioning
import Foundation
import Logging
import TensorCore
import Vision

/// Captions photographs: an image encoder and a caption decoder behind one call.
///
/// `Captioner()` is the captioner this package ships (a soft-attention GRU trained on Flickr8k,
/// over EfficientNet-Lite2); `Captioner(model:encoderWeights:options:)` loads another model file.
/// One instance serves any number of tasks at once: their images are batched through the model on a
/// thread of its own, so concurrent calls cost about what one batch costs.
///
///     let captioner = try Captioner()
///     let caption = try await captioner.caption(imageAt: URL(fileURLWithPath: "photo.jpg"))
///     print(caption.text)
public final class Captioner: @unchecked Sendable {
    // @unchecked: the model and the encoder are touched only by the worker's thread; everything
    // else is immutable or guarded by a lock.

    /// How captions are searched for, and how images are batched and limited.
    public struct Options: Sendable, Equatable {
        /// Beam width; 1 decodes greedily.
        public var beam: Int
        /// Longest caption, in words.
        public var maxWords: Int
        /// α in score = log p / (words + 1)^α; 0 ranks hypotheses by log-probability.
        public var lengthPenalty: Float
        /// Never repeat a trigram within a caption ("a red shirt and a red shirt").
        public var blockRepeatedTrigrams: Bool
        /// Larger images are refused before they are decoded (decompression bombs).
        public var maxPixels: Int
        /// Most images run through the model together.
        public var maxBatch: Int
        /// Longest the first image of a batch waits for others; no wait when no other call is under way.
        public var maxWait: Duration
        /// Images decoded and resized at the same time (bounds the memory their pixels take).
        public var concurrentDecodes: Int

        /// The defaults are those of `caption predict`: beam 3, at most 30 words, trigram blocking on.
        public init(beam: Int = 3, maxWords: Int = 30, lengthPenalty: Float = 0, blockRepeatedTrigrams: Bool = true,
                    maxPixels: Int = ImageDecoder.defaultMaxPixels, maxBatch: Int = 8, maxWait: Duration = .milliseconds(10),
                    concurrentDecodes: Int = Threads.availableCores()) {
            self.beam = beam
            self.maxWords = maxWords
            self.lengthPenalty = lengthPenalty
            self.blockRepeatedTrigrams = blockRepeatedTrigrams
            self.maxPixels = maxPixels
            self.maxBatch = maxBatch
            self.maxWait = maxWait
            self.concurrentDecodes = concurrentDecodes
        }

        func search(beam: Int?, maxWords: Int?) throws -> SearchOptions {
            let beam = beam ?? self.beam, maxWords = maxWords ?? self.maxWords
            guard beam >= 1 else { throw CaptionerError(.option, "The beam width must be at least 1, not \(beam).") }
            guard maxWords >= 1 else { throw CaptionerError(.option, "The longest caption must be at least 1 word, not \(maxWords).") }
            return SearchOptions(beamSize: beam, maxWords: maxWords, lengthPenalty: lengthPenalty, blockRepeatedTrigrams: blockRepeatedTrigrams)
        }
    }

    /// The decoder and its metadata: architecture, vocabulary, encoder, how it was trained.
    public let model: CaptionModel
    /// How images are resized, cropped and normalised for the encoder.
    public let preprocessing: Preprocessing
    /// The options it was made with (`beam` and `maxWords` may be overridden per call).
    public let options: Options

    private let worker: InferenceWorker
    private let preparation: ImagePreparation
    private let wording: CaptionWording
    private let calls = CallCounter()

    /// The captioner that ships with this package, from the package's own resources: no file to find,
    /// no set-up step.
    public convenience init(options: Options = Options(), logger: Logger = Logger(label: "captioner")) throws {
        guard let shipped = Self.shippedModelURL else {
            throw CaptionerError(.model, "The shipped captioner is missing: its folder Captioner_Captioner.resources is not beside this executable; keep the folder SwiftPM built beside it, or pass a model file to Captioner(model:).")
        }
        try self.init(model: shipped, options: options, logger: logger)
    }

    /// A model file from `caption train` or `caption import`, with its encoder's weights (a `.pth` or
    /// `.safetensors` file); they may be left out when this package carries them
    /// (``bundledEncoderWeights(for:)``).
    public convenience init(model url: URL, encoderWeights: URL? = nil, options: Options = Options(),
                            logger: Logger = Logger(label: "captioner")) throws {
        let model: CaptionModel
        do { model = try CaptionModel.load(url) } catch { throw CaptionerError(.model, String(describing: error)) }
        let name = model.metadata.encoder.name
        guard let weights = encoderWeights ?? Self.bundledEncoderWeights(for: name) else {
            throw CaptionerError(.encoderWeights, "\(url.path) reads \(name) features, whose weights this package does not carry: pass the weights of \(name) (a .pth or .safetensors file).")
        }
        let encoder: ConvNetEncoder
        do { encoder = try ConvNetEncoder.load(name: name, weights: weights) } catch {
            throw CaptionerError(.encoderWeights, String(describing: error))
        }
        try self.init(model: model, encoder: encoder, options: options, logger: logger)
    }

    /// A model and an encoder already in memory. `observer` hears of every model run (the server's
    /// metrics); `requestsInFlight` counts the callers that may still join a batch, when the caller
    /// knows of more than the calls under way (the server counts uploads still arriving).
    public init(model: CaptionModel, encoder: any FeatureEncoder, options: Options = Options(),
                observer: BatchObserver? = nil, requestsInFlight: (@Sendable () -> Int)? = nil,
                logger: Logger = Logger(label: "captioner")) throws {
        guard encoder.featureChannels == model.metadata.decoder.featureSize else {
            throw CaptionerError(.encoderWeights, "The encoder gives \(encoder.featureChannels)-channel features but the model expects \(model.metadata.decoder.featureSize): use the encoder the model was trained on (\(model.metadata.encoder.name)).")
        }
        _ = try options.search(beam: nil, maxWords: nil)
        guard options.maxPixels >= 1, options.maxBatch >= 1, options.maxWait >= .zero, options.concurrentDecodes >= 1 else {
            throw CaptionerError(.option, "The pixel limit, batch size and concurrent decodes must be positive and the wait not negative.")
        }
        self.model = model
        self.preprocessing = encoder.preprocessing
        self.options = options
        let calls = self.calls
        worker = InferenceWorker(model: model, encoder: encoder, maxBatch: options.maxBatch, maxWait: options.maxWait,
                                 observer: observer, logger: logger, requestsInFlight: requestsInFlight ?? { calls.count })
        preparation = ImagePreparation(preprocessing: encoder.preprocessing, maxPixels: options.maxPixels,
                                       concurrentDecodes: options.concurrentDecodes)
        wording = CaptionWording(vocabulary: model.metadata.vocabulary,
                                 cropFraction: Double(encoder.preprocessing.crop) / Double(encoder.preprocessing.resizeShorter),
                                 modelAttends: model.metadata.decoder.architecture.usesGrid)
    }

    deinit { worker.stop() }

    /// Captions a JPEG or PNG file. `beam` and `maxWords` override the options for this image.
    public func caption(imageAt url: URL, beam: Int? = nil, maxWords: Int? = nil) async throws -> Caption {
        try await caption(beam: beam, maxWords: maxWords) { try await $0.pixels(ofFileAt: url) }
    }

    /// Captions an encoded JPEG or PNG; `name` is what error messages call it.
    public func caption(imageData: Data, name: String = "The image", beam: Int? = nil, maxWords: Int? = nil) async throws -> Caption {
        try await caption(beam: beam, maxWords: maxWords) { try await $0.pixels(of: imageData, name: name) }
    }

    /// Captions an image already decoded.
    public func caption(image: RGBImage, beam: Int? = nil, maxWords: Int? = nil) async throws -> Caption {
        try await caption(beam: beam, maxWords: maxWords) { try await $0.pixels(of: image) }
    }

    /// Captions several files as one group: they are decoded at once, then queued together in this
    /// order, so the model runs them in batches of `Options.maxBatch` consecutive files, whatever
    /// else is going on and however fast each one decodes. A file that cannot be captioned gets its
    /// error in its place.
    public func captions(imagesAt urls: [URL], beam: Int? = nil, maxWords: Int? = nil) async -> [Result<Caption, Error>] {
        let search: SearchOptions
        do { search = try options.search(beam: beam, maxWords: maxWords) } catch { return urls.map { _ in .failure(error) } }
        let started = ContinuousClock.now
        let decoding = urls.map { url in Task { [preparation] in try await preparation.pixels(ofFileAt: url) } }
        let pixels = await withTaskCancellationHandler {
            var pixels: [Result<[Float], Error>] = []
            for task in decoding { pixels.append(await task.result) }
            return pixels
        } onCancel: {
            for task in decoding { task.cancel() }
        }
        let prepared = ContinuousClock.now
        let decoded = pixels.compactMap { try? $0.get() }
        let ids: [UInt64]
        do { ids = try worker.enqueue(decoded, search: search) } catch { return urls.map { _ in .failure(error) } }
        var next = ids.makeIterator()
        var results: [Result<Caption, Error>] = []
        for image in pixels {
            guard case .success = image, let id = next.next() else {
                if case .failure(let error) = image { results.append(.failure(error)) }
                continue
            }
            do { results.append(.success(caption(try await worker.result(of: id), imageTime: prepared - started))) }
            catch { results.append(.failure(error)) }
        }
        return results
    }

    /// Refuses new images, finishes the ones already queued for the model, then returns; calls made
    /// afterwards, or still decoding their image, throw `CaptionerError` of kind `.shuttingDown`.
    public func finish() async { await worker.finish() }

    private func caption(beam: Int?, maxWords: Int?, pixels: (ImagePreparation) async throws -> [Float]) async throws -> Caption {
        let search = try options.search(beam: beam, maxWords: maxWords)
        guard worker.isAccepting else { throw CaptionerError.shuttingDown }   // before any decoding
        calls.add(1)
        defer {
            calls.add(-1)
            worker.wake()   // a batch waiting for this call need not wait any longer
        }
        let started = ContinuousClock.now
        let input = try await pixels(preparation)
        let prepared = ContinuousClock.now
        return caption(try await worker.caption(pixels: input, search: search), imageTime: prepared - started)
    }

    private func caption(_ result: CaptionResult, imageTime: Duration) -> Caption {
        wording.caption(result.hypotheses, gridCells: result.gridCells, timing: Caption.Timing(
            image: imageTime, queue: result.queueWait, encode: result.encodeTime, decode: result.decodeTime,
            batchSize: result.batchSize))
    }
}

/// How many calls are under way: they may still join a batch.
private final class CallCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    var count: Int { lock.withLock { value } }
    func add(_ delta: Int) { lock.withLock { value += delta } }
}
