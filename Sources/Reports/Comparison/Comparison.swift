import AtomicFiles
import CaptionData
import CaptionMetrics
import Captioning
import Foundation

/// One configuration's outcome in a comparison; stored in compare.json.
public struct ComparisonResult: Codable, Sendable {
    public var config: String
    public var parameters: Int
    /// Seconds spent in training steps (validation excluded), and tokens per second over them.
    public var trainingSeconds: Double
    public var tokensPerSecond: Double
    /// Wall-clock seconds of the whole configuration: training, validation and the test evaluation.
    public var wallSeconds: Double
    public var epochs: Int
    public var bestEpoch: Int?
    public var stopReason: String
    /// Test-split scores in the order of `metricNames`; nil where a metric could not run (METEOR without Java).
    public var metrics: [String: Double?]
    public var meteorUnavailable: String?
    public var imagesScored: Int
    public var model: String
    public var log: String
    public var history: [EpochRecord]

    public static let metricNames = ["BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "METEOR", "ROUGE-L", "CIDEr-D"]

    public func metric(_ name: String) -> Double? { metrics[name] ?? nil }
}

/// What `caption compare` did, as written to compare.json.
public struct ComparisonSummary: Codable, Sendable {
    public var dataset: String
    public var features: String
    public var settings: TrainingSettings
    public var beamSize: Int
    public var results: [ComparisonResult]
    /// The split the configurations were scored on (nil in files written before it was a choice: test).
    public var split: String?
}

/// Progress of a comparison, for the command line.
public enum ComparisonEvent {
    case starting(config: String, index: Int, of: Int, parameters: Int, stepsPerEpoch: Int)
    case training(config: String, TrainingProgress)
    case epochFinished(config: String, EpochRecord)
    case evaluating(config: String)
    case finished(ComparisonResult)
}

/// Trains several decoder configurations on the same features with the same settings and seed —
/// each exactly as `caption train` would (`TrainingRun`) — scores each on `split` (the test split) as
/// `caption evaluate` would (`SplitEvaluation`), and writes DIR/compare.md, compare.json,
/// curves.svg and report.html, plus each configuration's model and epoch log.
public final class Comparison {
    public let dataset: CaptionDataset
    public let features: FeatureStore
    public let settings: TrainingSettings
    public let configs: [Architecture]
    public let directory: URL
    public var search = SearchOptions()
    public var meteor = true
    public var sampleCount = 4
    /// Where the configurations are scored and the report's samples come from.
    public var split = Split.test
    /// Continue an earlier comparison in the same folder: a configuration whose checkpoint is there
    /// continues from it (a finished one is only scored again) instead of training from scratch.
    public var resume = false

    public init(dataset: CaptionDataset, features: FeatureStore, settings: TrainingSettings, configs: [Architecture], directory: URL) throws {
        guard !configs.isEmpty else { throw ReportError("no configurations to compare: pass --configs, e.g. show-tell-gru,soft-attention-gru.") }
        if let attending = configs.first(where: \.usesGrid), !features.hasGrid {
            throw ReportError("\(attending.rawValue) needs grid features, but \(features.url.path) holds only pooled ones: re-run caption features.")
        }
        self.dataset = dataset
        self.features = features
        self.settings = settings
        self.configs = configs
        self.directory = directory
    }

    public func modelURL(_ config: Architecture) -> URL { directory.appendingPathComponent("\(config.rawValue).safetensors") }
    public func logURL(_ config: Architecture) -> URL { directory.appendingPathComponent("\(config.rawValue).log.jsonl") }

