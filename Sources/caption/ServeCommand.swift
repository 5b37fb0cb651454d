import ArgumentParser
import CaptionServer
import Captioning
import Foundation
import Hummingbird
import Logging
import Vision

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve a model over HTTP: POST /v1/captions, GET /healthz, GET /metrics and a web page at /.",
        discussion: """
        POST an image as the raw body (Content-Type image/jpeg or image/png) or as multipart/form-data with a \
        file field named image; options beam, max_words and attention go in the query string or in the form. \
        Concurrent requests are batched through the encoder and decoder (--max-batch, --max-wait-ms). Errors are \
        JSON {"error": "…"} with 400, 408 (body slower than --body-timeout-s), 413, 415, 422, 503 (busy, with \
        Retry-After) or 504 (--timeout-s). A request takes a --queue place only once its whole body has arrived. \
        SIGTERM or Ctrl-C finishes the requests in flight, then exits.
        Example: curl -s --data-binary @photo.jpg -H 'Content-Type: image/jpeg' 'http://127.0.0.1:8080/v1/captions?beam=3'
        """)

    @OptionGroup var runtime: RuntimeOptions
    @Option(help: "The model file (from caption train or caption import; default: the shipped Flickr8k captioner).") var model: String?
    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(parsing: .unconditional, help: "Port to listen on (0 picks a free one).") var port = 8080
    @Option(name: .customLong("max-batch"), parsing: .unconditional, help: "Most images run through the model together.") var maxBatch = 8
    @Option(name: .customLong("max-wait-ms"), parsing: .unconditional, help: "How long a request waits for others to share its batch.") var maxWaitMs = 10
    @Option(parsing: .unconditional, help: "Requests admitted at once once their body has arrived (decoding or queued); more get 503 with Retry-After.") var queue = 64
    @Option(name: .customLong("max-uploads"), parsing: .unconditional, help: "Request bodies received at once, apart from --queue; more get 503 with Retry-After.")
    var maxUploads = 128
    @Option(name: .customLong("body-timeout-s"), parsing: .unconditional, help: "Longest a request body may take to arrive, in seconds (408 above).")
    var bodyTimeoutS: Double = 10
    @Option(name: .customLong("max-body-mb"), parsing: .unconditional, help: "Largest request body, in megabytes (413 above).") var maxBodyMb: Double = 10
    @Option(name: .customLong("max-pixels"), parsing: .unconditional, help: "Largest image, in pixels (413 above).") var maxPixels = ImageDecoder.defaultMaxPixels
    @Option(name: .customLong("timeout-s"), parsing: .unconditional, help: "Longest a request may take, in seconds (504 above).") var timeoutS: Double = 30
    @Option(parsing: .unconditional, help: "Default beam width for requests that do not say.") var beam = 3
    @Option(name: .customLong("encoder-weights"), help: "Weights of the model's encoder (default: the library's copy for efficientnet-lite2, else the bootstrap download).")
    var encoderWeights: String?
    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.") var logLevel = "info"

    func validate() throws {
        try OptionCheck.integer(maxBatch, "--max-batch", 1...256)
        try OptionCheck.integer(maxWaitMs, "--max-wait-ms", 0...10_000)
        try OptionCheck.integer(queue, "--queue", 1...65_536)
        try OptionCheck.integer(maxUploads, "--max-uploads", 1...65_536)
        try OptionCheck.number(bodyTimeoutS, "--body-timeout-s", above: 0, atMost: 3_600)
        try OptionCheck.number(maxBodyMb, "--max-body-mb", above: 0, atMost: 1_024)
        try OptionCheck.integer(maxPixels, "--max-pixels", 1...OptionCheck.maximumPixels)
        try OptionCheck.number(timeoutS, "--timeout-s", above: 0, atMost: 3_600)
        try OptionCheck.integer(beam, "--beam", 1...10)
        try OptionCheck.integer(port, "--port", 0...65_535)
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical.") }
    }

    func run() async throws {
        try runtime.apply()
        var logger = Logger(label: "caption.serve")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        let modelPath = try ShippedModel.path(self.model)
        let model = try CaptionModel.load(URL(fileURLWithPath: modelPath))
        let encoder = try ConvNetEncoder.loadFor(model, modelPath: modelPath, weights: encoderWeights)
        var configuration = ServerConfiguration()
        configuration.host = host
        configuration.port = port
        configuration.maxBatch = maxBatch
        configuration.maxWait = .milliseconds(maxWaitMs)
        configuration.queueCapacity = queue
        configuration.uploadCapacity = maxUploads
        configuration.bodyTimeoutSeconds = bodyTimeoutS
        configuration.maxBodyBytes = Int(maxBodyMb * 1_048_576)
        configuration.maxPixels = maxPixels
        configuration.timeoutSeconds = timeoutS
        configuration.defaultBeam = beam
        let server = try CaptionServer(model: model, encoder: encoder, configuration: configuration, logger: logger)
        let description = "\(modelPath) (\(model.metadata.decoder.architecture.rawValue), \(encoder.name))"
        let announcer = logger
        try await server.run(onServerRunning: { channel in
            // The bound port, which differs from --port when that is 0.
            announcer.notice("serving \(description) on http://\(host):\(channel.localAddress?.port ?? port)")
        })
    }
}
