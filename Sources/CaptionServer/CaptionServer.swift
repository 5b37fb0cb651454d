import Captioner
import Captioning
import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Vision

/// The captioning service: routes and limits around a `Captioner`, which batches the requests
/// through one model and its encoder. The caller loads both (the CLI from files, tests from
/// whatever they build) and hands them in.
///
///     let server = try CaptionServer(model: model, encoder: encoder, configuration: configuration, logger: logger)
///     try await server.application().runService()
public final class CaptionServer: Sendable {
    public let configuration: ServerConfiguration
    public let metrics: ServerMetrics
    public let captioner: Captioner
    private let logger: Logger
    private let admission: Admission
    private let uploads: Admission
    private let health: HealthReply

    public init(model: CaptionModel, encoder: FeatureEncoder, configuration: ServerConfiguration = ServerConfiguration(),
                logger: Logger) throws {
        guard configuration.maxBatch >= 1, configuration.queueCapacity >= 1, configuration.uploadCapacity >= 1, configuration.maxBodyBytes >= 1,
              configuration.maxPixels >= 1, configuration.timeoutSeconds > 0, configuration.bodyTimeoutSeconds > 0 else {
            throw ServerError(.internalServerError, "Batch size, queue, uploads, body limit, pixel limit and both timeouts must all be positive.")
        }
        self.configuration = configuration
        self.logger = logger
        let metrics = ServerMetrics()
        self.metrics = metrics
        let admission = Admission(capacity: configuration.queueCapacity, refusal: .busy, report: { [metrics] in metrics.setInFlight($0) })
        let uploads = Admission(capacity: configuration.uploadCapacity, refusal: .tooManyUploads, report: { [metrics] in metrics.setUploads($0) })
        self.admission = admission
        self.uploads = uploads
        // Every request is uploading, admitted (preparing its image or queued) or answered: when all
        // that are in flight are queued, no other can join the batch, so the captioner need not wait.
        let options = Captioner.Options(beam: configuration.defaultBeam, maxWords: configuration.defaultMaxWords,
                                        maxPixels: configuration.maxPixels, maxBatch: configuration.maxBatch,
                                        maxWait: configuration.maxWait, concurrentDecodes: configuration.concurrentDecodes)
        do {
            self.captioner = try Captioner(model: model, encoder: encoder, options: options, observer: metrics,
                                           requestsInFlight: { admission.count + uploads.count }, logger: logger)
        } catch let error as CaptionerError {
            throw ServerError(.internalServerError, error.description)
        }
        self.health = HealthReply(status: "ok", architecture: model.metadata.decoder.architecture.rawValue,
                                  encoder: model.metadata.encoder.name, vocabulary: model.metadata.vocabulary.count,
                                  attention: model.metadata.decoder.architecture.usesGrid, maxBatch: configuration.maxBatch)
    }

