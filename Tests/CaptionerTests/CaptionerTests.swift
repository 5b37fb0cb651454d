import Captioner
import Captioning
import Foundation
import TensorCore
import Testing
import TestSupport
import Vision

/// The library's front door on the toy model: batching across concurrent callers, shutdown, and
/// typed errors with the CLI's sentences.
@Suite(.serialized) struct CaptionerTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let chelsea = repository.appendingPathComponent("Tests/VisionTests/Fixtures/images/chelsea.jpg")

    func toyCaptioner(_ encoder: QuadrantEncoder, maxBatch: Int = 8, architecture: Architecture = .softAttentionGRU,
                      observer: QueueObserver? = nil) throws -> Captioner {
        try Captioner(model: try tinyModel(architecture), encoder: encoder,
                      options: Captioner.Options(beam: 2, maxWords: 6, maxBatch: maxBatch, maxWait: .milliseconds(2)), observer: observer)
    }

    @Test func concurrentCallsShareModelRunsAndGetTheCaptionsOfSeparateRuns() async throws {
        let image = try ImageDecoder.decode(contentsOf: Self.chelsea)
        let flipped = RGBImage(width: image.width, height: image.height, pixels: Array(image.pixels.reversed()))
        func captions(maxBatch: Int) async throws -> ([String], [Int]) {
            let encoder = QuadrantEncoder(), queue = QueueObserver()
            let captioner = try toyCaptioner(encoder, maxBatch: maxBatch, observer: queue)
            // The first run is held until every other call has queued behind it, so they certainly meet.
            encoder.hold()
            let texts = try await withThrowingTaskGroup(of: (Int, String).self) { group in
                for (index, beam) in [1, 2, 3, 2, 1, 3].enumerated() {
                    group.addTask { (index, try await captioner.caption(image: index % 2 == 0 ? image : flipped, beam: beam).alternatives.map(\.text).joined(separator: "|")) }
                }
                try await waitUntil("every call is in the held run or queued", seconds: 300) {
                    encoder.isBlocked && (encoder.batchSizes.first ?? 0) + queue.depth == 6
                }
                encoder.release()
                return try await group.reduce(into: [String](repeating: "", count: 6)) { $0[$1.0] = $1.1 }
            }
            return (texts, encoder.batchSizes)
        }
        let (batched, sizes) = try await captions(maxBatch: 8)
        let (alone, aloneSizes) = try await captions(maxBatch: 1)
        #expect(sizes.max() ?? 0 > 1, "calls under way at once shared a model run: \(sizes)")
        #expect(aloneSizes.allSatisfy { $0 == 1 })
        #expect(batched == alone, "a caption does not depend on the company it was batched with")
    }

    @Test func severalFilesGivenTogetherRunAsOneBatchInOrder() async throws {
        let encoder = QuadrantEncoder()
        let captioner = try Captioner(model: try tinyModel(), encoder: encoder,
                                      options: Captioner.Options(beam: 2, maxWords: 6, maxBatch: 8, maxWait: .seconds(60)))
        let files = ShippedCaptionerTests.photos + [URL(fileURLWithPath: "/nonexistent/photo.jpg")]
        let results = await captioner.captions(imagesAt: files)
        #expect(encoder.batchSizes == [3], "the three readable files shared one run, however fast each decoded")
        #expect(Set(try results.prefix(3).map { try $0.get().score }).count == 3, "three photos, three different results")
        for (file, result) in zip(files.prefix(3), results) {
            #expect(try result.get().text == (try await captioner.caption(imageAt: file)).text, "in input order")
        }
        #expect(throws: CaptionerError.self) { try results[3].get() }
    }

    @Test func aCaptionCarriesItsAlternativesAttentionAndTiming() async throws {
        let captioner = try toyCaptioner(QuadrantEncoder())
        let caption = try await captioner.caption(imageData: try Data(contentsOf: Self.chelsea), beam: 3)
        #expect(caption.alternatives.count == 3 && caption.alternatives[0].text == caption.text && caption.alternatives[0].score == caption.score)
        #expect(caption.alternatives.map(\.score) == caption.alternatives.map(\.score).sorted(by: >), "best first")
        let attention = try #require(caption.attention, "a soft-attention model says where it looked")
        #expect(attention.rows == 2 && attention.columns == 2 && attention.words.count == caption.alternatives[0].decoded.tokens.count)
        for word in attention.words { #expect(abs(word.grid.joined().reduce(0, +) - 1) < 1e-4, "weights over the grid sum to 1") }
        #expect(caption.timing.batchSize == 1 && caption.timing.encode > .zero)
        let showTell = try toyCaptioner(QuadrantEncoder(), architecture: .showTellGRU)
        #expect(try await showTell.caption(imageAt: Self.chelsea).attention == nil, "show-tell does not attend")
    }

    @Test func errorsAreTypedWithOneSentenceNamingTheInput() async throws {
        let captioner = try toyCaptioner(QuadrantEncoder())
        let missing = URL(fileURLWithPath: "/nonexistent/photo.jpg")
        let cases: [(CaptionerError.Kind, () async throws -> Caption, String)] = [
            (.unreadableImage, { try await captioner.caption(imageData: Data(), name: "empty.png") }, "empty.png is empty"),
            (.unreadableImage, { try await captioner.caption(imageData: Data("hello".utf8)) }, "The image is not a JPEG or PNG"),
            (.unreadableImage, { try await captioner.caption(imageAt: missing) }, "/nonexistent/photo.jpg could not be read"),
            (.tooManyPixels, { try await captioner.caption(imageData: pngHeader(width: 100_000, height: 100_000), name: "bomb.png") }, "bomb.png is 100000×100000"),
            (.option, { try await captioner.caption(imageAt: Self.chelsea, beam: 0) }, "beam width must be at least 1"),
        ]
        for (kind, call, sentence) in cases {
            do {
                _ = try await call()
                Issue.record("\(sentence): no error")
            } catch let error as CaptionerError {
                #expect(error.kind == kind && error.description.contains(sentence) && error.description.hasSuffix("."), "\(error)")
            }
        }
        #expect(throws: CaptionerError.self) { try Captioner(model: missing) }
        do {
            _ = try Captioner(model: try tinyModel(), encoder: WideEncoder())
            Issue.record("an encoder of the wrong width was accepted")
        } catch let error as CaptionerError {
            #expect(error.kind == .encoderWeights && error.description.contains("8-channel features but the model expects 4"), "\(error)")
        }
    }

    @Test func finishAnswersTheQueuedImagesThenRefuses() async throws {
        let encoder = QuadrantEncoder(), queue = QueueObserver()
        let captioner = try toyCaptioner(encoder, maxBatch: 2, observer: queue)
        let image = try ImageDecoder.decode(contentsOf: Self.chelsea)
        encoder.hold()
        let queued = (0..<5).map { _ in Task { try await captioner.caption(image: image) } }
        try await waitUntil("every image is in the held run or queued", seconds: 300) {
            encoder.isBlocked && (encoder.batchSizes.first ?? 0) + queue.depth == 5
        }
        let finishing = Task { await captioner.finish() }
        // Asked with a task that is already cancelled, so the probe is never queued: CancellationError
        // while the captioner takes images, .shuttingDown once it is finishing.
        try await waitUntil("the captioner refuses new images", seconds: 300) {
            let probe = Task {
                withUnsafeCurrentTask { $0?.cancel() }
                return try await captioner.caption(image: image)
            }
            do { _ = try await probe.value; return false } catch let error as CaptionerError { return error.kind == .shuttingDown } catch { return false }
        }
        encoder.release()
        await finishing.value
        for task in queued { #expect(try await !task.value.alternatives.isEmpty, "given before finish(), answered") }
    }
}

/// Remembers the captioner's queue depth.
final class QueueObserver: BatchObserver, @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    var depth: Int { lock.withLock { value } }
    func setQueueDepth(_ depth: Int) { lock.withLock { value = depth } }
    func recordBatch(size: Int, duration: Duration) {}
}

/// An encoder whose features are twice as wide as the toy model reads.
final class WideEncoder: FeatureEncoder, @unchecked Sendable {
    let preprocessing = Preprocessing(resizeShorter: 32, crop: 28)
    var featureChannels: Int { 8 }
    func features(of pixels: [Float], batch: Int) throws -> ImageFeatures { fatalError("never run") }
}
