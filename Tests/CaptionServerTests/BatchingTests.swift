import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import Testing
import Vision
@testable import CaptionServer

@Suite(.serialized) struct BatchingTests {
    @Test func concurrentRequestsShareModelRuns() async throws {
        let encoder = QuadrantEncoder()
        // A long wait so that requests sent together certainly meet in one batch.
        let server = try testServer({ $0.maxBatch = 8; $0.maxWait = .milliseconds(400) }, encoder: encoder)
        let png = try fixture("chelsea.png")
        try await server.application().test(.router) { client in
            let sizes = try await withThrowingTaskGroup(of: Int.self) { group in
                for beam in [1, 1, 2, 3, 3, 1] {  // mixed options still share the encoder run
                    group.addTask {
                        let response = try await client.execute(uri: "/v1/captions?beam=\(beam)", method: .post,
                                                                headers: [.contentType: "image/png"], body: ByteBuffer(bytes: png))
                        #expect(response.status == .ok)
                        return try #require(try json(response)["timing"] as? [String: Any])["batch_size"] as? Int ?? 0
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(sizes.max() ?? 0 > 1, "batch sizes \(sizes)")
            #expect(encoder.batchSizes.count < 6, "encoder runs \(encoder.batchSizes)")
            try await client.execute(uri: "/metrics", method: .get) { response in
                let text = String(buffer: response.body)
                let line = try #require(text.split(separator: "\n").first { $0.hasPrefix("caption_batch_size_sum") })
                let sum = try #require(Double(line.split(separator: " ").last ?? ""))
                let countLine = try #require(text.split(separator: "\n").first { $0.hasPrefix("caption_batch_size_count") })
                let count = try #require(Double(countLine.split(separator: " ").last ?? ""))
                #expect(sum == 6 && count < 6, "mean batch size \(sum / count) > 1")
            }
        }
    }

    @Test func batchedCaptionsEqualOneAtATime() async throws {
        // Batching must not change what the model says: same images alone and together.
        let jpeg = try fixture("chelsea.jpg"), png = try fixture("chelsea.png")
        func captions(maxBatch: Int) async throws -> [String] {
            let server = try testServer { $0.maxBatch = maxBatch; $0.maxWait = .milliseconds(300) }
            return try await server.application().test(.router) { client in
                try await withThrowingTaskGroup(of: (Int, String).self) { group in
                    for (index, (data, type)) in [(jpeg, "image/jpeg"), (png, "image/png"), (jpeg, "image/jpeg")].enumerated() {
                        group.addTask {
                            let response = try await client.execute(uri: "/v1/captions?beam=2", method: .post,
                                                                    headers: [.contentType: type], body: ByteBuffer(bytes: data))
                            return (index, try #require(try json(response)["caption"] as? String))
                        }
                    }
                    return try await group.reduce(into: [(Int, String)]()) { $0.append($1) }.sorted { $0.0 < $1.0 }.map(\.1)
                }
            }
        }
        #expect(try await captions(maxBatch: 1) == captions(maxBatch: 8))
    }

    @Test func shutdownFinishesQueuedImagesThenRefuses() async throws {
        let encoder = QuadrantEncoder()
        let worker = InferenceWorker(model: try tinyModel(), encoder: encoder, maxBatch: 2, maxWait: .milliseconds(1),
                                     metrics: ServerMetrics(), logger: Logger(label: "test"))
        let pixels = encoder.preprocessing.tensor(for: try ImageDecoder.decode(data: try fixture("chelsea.png"), name: "chelsea.png"))
        let options = CaptionOptions(beam: 2, maxWords: 5, attention: false)
        encoder.hold()
        let queued = (0..<5).map { _ in Task { try await worker.caption(pixels: pixels, options: options) } }
        try await waitUntil("the first batch is inside the model") { encoder.isBlocked }
        let finishing = Task { await worker.finish() }
        try await Task.sleep(for: .milliseconds(20))
        encoder.release()
        await finishing.value
        for task in queued { #expect(try await !task.value.hypotheses.isEmpty, "queued before shutdown, answered") }
        await #expect(throws: ServerError.self) { try await worker.caption(pixels: pixels, options: options) }
    }
}
