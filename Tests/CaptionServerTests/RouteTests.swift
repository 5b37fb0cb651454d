import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
import TestSupport
@testable import CaptionServer

/// Every route answering as documented, in process.
@Suite(.serialized) struct RouteTests {
    @Test func healthzDescribesTheModel() async throws {
        let server = try testServer()
        try await server.application().test(.router) { client in
            try await client.execute(uri: "/healthz", method: .get) { response in
                #expect(response.status == .ok)
                let body = try json(response)
                #expect(body["status"] as? String == "ok")
                #expect(body["architecture"] as? String == "soft-attention-gru")
                #expect(body["attention"] as? Bool == true)
                #expect(body["max_batch"] as? Int == 8)
            }
        }
    }

    @Test func webPageIsSelfContained() async throws {
        let server = try testServer()
        try await server.application().test(.router) { client in
            try await client.execute(uri: "/", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType]?.hasPrefix("text/html") == true)
                let page = String(buffer: response.body)
                #expect(page.contains("<canvas") && page.contains("/v1/captions") && page.contains("type=\"file\""))
                // No external assets: nothing loaded from another origin.
                #expect(!page.contains("src=\"http") && !page.contains("href=\"http") && !page.contains("@import"))
            }
        }
    }

    @Test func rawPNGGetsACaptionAlternativesAndTimings() async throws {
        let server = try testServer()
        try await server.application().test(.router) { client in
            try await client.execute(uri: "/v1/captions?beam=3&max_words=6", method: .post, headers: [.contentType: "image/png"],
                                     body: ByteBuffer(bytes: try fixtures.data("chelsea.png"))) { response in
                #expect(response.status == .ok)
                let body = try json(response)
                let caption = try #require(body["caption"] as? String)
                #expect(caption.split(separator: " ").count <= 6)
                let alternatives = try #require(body["alternatives"] as? [[String: Any]])
                #expect((1...3).contains(alternatives.count))
                #expect(alternatives.first?["caption"] as? String == caption)
                let scores = alternatives.compactMap { $0["score"] as? Double }
                #expect(scores == scores.sorted(by: >), "alternatives come best first")
                #expect(body["attention"] == nil, "attention only when asked")
                let timing = try #require(body["timing"] as? [String: Any])
                for key in ["read_ms", "image_ms", "queue_ms", "encode_ms", "decode_ms", "total_ms"] {
                    #expect((timing[key] as? Double).map { $0 >= 0 } == true, "timing.\(key)")
                }
                #expect(timing["batch_size"] as? Int == 1)
            }
        }
    }

    @Test func rawJPEGWithAttentionGetsOneGridPerWord() async throws {
        let server = try testServer()
        try await server.application().test(.router) { client in
            try await client.execute(uri: "/v1/captions?attention=true&beam=1", method: .post, headers: [.contentType: "image/jpeg"],
                                     body: ByteBuffer(bytes: try fixtures.data("chelsea.jpg"))) { response in
                #expect(response.status == .ok)
                let body = try json(response)
                let caption = try #require(body["caption"] as? String)
                #expect((body["alternatives"] as? [Any])?.count == 1, "beam 1 decodes greedily: one caption")
                let attention = try #require(body["attention"] as? [String: Any])
                #expect(attention["rows"] as? Int == 2 && attention["columns"] as? Int == 2)
                let words = try #require(attention["words"] as? [[String: Any]])
                #expect(words.map { $0["word"] as? String ?? "" }.joined(separator: " ") == caption)
                for word in words {
                    let grid = try #require(word["grid"] as? [[Double]])
                    #expect(grid.count == 2 && grid.allSatisfy { $0.count == 2 })
                    #expect(abs(grid.joined().reduce(0, +) - 1) < 1e-4, "attention weights sum to one")
                }
            }
        }
    }

    @Test func adaptiveAttentionRepliesCarryTheSentinel() async throws {
        // <end> made impossible, so the caption has exactly max_words words to check.
        let server = try testServer(architecture: .adaptiveAttentionGRU, neverEnding: true)
        try await server.application().test(.router) { client in
            try await client.execute(uri: "/v1/captions?attention=1&beam=2&max_words=4", method: .post, headers: [.contentType: "image/png"],
                                     body: ByteBuffer(bytes: try fixtures.data("chelsea.png"))) { response in
                #expect(response.status == .ok)
                let attention = try #require(try json(response)["attention"] as? [String: Any])
                let words = try #require(attention["words"] as? [[String: Any]])
                #expect(words.count == 4)
                for word in words {
                    let beta = try #require(word["sentinel"] as? Double)
                    #expect((0...1).contains(beta))
                }
            }
        }
    }

    @Test func showTellHasNoAttentionToReturn() async throws {
        let server = try testServer(architecture: .showTellGRU)
        try await server.application().test(.router) { client in
            try await client.execute(uri: "/v1/captions?attention=true", method: .post, headers: [.contentType: "image/png"],
                                     body: ByteBuffer(bytes: try fixtures.data("chelsea.png"))) { response in
                #expect(response.status == .ok)
                let body = try json(response)
                #expect(body["caption"] is String)
                #expect(body["attention"] == nil)
            }
        }
    }

    @Test func multipartUploadWithJSONOptions() async throws {
        let server = try testServer()
        let (body, type) = multipart([
            ("options", nil, "application/json", Data(#"{"beam": 1, "max_words": 3, "attention": true}"#.utf8)),
            ("image", "chelsea.png", "image/png", try fixtures.data("chelsea.png")),
        ])
        try await server.application().test(.router) { client in
            try await client.execute(uri: "/v1/captions", method: .post, headers: [.contentType: type], body: body) { response in
                #expect(response.status == .ok)
                let reply = try json(response)
                #expect((reply["alternatives"] as? [Any])?.count == 1)
                #expect(((reply["caption"] as? String)?.split(separator: " ").count ?? 99) <= 3)
                #expect(reply["attention"] is [String: Any])
            }
        }
    }

    @Test func multipartFormFieldsOverrideTheQuery() async throws {
        let server = try testServer()
        let (body, type) = multipart([
            ("beam", nil, nil, Data("1".utf8)),
            ("file", "photo.jpg", "image/jpeg", try fixtures.data("chelsea.jpg")),
        ])
        try await server.application().test(.router) { client in
            try await client.execute(uri: "/v1/captions?beam=4", method: .post, headers: [.contentType: type], body: body) { response in
                #expect(response.status == .ok)
                let alternatives = try json(response)["alternatives"] as? [Any]
                #expect(alternatives?.count == 1)
            }
        }
    }

    @Test func metricsCountRequestsByRouteAndStatus() async throws {
        let server = try testServer()
        try await server.application().test(.router) { client in
            try await client.execute(uri: "/v1/captions", method: .post, headers: [.contentType: "image/png"],
                                     body: ByteBuffer(bytes: try fixtures.data("chelsea.png")))
            try await client.execute(uri: "/v1/captions", method: .post, headers: [.contentType: "text/plain"], body: ByteBuffer(string: "hi"))
            try await client.execute(uri: "/no/such/thing", method: .get)
            try await client.execute(uri: "/metrics", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType]?.hasPrefix("text/plain") == true)
                let text = String(buffer: response.body)
                #expect(text.contains(#"caption_http_requests_total{route="/v1/captions",status="200"} 1"#))
                #expect(text.contains(#"caption_http_requests_total{route="/v1/captions",status="415"} 1"#))
                #expect(text.contains(#"caption_http_requests_total{route="unmatched",status="404"} 1"#))
                #expect(text.contains(#"caption_http_request_duration_seconds_bucket{route="/v1/captions",le="+Inf"} 2"#))
                #expect(text.contains("caption_batch_size_count 1"))
                #expect(text.contains("caption_queue_depth 0.0"))
            }
        }
    }

    @Test func unknownRoutesAndMethodsAnswerJSON() async throws {
        let server = try testServer()
        try await server.application().test(.router) { client in
            try await client.execute(uri: "/v2/whatever", method: .get) { response in
                #expect(response.status == .notFound)
                let message = try errorMessage(response)
                #expect(message.contains("POST /v1/captions"))
            }
            try await client.execute(uri: "/v1/captions", method: .get) { response in
                #expect(response.status.code == 404 || response.status.code == 405)
                let message = try errorMessage(response)
                #expect(!message.isEmpty)
            }
        }
    }
}