    /// The Hummingbird application: the HTTP server plus the captioner as a service, so SIGTERM/SIGINT
    /// stop accepting, let in-flight requests finish, then finish the captioner.
    public func application(onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }) -> some ApplicationProtocol {
        Application(router: router(),
                    server: .http1(configuration: .init(idleTimeout: .seconds(Int64(configuration.timeoutSeconds.rounded(.up))))),
                    configuration: ApplicationConfiguration(address: .hostname(configuration.host, port: configuration.port),
                                                            serverName: "caption"),
                    services: [CaptionerService(captioner: captioner)],
                    onServerRunning: onServerRunning,
                    logger: logger)
    }

    /// Runs `application(onServerRunning:)` until SIGTERM/SIGINT; a port that cannot be bound is
    /// one sentence naming it, not NIO's `bind(descriptor:ptr:bytes:)` error.
    public func run(onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }) async throws {
        do {
            try await application(onServerRunning: onServerRunning).runService()
        } catch let error as IOError where [EADDRINUSE, EACCES, EADDRNOTAVAIL].contains(error.errnoCode) {
            let address = "\(configuration.host):\(configuration.port)"
            switch error.errnoCode {
            case EADDRINUSE: throw ServerStartError(description: "cannot listen on \(address): the port is already in use (another server?); choose another --port, or --port 0 for a free one.")
            case EACCES: throw ServerStartError(description: "cannot listen on \(address): ports below 1024 need root; choose a --port of 1024 or more.")
            default: throw ServerStartError(description: "cannot listen on \(address): this machine has no such address; give --host an address of this machine, such as 127.0.0.1.")
            }
        }
    }

    public func router() -> Router<BasicRequestContext> {
        let router = Router<BasicRequestContext>()
        router.add(middleware: MetricsAndErrorsMiddleware(metrics: metrics))
        router.get("/") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-cache"],
                     body: ResponseBody(byteBuffer: ByteBuffer(string: WebPage.html)))
        }
        router.get("/healthz") { [health] _, _ in
            Self.json(try CaptionReply.encoder.encode(health))
        }
        router.get("/metrics") { [metrics] _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                     body: ResponseBody(byteBuffer: ByteBuffer(string: metrics.exposition())))
        }
        router.post("/v1/captions") { [self] request, _ in
            try await caption(request)
        }
        return router
    }

    private func caption(_ request: Request) async throws -> Response {
        let received = ContinuousClock.now
        let defaults = CaptionOptions(beam: configuration.defaultBeam, maxWords: configuration.defaultMaxWords, attention: false)
        // Bad query options are refused before the body is read or a queue slot is taken.
        let queryOptions = try defaults.applying(request.uri.queryParameters.map { (name: String($0.key), value: String($0.value)) },
                                                 limits: configuration)
        // The body is received first, under its own limits, and only a complete request takes a
        // place in the model's queue: slow or stalled uploads cannot keep other clients out.
        let bodyLimit = min(configuration.bodyTimeoutSeconds, configuration.timeoutSeconds)
        let upload = try await uploads.withSlot { [configuration] in
            try await Self.withTimeout(bodyLimit, else: ServerError.bodyTimedOut(after: bodyLimit)) {
                try await Upload.read(request, maxBytes: configuration.maxBodyBytes)
            }
        }
        let read = ContinuousClock.now
        let remaining = configuration.timeoutSeconds - Double((read - received).milliseconds) / 1000
        return try await admission.withSlot {
            try await Self.withTimeout(remaining, else: ServerError.timedOut(after: configuration.timeoutSeconds)) { [self] in
                var options = queryOptions
                if let json = upload.optionsJSON { options = try options.applying(json: json, limits: configuration) }
                options = try options.applying(upload.fields, limits: configuration)
                let caption: Caption
                do {
                    caption = try await captioner.caption(imageData: upload.image, name: "The uploaded image",
                                                          beam: options.beam, maxWords: options.maxWords)
                } catch let error as CaptionerError {
                    throw ServerError(error)
                }
                let timing = caption.timing
                return try reply(caption, options: options, timing: CaptionReply.Timing(
                    readMs: (read - received).milliseconds, imageMs: timing.image.milliseconds,
                    queueMs: timing.queue.milliseconds, encodeMs: timing.encode.milliseconds,
                    decodeMs: timing.decode.milliseconds, totalMs: (ContinuousClock.now - received).milliseconds,
                    batchSize: timing.batchSize))
            }
        }
    }

    private func reply(_ caption: Caption, options: CaptionOptions, timing: CaptionReply.Timing) throws -> Response {
        Self.json(try CaptionReply.encoder.encode(CaptionReply(caption, attention: options.attention, timing: timing)))
    }

    static func json(_ data: Data) -> Response {
        Response(status: .ok, headers: [.contentType: "application/json; charset=utf-8"],
                 body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// Runs `operation`, or throws `timeout` once `seconds` have passed. On time-out the operation is
    /// cancelled and awaited: reading the body, waiting for a decoding slot and waiting in the
    /// model's queue all stop at cancellation, and the connection's body stream is never left with
    /// a reader behind the server's back.
    static func withTimeout<T: Sendable>(_ seconds: Double, else timeout: ServerError,
                                         _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await operation() }
            group.addTask {
                try await Task.sleep(for: .milliseconds(Int64(max(seconds, 0) * 1000)))
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let value = first else { throw timeout }
            return value
        }
    }
}

/// The captioner as a service of the application: once the HTTP server has drained (it shuts down
/// first), the captioner finishes whatever is still queued.
struct CaptionerService: Service {
    let captioner: Captioner
    func run() async throws {
        try? await gracefulShutdown()
        await captioner.finish()
    }
}

/// Why the server could not start listening, as one sentence with the fix.
public struct ServerStartError: Error, CustomStringConvertible {
    public let description: String
}

/// `GET /healthz`: the service is up, and what it serves.
struct HealthReply: Encodable, Sendable {
    var status, architecture, encoder: String
    var vocabulary: Int
    var attention: Bool
    var maxBatch: Int
}