    /// Trains and scores every configuration in turn, then writes the table, JSON, curves and report.
    public func run(progress: @escaping (ComparisonEvent) -> Void = { _ in }, shouldStop: () -> Bool = { false }) throws -> ComparisonSummary {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var results: [ComparisonResult] = []
        for (index, config) in configs.enumerated() {
            let started = Date()
            var configSettings = settings
            configSettings.architecture = config
            let run = try TrainingRun(dataset: dataset, features: features, settings: configSettings, source: "caption compare")
            progress(.starting(config: config.rawValue, index: index + 1, of: configs.count,
                               parameters: run.model.decoder.parameterCount, stepsPerEpoch: run.trainer.stepsPerEpoch))
            var reported = 0
            let checkpoint = directory.appendingPathComponent("\(config.rawValue).safetensors.checkpoint")
            if resume && FileManager.default.fileExists(atPath: checkpoint.path) { try run.trainer.resume(from: checkpoint) }
            let summary = try run.trainer.run(checkpoint: checkpoint, bestModel: modelURL(config), log: logURL(config), progress: { p in
                // An epoch's record (with its validation scores) exists once the next epoch has begun.
                while reported < run.trainer.history.count {
                    progress(.epochFinished(config: config.rawValue, run.trainer.history[reported]))
                    reported += 1
                }
                progress(.training(config: config.rawValue, p))
            }, shouldStop: shouldStop)
            for record in summary.history.dropFirst(reported) { progress(.epochFinished(config: config.rawValue, record)) }
            if summary.stopReason == .interrupted {
                throw ReportError("interrupted while training \(config.rawValue); finished configurations are in \(directory.path).")
            }
            progress(.evaluating(config: config.rawValue))
            let best = try CaptionModel.load(modelURL(config))
            let report = try SplitEvaluation.score(best, dataset: dataset, split: split, features: features, search: search, meteor: meteor)
            let seconds = summary.history.reduce(0) { $0 + $1.seconds }
            let tokens = summary.history.reduce(0) { $0 + $1.tokensPerSecond * $1.seconds }
            var metrics: [String: Double?] = [:]
            for (name, value) in report.namedScores { metrics[name] = .some(value) }
            let result = ComparisonResult(
                config: config.rawValue, parameters: run.model.decoder.parameterCount, trainingSeconds: seconds,
                tokensPerSecond: seconds > 0 ? tokens / seconds : 0, wallSeconds: Date().timeIntervalSince(started),
                epochs: summary.history.count, bestEpoch: summary.bestEpoch, stopReason: summary.stopReason.rawValue,
                metrics: metrics, meteorUnavailable: report.meteorUnavailable, imagesScored: report.imagesScored,
                model: modelURL(config).lastPathComponent, log: logURL(config).lastPathComponent, history: summary.history)
            results.append(result)
            progress(.finished(result))
            // The table so far survives a later failure or Ctrl-C.
            if index + 1 < configs.count { try write(makeSummary(results), report: false) }
        }
        let summary = makeSummary(results)
        try write(summary)
        return summary
    }

    func makeSummary(_ results: [ComparisonResult]) -> ComparisonSummary {
        ComparisonSummary(dataset: dataset.name, features: features.url.path, settings: settings, beamSize: search.beamSize, results: results,
                          split: split.rawValue)
    }

    /// compare.md, compare.json, curves.svg and (with `report`) report.html in the output folder.
    public func write(_ summary: ComparisonSummary, report: Bool = true) throws {
        try AtomicFile.write(Self.markdown(summary), to: directory.appendingPathComponent("compare.md"))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(try encoder.encode(summary), to: directory.appendingPathComponent("compare.json"))
        try AtomicFile.write(CurveChart.svg(histories: summary.results.map { ($0.config, $0.history) }, standalone: true),
                             to: directory.appendingPathComponent("curves.svg"))
        guard report else { return }
        try Self.report(summary, directory: directory, dataset: dataset, features: features, search: search, sampleCount: sampleCount)
            .write(to: directory.appendingPathComponent("report.html"))
    }

    // MARK: Table and report

    public static func tableRows(_ summary: ComparisonSummary) -> [MetricRow] {
        summary.results.map { r in
            MetricRow(label: r.config, scores: ComparisonResult.metricNames.map { ($0, r.metric($0)) },
                      facts: [("parameters", formatCount(r.parameters)), ("train s", String(format: "%.0f", r.trainingSeconds)),
                              ("tokens/s", String(format: "%.0f", r.tokensPerSecond)),
                              ("epochs", epochsNote(r))])
        }
    }

