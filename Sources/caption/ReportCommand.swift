import ArgumentParser
import AtomicFiles
import CaptionData
import CaptionMetrics
import Captioning
import Foundation
import Reports

struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a self-contained HTML report of a trained model, or rebuild a comparison's report.",
        discussion: """
        One HTML file with everything embedded (pictures as base64 PNG, curves as inline SVG, inline CSS): the \
        test-split metric table (from --metrics, the JSON of `caption evaluate --json`, or computed now), the \
        learning curves from the epoch log, and sample test images with the generated caption, the references and, \
        for attention models, the attention figure of every word. With --compare DIR it rebuilds DIR/report.html, \
        compare.md and curves.svg from the compare.json, models and logs `caption compare` left there.
        """)

    @OptionGroup var runtime: RuntimeOptions
    @Option(help: "The dataset (for the test split, its references and pictures).") var data: String
    @Option(help: "The trained model.") var model: String?
    @Option(help: "Features of the dataset's images (from caption features).") var features: String?
    @Option(help: "Test-split scores: the JSON object `caption evaluate --json` printed (default: score now).") var metrics: String?
    @Option(help: "The epoch log of training, JSON lines (default: <model>.log.jsonl when it exists).") var log: String?
    @Option(help: "A folder `caption compare` wrote: rebuild its report.html.") var compare: String?
    @Option(name: [.short, .customLong("out")], help: "The HTML file to write (default with --compare: DIR/report.html).") var out: String?
    @Option(parsing: .unconditional, help: "Test images shown.") var samples = 5
    @Option(parsing: .unconditional, help: "Beam width for the sample captions (and for scoring without --metrics).") var beam = 3
    @OptionGroup var split: SplitOption
    @Flag(name: .customLong("no-meteor"), help: "When scoring here, skip METEOR.") var noMeteor = false

    func validate() throws {
        if compare == nil {
            guard model != nil, features != nil, out != nil else {
                throw ValidationError("give --model, --features and -o (or --compare DIR to rebuild a comparison's report).")
            }
        }
        try OptionCheck.integer(beam, "--beam", 1...OptionCheck.maximumBeam)
        try OptionCheck.integer(samples, "--samples", 0...100)
    }

    func run() throws {
        try runtime.apply()
        if let out { try OutputPath.checkFile(out, option: "--out") }
        let dataset = try CaptionDataset.load(data, checkImages: false)
        let search = SearchOptions(beamSize: beam)
        if let compare {
            let directory = URL(fileURLWithPath: compare, isDirectory: true)
            let jsonURL = directory.appendingPathComponent("compare.json")
            guard let json = try? Data(contentsOf: jsonURL) else {
                throw CommandFailure("\(jsonURL.path) cannot be read: pass --compare the folder `caption compare --out` wrote.")
            }
            let summary: ComparisonSummary
            do { summary = try JSONDecoder().decode(ComparisonSummary.self, from: json) } catch {
                throw CommandFailure("\(jsonURL.path) is not a compare.json of this caption version: re-run caption compare.")
            }
            let store = try FeatureStore(URL(fileURLWithPath: features ?? summary.features))
            let report = try Comparison.report(summary, directory: directory, dataset: dataset, features: store, search: search,
                                               sampleCount: samples)
            let target = URL(fileURLWithPath: out ?? directory.appendingPathComponent("report.html").path)
            try report.write(to: target)
            // The table and curves follow compare.json too (e.g. after results of separate runs were joined).
            try AtomicFile.write(Comparison.markdown(summary), to: directory.appendingPathComponent("compare.md"))
            try AtomicFile.write(CurveChart.svg(histories: summary.results.map { ($0.config, $0.history) }, standalone: true),
                                 to: directory.appendingPathComponent("curves.svg"))
            print(Comparison.markdown(summary))
            print("wrote \(target.path), \(compare)/compare.md and \(compare)/curves.svg")
            return
        }
        let scoredSplit = try split.resolve(dataset)
        let modelURL = URL(fileURLWithPath: model!)
        let captionModel = try CaptionModel.load(modelURL)
        let store = try FeatureStore(URL(fileURLWithPath: features!))
        try store.checkFits(captionModel, modelPath: model!)
        let architecture = captionModel.metadata.decoder.architecture.rawValue

        let scores: [(name: String, value: Double?)]
        if let metrics {
            scores = try readMetrics(metrics)
        } else {
            print("scoring \(model!) on the \(scoredSplit.rawValue) split (beam \(beam))")
            let report = try SplitEvaluation.score(captionModel, dataset: dataset, split: scoredSplit, features: store, search: search, meteor: !noMeteor)
            scores = report.namedScores
        }
        let logPath = log ?? (model! + ".log.jsonl")
        var history: [EpochRecord] = []
        if FileManager.default.fileExists(atPath: logPath) {
            history = try readLog(logPath)
        } else if log != nil {
            throw CommandFailure("\(logPath) does not exist: pass --log the epoch log caption train wrote (<model>.log.jsonl).")
        }
        let items = ReportSamples.images(of: dataset, split: scoredSplit, features: store, count: samples)
        let (shown, missing) = ReportSamples.make(items: items, dataset: dataset, features: store,
                                                  models: [(architecture, captionModel)], search: search)
        var notes = ["Model \(model!) (\(architecture), \(captionModel.decoder.parameterCount) parameters, vocabulary "
                     + "\(captionModel.metadata.vocabulary.count)) on \(dataset.name); features \(features!)."]
        if let provenance = captionModel.metadata.provenance.epochs {
            notes.append("Trained for \(provenance) epoch\(provenance == 1 ? "" : "s") with seed \(captionModel.metadata.provenance.seed.map(String.init) ?? "?").")
        }
        if history.isEmpty { notes.append("No epoch log found, so no learning curves.") }
        if !missing.isEmpty { notes.append("Pictures missing for \(missing.joined(separator: ", ")): only captions are shown for them.") }
        let facts: [(name: String, value: String)] = history.isEmpty ? [] : [
            ("epochs", "\(history.count)"),
            ("tokens/s", String(format: "%.0f", history.reduce(0) { $0 + $1.tokensPerSecond * $1.seconds } / max(history.reduce(0) { $0 + $1.seconds }, 1e-9))),
        ]
        let report = HTMLReport(title: "Captioner report: \(architecture) on \(dataset.name)", notes: notes,
                                metricRows: [MetricRow(label: architecture, scores: scores, facts: facts)],
                                curvesSVG: history.isEmpty ? nil : CurveChart.svg(histories: [(architecture, history)]),
                                samples: shown)
        let target = URL(fileURLWithPath: out!)
        let folder = target.deletingLastPathComponent().path
        guard FileManager.default.fileExists(atPath: folder) else {
            throw CommandFailure("cannot write \(out!): the folder \(folder) does not exist; create it or choose another -o.")
        }
        try report.write(to: target)
        print("Metric     Score")
        for (name, value) in scores {
            print(name.padding(toLength: 10, withPad: " ", startingAt: 0) + " " + (value.map { String(format: "%.4f", $0) } ?? "n/a"))
        }
        print("wrote \(out!)")
    }

    /// The metric object of `caption evaluate --json`, in the table's order.
    func readMetrics(_ path: String) throws -> [(name: String, value: Double?)] {
        guard let data = try? Data(contentsOf: URL(fileURLWithPath: path)),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw CommandFailure("\(path) is not a JSON object: pass --metrics the output of caption evaluate --json.")
        }
        let names = ComparisonResult.metricNames
        guard names.contains(where: { object[$0] is NSNumber }) else {
            throw CommandFailure("\(path) has none of \(names.joined(separator: ", ")): pass --metrics the output of caption evaluate --json.")
        }
        return names.map { name in (name, (object[name] as? NSNumber)?.doubleValue) }
    }

    func readLog(_ path: String) throws -> [EpochRecord] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw CommandFailure("\(path) cannot be read: pass --log the epoch log caption train wrote.")
        }
        var records: [EpochRecord] = []
        for (i, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated()
        where !line.trimmingCharacters(in: .whitespaces).isEmpty {
            guard let record = try? JSONDecoder().decode(EpochRecord.self, from: Data(line.utf8)) else {
                throw CommandFailure("\(path) line \(i + 1) is not an epoch record: pass --log the epoch log caption train wrote.")
            }
            records.append(record)
        }
        return records
    }
}
