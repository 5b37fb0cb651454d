import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import Testing
import TestSupport
import Vision
@testable import CaptionServer

@Suite(.serialized) struct BatchingTests {
    @Test func concurrentRequestsShareModelRuns() async throws {
        let encoder = QuadrantEncoder()
        let server = try testServer({ $0.maxBatch = 8 }, encoder: encoder)
        let png = try fixtures.data("chelsea.png")
        // The first model run is held until the other requests are queued behind it, so they
        // certainly meet in one batch (no time window to hope they arrive within).
        encoder.hold()
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
                try await waitUntilQueued(6, encoder: encoder, server: server)
                encoder.release()
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

    @Test func aLoneRequestDoesNotWaitForCompany() async throws {
        // --max-wait-ms is how long a batch waits for others; with no other request in flight the
        // model starts at once.
        let server = try testServer({ $0.maxBatch = 8; $0.maxWait = .seconds(5) })
        let png = try fixtures.data("chelsea.png")
        try await server.application().test(.router) { client in
            for _ in 0..<2 {
                let response = try await client.execute(uri: "/v1/captions", method: .post,
                                                        headers: [.contentType: "image/png"], body: ByteBuffer(bytes: png))
                #expect(response.status == .ok)
                let timing = try #require(try json(response)["timing"] as? [String: Any])
                let queued = try #require(timing["queue_ms"] as? Double)
                #expect(queued < 1_000, "a lone request waited \(queued) ms for a batch")
            }
        }
    }

    @Test func batchedCaptionsEqualOneAtATime() async throws {
        // Batching must not change what the model says: same images alone and together.
        let jpeg = try fixtures.data("chelsea.jpg"), png = try fixtures.data("chelsea.png")
        func captions(maxBatch: Int) async throws -> [String] {
            // The first model run is held until all three images are queued: with maxBatch > 1 they
            // certainly share a batch.
            let encoder = QuadrantEncoder()
            let server = try testServer({ $0.maxBatch = maxBatch }, encoder: encoder)
            encoder.hold()
            let result = try await server.application().test(.router) { client in
                try await withThrowingTaskGroup(of: (Int, String).self) { group in
                    for (index, (data, type)) in [(jpeg, "image/jpeg"), (png, "image/png"), (jpeg, "image/jpeg")].enumerated() {
                        group.addTask {
                            let response = try await client.execute(uri: "/v1/captions?beam=2", method: .post,
                                                                    headers: [.contentType: type], body: ByteBuffer(bytes: data))
                            return (index, try #require(try json(response)["caption"] as? String))
                        }
                    }
                    try await waitUntilQueued(3, encoder: encoder, server: server)
                    encoder.release()
                    return try await group.reduce(into: [(Int, String)]()) { $0.append($1) }.sorted { $0.0 < $1.0 }.map(\.1)
                }
            }
            if maxBatch > 1 { #expect(encoder.batchSizes.max() ?? 0 > 1, "the images shared a batch: \(encoder.batchSizes)") }
            return result
        }
        #expect(try await captions(maxBatch: 1) == captions(maxBatch: 8))
    }
}

/// Waits until `count` images are in the model (its first run held by `encoder`) or queued behind it.
func waitUntilQueued(_ count: Int, encoder: QuadrantEncoder, server: CaptionServer) async throws {
    try await waitUntil("\(count) images are in the model or queued", seconds: 60) {
        encoder.isBlocked && (encoder.batchSizes.first ?? 0) + Int(gauge(server, "caption_queue_depth") ?? 0) == count
    }
}
