import Captioner
import Foundation
import Hummingbird

/// A request the service refuses or could not finish: an HTTP status and one plain sentence with the
/// fix, sent as `{"error": "…"}`. Every refusal of the service goes through this type, so clients
/// always get JSON, whatever went wrong.
public struct ServerError: Error, Sendable, CustomStringConvertible, HTTPResponseError {
    public let status: HTTPResponse.Status
    public let message: String
    /// Seconds a client should wait before retrying (sent as `Retry-After`), for 503s.
    public let retryAfterSeconds: Int?

    public init(_ status: HTTPResponse.Status, _ message: String, retryAfterSeconds: Int? = nil) {
        self.status = status
        self.message = message
        self.retryAfterSeconds = retryAfterSeconds
    }

    public var description: String { "\(status.code) \(message)" }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        jsonResponse
    }

    var jsonResponse: Response {
        var headers: HTTPFields = [.contentType: "application/json; charset=utf-8"]
        if let retryAfterSeconds { headers[.retryAfter] = String(retryAfterSeconds) }
        let body = (try? JSONEncoder().encode(["error": message])) ?? Data(#"{"error":"internal error"}"#.utf8)
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
    }
}

extension ServerError {
    static func bodyTooLarge(limit: Int) -> ServerError {
        ServerError(.contentTooLarge, "The upload is larger than the \(megabytes(limit)) MB limit: send a smaller image, or start the server with a larger --max-body-mb.")
    }

    /// The status a captioner's refusal gets: its sentence, as the CLI prints it.
    init(_ error: CaptionerError) {
        switch error.kind {
        case .tooManyPixels: self.init(.contentTooLarge, error.description)
        case .unreadableImage: self.init(.unprocessableContent, error.description)
        case .option: self.init(.badRequest, error.description)
        case .shuttingDown: self = .shuttingDown
        case .model, .encoderWeights, .modelFailure: self.init(.internalServerError, error.description)
        }
    }

    static func unsupportedMediaType(_ given: String?) -> ServerError {
        let what = given.map { "Content-Type \($0) is not accepted" } ?? "The request has no Content-Type"
        return ServerError(.unsupportedMediaType, "\(what): send the image as image/jpeg or image/png, or as multipart/form-data with an image part.")
    }

    static func badOption(_ message: String) -> ServerError {
        ServerError(.badRequest, message)
    }

    static let busy = ServerError(.serviceUnavailable, "The server is busy (its queue is full): retry after the number of seconds in Retry-After.", retryAfterSeconds: 1)

    static let tooManyUploads = ServerError(.serviceUnavailable, "The server is receiving as many uploads as it accepts at once (--max-uploads): retry after the number of seconds in Retry-After.", retryAfterSeconds: 1)

    static func bodyTimedOut(after seconds: Double) -> ServerError {
        ServerError(.requestTimeout, "The request body did not arrive within \(formatted(seconds)) s: send the whole body at once, or start the server with a larger --body-timeout-s.")
    }

    static let shuttingDown = ServerError(.serviceUnavailable, "The server is shutting down: retry on another instance or after it restarts.", retryAfterSeconds: 5)

    static func timedOut(after seconds: Double) -> ServerError {
        ServerError(.gatewayTimeout, "The request took longer than the \(formatted(seconds)) s limit: retry, send a smaller image, or start the server with a larger --timeout-s.")
    }

    static func internalFailure(_ error: Error) -> ServerError {
        ServerError(.internalServerError, "Captioning failed inside the server (\(error)): report this with the image that caused it.")
    }

    private static func megabytes(_ bytes: Int) -> String { formatted(Double(bytes) / 1_048_576) }

    static func formatted(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(format: "%.1f", value)
    }
}
