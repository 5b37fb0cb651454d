import CaptionData
import CaptionServer
import Captioning
import Foundation
import Hummingbird
import HummingbirdTesting
import Layers
import Logging
import TensorCore
import Testing
import TestSupport
import Vision

func testServer(_ configure: (inout ServerConfiguration) -> Void = { _ in }, encoder: QuadrantEncoder = QuadrantEncoder(),
                architecture: Architecture = .softAttentionGRU, neverEnding: Bool = false) throws -> CaptionServer {
    var configuration = ServerConfiguration()
    configuration.maxWait = .milliseconds(2)
    configure(&configuration)
    return try CaptionServer(model: try tinyModel(architecture, neverEnding: neverEnding), encoder: encoder, configuration: configuration,
                             logger: Logger(label: "caption-server-tests"))
}

/// The committed fixtures of this test target.
let fixtures = Fixtures(bundle: .module)

func json(_ response: TestResponse) throws -> [String: Any] {
    let object = try JSONSerialization.jsonObject(with: Data(buffer: response.body))
    return try #require(object as? [String: Any], "not a JSON object: \(String(buffer: response.body))")
}

/// The `error` sentence of a refusal, after checking it is JSON with exactly that one key.
func errorMessage(_ response: TestResponse) throws -> String {
    let body = try json(response)
    #expect(Array(body.keys) == ["error"], "error replies hold only the error sentence")
    #expect(response.headers[.contentType]?.hasPrefix("application/json") == true)
    return try #require(body["error"] as? String)
}

/// A multipart/form-data body with the given parts.
func multipart(_ parts: [(name: String, filename: String?, contentType: String?, content: Data)], boundary: String = "XyZzy-boundary")
    -> (body: ByteBuffer, contentType: String) {
    var data = Data()
    for part in parts {
        data += Data("--\(boundary)\r\n".utf8)
        var disposition = "Content-Disposition: form-data; name=\"\(part.name)\""
        if let filename = part.filename { disposition += "; filename=\"\(filename)\"" }
        data += Data("\(disposition)\r\n".utf8)
        if let type = part.contentType { data += Data("Content-Type: \(type)\r\n".utf8) }
        data += Data("\r\n".utf8) + part.content + Data("\r\n".utf8)
    }
    data += Data("--\(boundary)--\r\n".utf8)
    return (ByteBuffer(bytes: data), "multipart/form-data; boundary=\(boundary)")
}

