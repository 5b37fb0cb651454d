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
        POST an image as the raw body (Content-Type image/jpeg or image/png) or as multipart/form-data with a
        file field named image; options beam, max_words and attention go in the query string or in the form.
        Concurrent requests are batched through the encoder and decoder (--max-batch, --max-wait-ms). Errors are
        JSON {"error": "…"} with 400, 413, 415, 422, 503 (busy, with Retry-After) or 504 (--timeout-s).
        SIGTERM or Ctrl-C finishes the requests in flight, then exits.
        Example: curl -s --data-binary @photo.jpg -H 'Content-Type: image/jpeg' 'http://127.0.0.1:8080/v1/captions?beam=3'
        """)

    @OptionGroup var runtime: RuntimeOptions
    @Option(help: "The model file (from caption train or caption import).") var model: String
    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(help: "Port to listen on (0 picks a free one).") var port = 8080
    @Option(name: .customLong("max-batch"), help: "Most images run through the model together.") var maxBatch = 8
    @Option(name: .customLong("max-wait-ms"), help: "How long a request waits for others to share its batch.") var maxWaitMs = 10
    @Option(help: "Requests admitted at once (reading, decoding or queued); more get 503 with Retry-After.") var queue = 64
    @Option(name: .customLong("max-body-mb"), help: "Largest request body, in megabytes (413 above).") var maxBodyMb: Double = 10
    @Option(name: .customLong("max-pixels"), help: "Largest image, in pixels (413 above).") var maxPixels = ImageDecoder.defaultMaxPixels
    @Option(name: .customLong("timeout-s"), help: "Longest a request may take, in seconds (504 above).") var timeoutS: Double = 30
    @Option(help: "Default beam width for requests that do not say.") var beam = 3
    @Option(name: .customLong("encoder-weights"), help: "Weights of the model's encoder (default: the bootstrap download for efficientnet-lite0).")
    var encoderWeights: String?
    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.") var logLevel = "info"

    func validate() throws {
        guard maxBatch >= 1 else { throw ValidationError("--max-batch must be at least 1, not \(maxBatch).") }
        guard maxWaitMs >= 0 else { throw ValidationError("--max-wait-ms cannot be negative.") }
        guard queue >= 1 else { throw ValidationError("--queue must be at least 1, not \(queue).") }
        guard maxBodyMb > 0 else { throw ValidationError("--max-body-mb must be positive.") }
        guard maxPixels >= 1 else { throw ValidationError("--max-pixels must be positive.") }
        guard timeoutS > 0 else { throw ValidationError("--timeout-s must be positive.") }
        guard (1...10).contains(beam) else { throw ValidationError("--beam must be from 1 to 10, not \(beam).") }
        guard (0...65535).contains(port) else { throw ValidationError("--port must be from 0 to 65535, not \(port).") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical.") }
    }

    func run() async throws {
        try runtime.apply()
        var logger = Logger(label: "caption.serve")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        let model = try CaptionModel.load(URL(fileURLWithPath: self.model))
        let encoder = try EncoderLoading.load(name: model.metadata.encoder.name, weights: encoderWeights)
        guard encoder.featureChannels == model.metadata.decoder.featureSize else {
            throw CommandFailure("\(encoder.name) gives \(encoder.featureChannels)-channel features but \(self.model) expects \(model.metadata.decoder.featureSize): the model was trained on another encoder.")
        }
        var configuration = ServerConfiguration()
        configuration.host = host
        configuration.port = port
        configuration.maxBatch = maxBatch
        configuration.maxWait = .milliseconds(maxWaitMs)
        configuration.queueCapacity = queue
        configuration.maxBodyBytes = Int(maxBodyMb * 1_048_576)
        configuration.maxPixels = maxPixels
        configuration.timeoutSeconds = timeoutS
        configuration.defaultBeam = beam
        let server = try CaptionServer(model: model, encoder: encoder, configuration: configuration, logger: logger)
        let description = "\(self.model) (\(model.metadata.decoder.architecture.rawValue), \(encoder.name))"
        let announcer = logger
        try await server.application(onServerRunning: { channel in
            // The bound port, which differs from --port when that is 0.
            announcer.notice("serving \(description) on http://\(host):\(channel.localAddress?.port ?? port)")
        }).runService()
    }
}
