import Captioner
import Foundation
import Hummingbird
import Prometheus

/// The service's Prometheus metrics, in a registry of its own (never the process-wide
/// MetricsSystem), so several servers, e.g. in tests, each count only their own requests.
public final class ServerMetrics: BatchObserver {
    public let registry = PrometheusCollectorRegistry()
    private let batchSizes: ValueHistogram
    private let queueDepth: Gauge
    private let inFlight: Gauge
    private let uploads: Gauge
    private let inference: DurationHistogram

    /// The route labels; every other path is counted as "unmatched".
    static let routes: Set<String> = ["/", "/healthz", "/metrics", "/v1/captions"]

    static let latencyBuckets: [Duration] = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 30000].map { .milliseconds($0) }

    public init() {
        batchSizes = registry.makeValueHistogram(
            descriptor: Self.name("batch", "size", "Images encoded and decoded together per model run."),
            buckets: [1, 2, 4, 8, 16, 32, 64])
        queueDepth = registry.makeGauge(descriptor: Self.name("queue", "depth", "Images waiting for the model."))
        inFlight = registry.makeGauge(descriptor: Self.name("requests_in", "flight", "Captioning requests admitted to the model's queue and not yet answered."))
        uploads = registry.makeGauge(descriptor: Self.name("uploads_in", "flight", "Request bodies being received."))
        inference = registry.makeDurationHistogram(
            descriptor: Self.name("batch_duration", "seconds", "Time to encode and decode one batch."),
            buckets: Self.latencyBuckets)
    }

    private static func name(_ metric: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "caption", metricName: metric, unitName: unit, helpText: help)
    }

    func recordRequest(route: String, status: Int, duration: Duration) {
        registry.makeCounter(descriptor: Self.name("http_requests", "total", "HTTP requests by route and status."),
                             labels: [("route", route), ("status", String(status))]).increment()
        registry.makeDurationHistogram(descriptor: Self.name("http_request_duration", "seconds", "HTTP request latency by route."),
                                       labels: [("route", route)], buckets: Self.latencyBuckets).record(duration)
    }

    public func recordBatch(size: Int, duration: Duration) {
        batchSizes.record(Double(size))
        inference.record(duration)
    }

    public func setQueueDepth(_ depth: Int) { queueDepth.set(Double(depth)) }
    func setInFlight(_ count: Int) { inFlight.set(Double(count)) }
    func setUploads(_ count: Int) { uploads.set(Double(count)) }

    /// The Prometheus text exposition of every metric.
    public func exposition() -> String { registry.emitToString() }
}

/// Counts every reply by route and status once it has been sent, and times it; a client that went
/// away before its reply was written is not counted. Errors thrown by handlers (and the router's
/// own 404/405) become JSON `{"error": …}` replies here.
struct MetricsAndErrorsMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: ServerMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        var response: Response
        do {
            response = try await next(request, context)
        } catch {
            response = Self.jsonError(for: error)
        }
        // One of the service's routes or "unmatched", never the raw path, so garbage URLs cannot grow the label set.
        let route = context.endpointPath.flatMap { ServerMetrics.routes.contains($0) ? $0 : nil } ?? "unmatched"
        let (status, body, metrics) = (response.status.code, response.body, metrics)
        response.body = ResponseBody(contentLength: body.contentLength) { writer in
            try await body.write(writer)
            metrics.recordRequest(route: route, status: status, duration: ContinuousClock.now - start)
        }
        return response
    }

    static func jsonError(for error: Error) -> Response {
        if let error = error as? ServerError { return error.jsonResponse }
        if let error = error as? HTTPResponseError {
            let message: String
            switch error.status.code {
            case 404: message = "No such route: the routes are GET /, GET /healthz, GET /metrics and POST /v1/captions."
            case 405: message = "That method is not allowed on this route: captions are POST /v1/captions, the rest are GET."
            default: message = "The request failed with status \(error.status.code) (\(error.status.reasonPhrase)): check the request against GET / or the README."
            }
            return ServerError(error.status, message).jsonResponse
        }
        return ServerError.internalFailure(error).jsonResponse
    }
}