    /// The comparison as a Markdown table, followed by the answers to the seeds' questions.
    public static func markdown(_ summary: ComparisonSummary) -> String {
        let rows = tableRows(summary)
        let header = ["config"] + ComparisonResult.metricNames + (rows.first?.facts.map(\.name) ?? [])
        var lines = ["# caption compare: \(summary.dataset)", "",
                     "Scored on the \(summary.split ?? Split.test.rawValue) split, beam \(summary.beamSize); every configuration trained on \(summary.features) with seed \(summary.settings.seed), "
                     + "\(summary.settings.epochs) epochs at most, batch \(summary.settings.batchSize), hidden \(summary.settings.hiddenSize), "
                     + "lr \(summary.settings.learningRate), min-count \(summary.settings.minCount)"
                     + (summary.settings.timeBudget.map { String(format: ", time budget %.0f s each", $0) } ?? "") + ".", "",
                     "| " + header.joined(separator: " | ") + " |",
                     "|" + header.enumerated().map { $0.offset == 0 ? "---" : "---:" }.joined(separator: "|") + "|"]
        for row in rows {
            let scores = row.scores.map { $0.value.map { String(format: "%.4f", $0) } ?? "n/a" }
            lines.append("| " + ([row.label] + scores + row.facts.map(\.value)).joined(separator: " | ") + " |")
        }
        let answers = findings(summary)
        if !answers.isEmpty { lines += ["", "## What the numbers say", ""] + answers.map { "- " + $0 } }
        if let reason = summary.results.compactMap(\.meteorUnavailable).first { lines += ["", "METEOR: n/a because \(reason)."] }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The seeds' questions — does attention help a GRU captioner, and LSTM against GRU — answered
    /// from the BLEU-4 and CIDEr-D of whichever of the configurations were compared.
    public static func findings(_ summary: ComparisonSummary) -> [String] {
        func result(_ a: Architecture) -> ComparisonResult? { summary.results.first { $0.config == a.rawValue } }
        func delta(_ a: ComparisonResult, against b: ComparisonResult) -> String {
            ["BLEU-4", "CIDEr-D"].compactMap { name in
                guard let x = a.metric(name), let y = b.metric(name) else { return nil }
                return "\(name) " + String(format: "%.4f vs %.4f (%+.4f)", x, y, x - y)
            }.joined(separator: ", ")
        }
        var out: [String] = []
        if let base = result(.showTellGRU) {
            for attending in [Architecture.softAttentionGRU, .adaptiveAttentionGRU] {
                guard let other = result(attending) else { continue }
                let better = (other.metric("BLEU-4") ?? 0) > (base.metric("BLEU-4") ?? 0)
                out.append("Attention and a GRU: \(other.config) against show-tell-gru: \(delta(other, against: base)) — "
                           + (better ? "attention helps on BLEU-4 here." : "attention does not help on BLEU-4 here."))
            }
            if let lstm = result(.showTellLSTM) {
                let better = (lstm.metric("BLEU-4") ?? 0) > (base.metric("BLEU-4") ?? 0)
                out.append("CNN+LSTM against CNN+GRU (show-tell-lstm vs show-tell-gru): \(delta(lstm, against: base)) — "
                           + (better ? "the LSTM scores higher on BLEU-4 here" : "the GRU scores at least as high on BLEU-4 here")
                           + "; \(formatCount(lstm.parameters)) vs \(formatCount(base.parameters)) parameters.")
            }
        }
        return out
    }

    /// The comparison's HTML page: the table, every configuration's curves and, for a few test
    /// images, each configuration's caption with the attention figures of the attention models.
    public static func report(_ summary: ComparisonSummary, directory: URL, dataset: CaptionDataset, features: FeatureStore,
                              search: SearchOptions = SearchOptions(), sampleCount: Int = 4) throws -> HTMLReport {
        var models: [(label: String, model: CaptionModel)] = []
        for result in summary.results {
            models.append((result.config, try CaptionModel.load(directory.appendingPathComponent(result.model))))
        }
        let split = summary.split.flatMap(Split.init(rawValue:)) ?? .test
        let items = ReportSamples.images(of: dataset, split: split, features: features, count: sampleCount)
        let (samples, missing) = ReportSamples.make(items: items, dataset: dataset, features: features, models: models, search: search)
        var notes = ["Dataset \(summary.dataset); features \(summary.features); seed \(summary.settings.seed); "
                     + "up to \(summary.settings.epochs) epochs; beam \(summary.beamSize) on the \(split.rawValue) split."]
        notes += findings(summary)
        if !missing.isEmpty { notes.append("Pictures missing for \(missing.joined(separator: ", ")): only captions are shown for them.") }
        return HTMLReport(title: "Captioner comparison: \(summary.results.map(\.config).joined(separator: ", "))", notes: notes,
                          metricRows: tableRows(summary),
                          curvesSVG: CurveChart.svg(histories: summary.results.map { ($0.config, $0.history) }),
                          samples: samples)
    }

    /// "6 (best 5)", or with why training stopped before its epochs ran out: "4 (best 4, time-budget)".
    static func epochsNote(_ r: ComparisonResult) -> String {
        let notes = (r.bestEpoch.map { ["best \($0)"] } ?? []) + (r.stopReason == StopReason.completed.rawValue ? [] : [r.stopReason])
        return "\(r.epochs)" + (notes.isEmpty ? "" : " (" + notes.joined(separator: ", ") + ")")
    }

    static func formatCount(_ n: Int) -> String {
        n >= 1_000_000 ? String(format: "%.2fM", Double(n) / 1e6) : n >= 1000 ? String(format: "%.1fk", Double(n) / 1e3) : "\(n)"
    }
}
