import ArgumentParser
import AtomicFiles
import CaptionData
import CaptionMetrics
import Captioning
import Foundation
import Reports
import TensorCore

struct Compare: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train several decoders on the same features and seed, score each on the test split (or --split), and compare them.",
        discussion: """
        Features are extracted once (into OUT/features.safetensors) unless --features is given. Each configuration is \
        trained exactly as `caption train` would with the same flags (its model and epoch log go to OUT), then scored \
        on the test split as `caption evaluate` would (beam 3, every metric; METEOR when Java and the jar are present). \
        Writes OUT/compare.md (the table: every metric, parameters, training time, tokens/s), OUT/compare.json, \
        OUT/curves.svg (learning curves of all configurations) and OUT/report.html, and prints the table. \
        --time-budget applies to each configuration.
        """)

    @OptionGroup var runtime: RuntimeOptions
    @Option(help: "The dataset (a folder or caption file in any supported layout).") var data: String
    @Option(help: "Comma-separated decoders: \(Architecture.allCases.map(\.rawValue).joined(separator: ", ")).")
    var configs = Architecture.allCases.map(\.rawValue).joined(separator: ",")
    @Option(help: "Features of the dataset's images (default: extract them into OUT/features.safetensors).") var features: String?
    @Option(name: [.short, .customLong("out")], help: "Folder for the models, logs, table, curves and report.") var out = "compare"
    @OptionGroup var training: TrainingFlags
    @Option(parsing: .unconditional, help: "Beam width for the test-split captions; 1 decodes greedily.") var beam = 3
    @OptionGroup var split: SplitOption
    @Option(parsing: .unconditional, help: "Test images shown in the report.") var samples = 4
    @Flag(name: .customLong("no-meteor"), help: "Skip METEOR (it starts a Java process).") var noMeteor = false
    @Flag(help: "Continue a comparison in --out that stopped: finished configurations are only scored again, an interrupted one continues from its checkpoint.")
    var resume = false

    func validate() throws {
        try OptionCheck.integer(beam, "--beam", 1...OptionCheck.maximumBeam)
        try OptionCheck.integer(samples, "--samples", 0...100)
        _ = try architectures()
    }

    func architectures() throws -> [Architecture] {
        let names = configs.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !names.isEmpty else { throw ValidationError("--configs is empty: name at least one of \(Architecture.allCases.map(\.rawValue).joined(separator: ", ")).") }
        return try names.map { name in
            guard let architecture = Architecture(rawValue: name) else {
                throw ValidationError("unknown configuration \(name) in --configs; choose from \(Architecture.allCases.map(\.rawValue).joined(separator: ", ")).")
            }
            return architecture
        }
    }

    func run() throws {
        try runtime.apply()
        try OutputPath.checkDirectory(out, option: "--out")
        setvbuf(stdout, nil, _IOLBF, 0)
        let directory = URL(fileURLWithPath: out, isDirectory: true)
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw CommandFailure("cannot create \(out) (\(AtomicFileError.reason(error))): choose a writable --out folder.")
        }
        let dataset = try CaptionDataset.load(data, checkImages: false)
        let scoredSplit = try split.resolve(dataset)      // before any training, so a missing split is no surprise at the end
        let featurePath: String
        if let features {
            featurePath = features
        } else {
            featurePath = directory.appendingPathComponent("features.safetensors").path
            if FileManager.default.fileExists(atPath: featurePath) {
                print("using the features already extracted in \(featurePath)")
            } else {
                print("extracting features of \(dataset.name) once, into \(featurePath)")
                let extract = try FeaturesExtract.parse(["--data", data, "--out", featurePath]
                                                        + (runtime.threads.map { ["--threads", String($0)] } ?? []))
                try extract.run()
            }
        }
        let store = try FeatureStore(URL(fileURLWithPath: featurePath))
        let comparison = try Comparison(dataset: dataset, features: store, settings: training.settings(.softAttentionGRU),
                                        configs: try architectures(), directory: directory)
        comparison.search = SearchOptions(beamSize: beam, maxWords: training.maxWords)
        comparison.meteor = !noMeteor
        comparison.sampleCount = samples
        comparison.resume = resume
        comparison.split = scoredSplit

        catchStopSignals(SIGINT)
        let bars = EpochProgressBars()
        let summary = try comparison.run(progress: { event in
            switch event {
            case let .starting(config, index, count, parameters, steps):
                print("\n[\(index)/\(count)] training \(config): \(parameters) parameters, \(steps) steps per epoch")
                bars.finish()
            case let .training(_, p):
                bars.update(p)
            case let .epochFinished(config, record):
                bars.finish()
                let scores = ["BLEU-4", "CIDEr-D"].compactMap { k in record.validation[k].map { "val \(k) \(String(format: "%.4f", $0))" } }
                print("  \(config) epoch \(record.epoch): loss \(String(format: "%.4f", record.trainLoss)), "
                      + "\(String(format: "%.0f", record.tokensPerSecond)) tokens/s, \(String(format: "%.0f", record.seconds)) s"
                      + (scores.isEmpty ? "" : ", " + scores.joined(separator: ", ")))
            case let .evaluating(config):
                bars.finish()
                print("  scoring \(config) on the \(scoredSplit.rawValue) split (beam \(beam))")
            case let .finished(result):
                print("  \(result.config): BLEU-4 \(String(format: "%.4f", result.metric("BLEU-4") ?? .nan)), "
                      + "CIDEr-D \(String(format: "%.4f", result.metric("CIDEr-D") ?? .nan)), "
                      + "\(String(format: "%.0f", result.wallSeconds)) s in all")
            }
        }, shouldStop: { interruptRequested.load(ordering: .relaxed) })
        print("")
        print(Comparison.markdown(summary))
        if let reason = summary.results.compactMap(\.meteorUnavailable).first { warn("note: \(reason)") }
        print("wrote \(out)/compare.md, compare.json, curves.svg and report.html")
    }
}
