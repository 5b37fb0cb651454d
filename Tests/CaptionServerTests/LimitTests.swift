import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
@testable import CaptionServer

/// Every refusal: the status, a JSON `{"error": …}` sentence, and the server still answering after.
@Suite(.serialized) struct LimitTests {
    func post(_ client: some TestClientProtocol, _ uri: String = "/v1/captions", type: String?, _ body: Data) async throws -> TestResponse {
        try await client.execute(uri: uri, method: .post, headers: type.map { [.contentType: $0] } ?? [:], body: ByteBuffer(bytes: body))
    }

    @Test func bodyOverTheLimitIs413() async throws {
        let server = try testServer { $0.maxBodyBytes = 4096 }
        let png = try fixture("chelsea.png")
        #expect(png.count > 4096)
        try await server.application().test(.router) { client in
            let response = try await post(client, type: "image/png", png)
            #expect(response.status == .contentTooLarge)
            #expect(try errorMessage(response).contains("--max-body-mb"))
            #expect(try await post(client, type: "image/jpeg", try fixture("chelsea.jpg")).status == .ok)
        }
    }

    @Test func declaredDimensionsOverThePixelLimitAre413() async throws {
        let server = try testServer()
        try await server.application().test(.router) { client in
            let bomb = try await post(client, type: "image/png", pngHeader(width: 100_000, height: 100_000))
            #expect(bomb.status == .contentTooLarge)
            #expect(try errorMessage(bomb).contains("100000×100000"))
        }
        let strict = try testServer { $0.maxPixels = 1000 }
        try await strict.application().test(.router) { client in
            let response = try await post(client, type: "image/jpeg", try fixture("chelsea.jpg"))
            #expect(response.status == .contentTooLarge)
            #expect(try errorMessage(response).contains("--max-pixels"))
        }
    }

    @Test func unsupportedMediaTypesAre415() async throws {
        let server = try testServer()
        try await server.application().test(.router) { client in
            for type in ["text/plain", "image/gif", "application/json", nil] as [String?] {
                let response = try await post(client, type: type, try fixture("chelsea.png"))
                #expect(response.status == .unsupportedMediaType, "Content-Type \(type ?? "none")")
                #expect(try errorMessage(response).contains("image/jpeg"))
            }
            let (body, multipartType) = multipart([("image", "a.gif", "image/gif", Data("GIF89a".utf8))])
            let gifPart = try await client.execute(uri: "/v1/captions", method: .post, headers: [.contentType: multipartType], body: body)
            #expect(gifPart.status == .unsupportedMediaType)
        }
    }

    @Test func corruptTruncatedAndEmptyImagesAre422() async throws {
        let server = try testServer()
        let jpeg = try fixture("chelsea.jpg"), png = try fixture("chelsea.png")
        var generator = SystemRandomNumberGenerator()
        let noise = Data((0..<2000).map { _ in UInt8.random(in: 0...255, using: &generator) })
        let cases: [(String, String, Data)] = [
            ("random bytes", "image/png", noise),
            ("truncated JPEG", "image/jpeg", jpeg.prefix(jpeg.count / 2)),
            ("truncated PNG", "image/png", png.prefix(png.count / 2)),
            ("zero bytes", "image/jpeg", Data()),
            ("a PNG header only", "image/png", pngHeader(width: 10, height: 10)),
        ]
        try await server.application().test(.router) { client in
            for (what, type, data) in cases {
                let response = try await post(client, type: type, data)
                #expect(response.status == .unprocessableContent, "\(what)")
                let message = try errorMessage(response)
                #expect(message.hasPrefix("The uploaded image"), "\(what): \(message)")
            }
            #expect(try await post(client, type: "image/png", png).status == .ok, "still serving after garbage")
        }
    }

    @Test func badOptionsAre400() async throws {
        let server = try testServer()
        let png = try fixture("chelsea.png")
        try await server.application().test(.router) { client in
            for query in ["beam=0", "beam=abc", "beam=11", "max_words=0", "max_words=1000", "attention=maybe", "temperature=2"] {
                let response = try await post(client, "/v1/captions?\(query)", type: "image/png", png)
                #expect(response.status == .badRequest, "\(query)")
                let message = try errorMessage(response)
                #expect(!message.isEmpty)
            }
            let (badJSON, type) = multipart([("options", nil, "application/json", Data("{beam: 3".utf8)),
                                             ("image", "a.png", "image/png", png)])
            #expect(try await client.execute(uri: "/v1/captions", method: .post, headers: [.contentType: type], body: badJSON).status == .badRequest)
            let (noImage, type2) = multipart([("beam", nil, nil, Data("2".utf8))])
            let missing = try await client.execute(uri: "/v1/captions", method: .post, headers: [.contentType: type2], body: noImage)
            #expect(missing.status == .badRequest)
            #expect(try errorMessage(missing).contains("no image part"))
            let noBoundary = try await post(client, type: "multipart/form-data", png)
            #expect(noBoundary.status == .badRequest)
            let garbage = try await post(client, type: "multipart/form-data; boundary=zz", Data("nothing like a multipart body".utf8))
            #expect(garbage.status == .badRequest)
        }
    }

    @Test func fullQueueIs503WithRetryAfter() async throws {
        let encoder = QuadrantEncoder()
        let server = try testServer({ $0.queueCapacity = 1 }, encoder: encoder)
        let png = try fixture("chelsea.png")
        encoder.hold()
        try await server.application().test(.router) { client in
            async let first = post(client, type: "image/png", png)
            try await waitUntil("the first request is inside the model") { encoder.isBlocked }
            let refused = try await post(client, type: "image/png", png)
            #expect(refused.status == .serviceUnavailable)
            #expect(refused.headers[.retryAfter] == "1")
            #expect(try errorMessage(refused).contains("busy"))
            encoder.release()
            #expect(try await first.status == .ok)
            #expect(try await post(client, type: "image/png", png).status == .ok, "the slot is free again")
        }
    }

    @Test func requestOverTheTimeoutIs504AndOthersGoOn() async throws {
        let encoder = QuadrantEncoder()
        let server = try testServer({ $0.timeoutSeconds = 0.3 }, encoder: encoder)
        let png = try fixture("chelsea.png")
        encoder.hold()
        try await server.application().test(.router) { client in
            let slow = try await post(client, type: "image/png", png)
            #expect(slow.status == .gatewayTimeout)
            #expect(try errorMessage(slow).contains("--timeout-s"))
            encoder.release()
            #expect(try await post(client, type: "image/png", png).status == .ok)
        }
    }
}
