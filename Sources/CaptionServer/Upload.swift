import Foundation
import Hummingbird

/// The image bytes of a `POST /v1/captions` and the options that came inside the body.
struct Upload: Sendable {
    var image: Data
    /// Options given as multipart form fields, in order.
    var fields: [(name: String, value: String)] = []
    /// An `options` part holding JSON.
    var optionsJSON: Data?

    static let imageTypes: Set<String> = ["image/jpeg", "image/jpg", "image/pjpeg", "image/png"]

    /// Reads the body (never more than `maxBytes`, refusing at once when Content-Length says it is
    /// larger) and takes the image out of it according to its Content-Type.
    static func read(_ request: Request, maxBytes: Int) async throws -> Upload {
        let contentType = request.headers[.contentType]
        let mediaType = contentType.map(MediaType.init)
        guard let mediaType, imageTypes.contains(mediaType.type) || mediaType.type == "multipart/form-data" else {
            throw ServerError.unsupportedMediaType(contentType)
        }
        if let declared = request.headers[.contentLength].flatMap({ Int($0) }), declared > maxBytes {
            throw ServerError.bodyTooLarge(limit: maxBytes)
        }
        let body = try await collect(request.body, maxBytes: maxBytes)
        if mediaType.type != "multipart/form-data" { return Upload(image: body) }
        guard let boundary = mediaType.parameters["boundary"], !boundary.isEmpty else {
            throw ServerError.badOption("The multipart/form-data Content-Type has no boundary parameter: let the HTTP client build the multipart body.")
        }
        return try fromMultipart(body, boundary: boundary)
    }

    private static func collect(_ body: RequestBody, maxBytes: Int) async throws -> Data {
        var data = Data()
        for try await chunk in body {
            guard data.count + chunk.readableBytes <= maxBytes else { throw ServerError.bodyTooLarge(limit: maxBytes) }
            data.append(contentsOf: chunk.readableBytesView)
        }
        return data
    }

    /// The image part (the first part with a file name, or named `image` or `file`) and the option fields.
    static func fromMultipart(_ body: Data, boundary: String) throws -> Upload {
        let parts = try MultipartParser.parts(of: body, boundary: boundary)
        var upload = Upload(image: Data())
        var foundImage = false
        for part in parts {
            let isImage = part.filename != nil || part.name == "image" || part.name == "file"
            if isImage && !foundImage {
                if let type = part.contentType.map(MediaType.init)?.type,
                   !imageTypes.contains(type) && type != "application/octet-stream" {
                    throw ServerError.unsupportedMediaType(type)
                }
                upload.image = part.content
                foundImage = true
            } else if part.name == "options" {
                upload.optionsJSON = part.content
            } else if let name = part.name {
                upload.fields.append((name, String(decoding: part.content, as: UTF8.self)))
            }
        }
        guard foundImage else {
            throw ServerError.badOption("The multipart body has no image part: add a file field named image.")
        }
        return upload
    }
}

/// A Content-Type split into its lowercased type and its parameters.
struct MediaType {
    let type: String
    let parameters: [String: String]

    init(_ header: String) {
        let pieces = header.split(separator: ";", omittingEmptySubsequences: false)
        type = pieces.first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
        var parameters: [String: String] = [:]
        for piece in pieces.dropFirst() {
            guard let equals = piece.firstIndex(of: "=") else { continue }
            let key = piece[..<equals].trimmingCharacters(in: .whitespaces).lowercased()
            var value = piece[piece.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            if value.count >= 2 && value.hasPrefix("\"") && value.hasSuffix("\"") { value = String(value.dropFirst().dropLast()) }
            parameters[key] = value
        }
        self.parameters = parameters
    }
}

/// A minimal RFC 7578 multipart/form-data reader: enough for browsers, curl and HTTP libraries.
enum MultipartParser {
    struct Part {
        var name: String?
        var filename: String?
        var contentType: String?
        var content: Data
    }

    /// Refuses more parts than any captioning request needs, so a hostile body cannot make many.
    static let maxParts = 16

    static func parts(of body: Data, boundary: String) throws -> [Part] {
        let malformed = ServerError.badOption("The multipart body is malformed (its parts do not follow the boundary): let the HTTP client build it.")
        let delimiter = Data("--\(boundary)".utf8)
        let separator = Data("\r\n\r\n".utf8)
        guard var cursor = body.range(of: delimiter)?.upperBound else { throw malformed }
        var parts: [Part] = []
        while true {
            // After a delimiter: "--" closes the body, CRLF starts a part.
            let rest = body[cursor...]
            if rest.starts(with: Data("--".utf8)) { return parts }
            guard rest.starts(with: Data("\r\n".utf8)) else { throw malformed }
            let headerStart = cursor + 2
            guard let headerEnd = body.range(of: separator, in: headerStart..<body.endIndex) else { throw malformed }
            guard let next = body.range(of: Data("\r\n".utf8) + delimiter, in: headerEnd.upperBound..<body.endIndex) else { throw malformed }
            var part = Part(content: body.subdata(in: headerEnd.upperBound..<next.lowerBound))
            let headers = String(decoding: body[headerStart..<headerEnd.lowerBound], as: UTF8.self)
            for line in headers.components(separatedBy: "\r\n") {
                guard let colon = line.firstIndex(of: ":") else { continue }
                let name = line[..<colon].trimmingCharacters(in: .whitespaces).lowercased()
                let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                if name == "content-type" { part.contentType = value }
                if name == "content-disposition" {
                    let disposition = MediaType(value)
                    part.name = disposition.parameters["name"]
                    part.filename = disposition.parameters["filename"]
                }
            }
            parts.append(part)
            guard parts.count <= maxParts else {
                throw ServerError.badOption("The multipart body has more than \(maxParts) parts: send the image and at most a few option fields.")
            }
            cursor = next.upperBound
        }
    }
}
