import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
import TestSupport
@testable import CaptionServer

/// Every refusal: the status, a JSON `{"error": …}` sentence, and the server still answering after.
@Suite(.serialized) struct LimitTests {
    func post(_ client: some TestClientProtocol, _ uri: String = "/v1/captions", type: String?, _ body: Data) async throws -> TestResponse {
        try await client.execute(uri: uri, method: .post, headers: type.map { [.contentType: $0] } ?? [:], body: ByteBuffer(bytes: body))
    }

    @Test func bodyOverTheLimitIs413() async throws {
        let server = try testServer { $0.maxBodyBytes = 4096 }
        let png = try fixtures.data("chelsea.png")
        #expect(png.count > 4096)
        try await server.application().test(.router) { client in
            let response = try await post(client, type: "image/png", png)
            #expect(response.status == .contentTooLarge)
            #expect(try errorMessage(response).contains("--max-body-mb"))
            #expect(try await post(client, type: "image/jpeg", try fixtures.data("chelsea.jpg")).status == .ok)
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
            let response = try await post(client, type: "image/jpeg", try fixtures.data("chelsea.jpg"))
            #expect(response.status == .contentTooLarge)
            #expect(try errorMessage(response).contains("--max-pixels"))
        }
    }

    @Test func unsupportedMediaTypesAre415() async throws {
        let server = try testServer()
        try await server.application().test(.router) { client in
            for type in ["text/plain", "image/gif", "application/json", nil] as [String?] {
                let response = try await post(client, type: type, try fixtures.data("chelsea.png"))
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
        let jpeg = try fixtures.data("chelsea.jpg"), png = try fixtures.data("chelsea.png")
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
        let png = try fixtures.data("chelsea.png")
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
        let png = try fixtures.data("chelsea.png")
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
        let png = try fixtures.data("chelsea.png")
        encoder.hold()
        try await server.application().test(.router) { client in
            let slow = try await post(client, type: "image/png", png)
            #expect(slow.status == .gatewayTimeout)
            #expect(try errorMessage(slow).contains("--timeout-s"))
            encoder.release()
            #expect(try await post(client, type: "image/png", png).status == .ok)
        }
    }

    /// Clients that declare a body and stall (SPEC §6's slow body) wait for their body under their own
    /// limits: they get 408 once --body-timeout-s passes, a complete request meanwhile gets its caption
    /// although there are more of them than the queue has places, and /metrics counts the 408s it sent.
    @Test func stalledUploadsGet408AndDoNotHoldTheQueue() async throws {
        let server = try testServer({ $0.queueCapacity = 2; $0.uploadCapacity = 8; $0.bodyTimeoutSeconds = 1 })
        let png = try fixtures.data("chelsea.png")
        try await server.application().test(.live) { client in
            let stalled = try await stalledUploads(5, to: server, port: try #require(client.port))
            let valid = try await post(client, type: "image/png", png)
            #expect(valid.status == .ok, "a complete request is served while slow uploads wait")
            for connection in stalled {
                let started = ContinuousClock.now
                let reply = try connection.readReply(seconds: 20)
                #expect(reply.hasPrefix("HTTP/1.1 408"), "after \(ContinuousClock.now - started): \(reply)")
                #expect(reply.contains("--body-timeout-s"), "\(reply)")
            }
            // A reply is counted once its write has completed, which may be just after the client has it.
            let counted = #"caption_http_requests_total{route="/v1/captions",status="408"} 5"#
            try await waitUntil("the five 408s are counted") { server.metrics.exposition().contains(counted) }
            let metrics = server.metrics.exposition()
            #expect(!metrics.contains(#"status="500""#) && !metrics.contains(#"status="504""#), "\(metrics)")
        }
    }

    @Test func uploadsOverTheirLimitAre503() async throws {
        let server = try testServer({ $0.uploadCapacity = 2; $0.bodyTimeoutSeconds = 2 })
        let png = try fixtures.data("chelsea.png")
        try await server.application().test(.live) { client in
            let stalled = try await stalledUploads(2, to: server, port: try #require(client.port))
            let refused = try await post(client, type: "image/png", png)
            #expect(refused.status == .serviceUnavailable && refused.headers[.retryAfter] == "1")
            #expect(try errorMessage(refused).contains("--max-uploads"))
            for connection in stalled { #expect(try connection.readReply(seconds: 20).hasPrefix("HTTP/1.1 408")) }
            #expect(try await post(client, type: "image/png", png).status == .ok, "the places are free again")
        }
    }
}

/// `count` clients that each declare a 1,000-byte image, send 3 bytes of it and stall, once the
/// server is receiving all of their bodies.
func stalledUploads(_ count: Int, to server: CaptionServer, port: Int) async throws -> [RawConnection] {
    let connections = try (0..<count).map { _ in try RawConnection(port: port) }
    for connection in connections {
        try connection.send("POST /v1/captions HTTP/1.1\r\nHost: localhost\r\nContent-Type: image/png\r\nContent-Length: 1000\r\n\r\nabc")
    }
    try await waitUntil("the \(count) stalled bodies are being received") { gauge(server, "caption_uploads_in_flight") == Double(count) }
    return connections
}

/// A gauge's value in the server's exposition, or nil when it is not there.
func gauge(_ server: CaptionServer, _ name: String) -> Double? {
    server.metrics.exposition().split(separator: "\n").first { $0.hasPrefix(name + " ") }
        .flatMap { Double($0.split(separator: " ").last ?? "") }
}

/// A plain TCP connection to the test server, for clients no HTTP library would be: ones that stall.
final class RawConnection {
    let fd: Int32

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        let connected = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
        guard connected else { close(fd); throw POSIXError(.ECONNREFUSED) }
    }

    deinit { close(fd) }

    func send(_ text: String) throws {
        let bytes = Array(text.utf8)
        guard Glibc.send(fd, bytes, bytes.count, 0) == bytes.count else { throw POSIXError(.EPIPE) }
    }

    /// Everything the server sends until it closes the connection or `seconds` pass.
    func readReply(seconds: Double) throws -> String {
        var timeout = timeval(tv_sec: Int(seconds), tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { break }
            received += buffer[0..<n]
            if let text = String(bytes: received, encoding: .utf8), let head = text.range(of: "\r\n\r\n"),
               let length = text[..<head.lowerBound].split(separator: "\r\n").first(where: { $0.lowercased().hasPrefix("content-length:") })
                   .flatMap({ Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) }),
               text.utf8.count - text.utf8.distance(from: text.startIndex, to: head.upperBound) >= length {
                break
            }
        }
        return String(decoding: received, as: UTF8.self)
    }
}
