import CaptionData
import Captioning
import Foundation
import TensorCore
import Testing
@testable import Reports

@Suite struct ComparisonTests {
    @Test func twoConfigsOneEpochEachWriteTableCurvesAndReport() throws {
        let tiny = try TinyShapes()
        let out = tiny.directory.appendingPathComponent("compare")
        let comparison = try Comparison(dataset: try tiny.dataset(), features: try tiny.store(), settings: TinyShapes.settings,
                                        configs: [.showTellGRU, .softAttentionGRU], directory: out)
        comparison.meteor = false
        comparison.sampleCount = 2
        var events: [String] = []
        let summary = try comparison.run(progress: { event in
            switch event {
            case let .starting(config, _, _, _, _): events.append("start \(config)")
            case let .epochFinished(config, record): events.append("epoch \(config) \(record.epoch)")
            case let .finished(result): events.append("done \(result.config)")
            default: break
            }
        })
        #expect(events == ["start show-tell-gru", "epoch show-tell-gru 1", "done show-tell-gru",
                           "start soft-attention-gru", "epoch soft-attention-gru 1", "done soft-attention-gru"])
        #expect(summary.results.map(\.config) == ["show-tell-gru", "soft-attention-gru"])
        for result in summary.results {
            #expect(result.history.count == 1 && result.epochs == 1)
            #expect(result.imagesScored == 2)
            #expect(result.metric("BLEU-4") != nil && result.metric("CIDEr-D") != nil && result.metric("METEOR") == nil)
            #expect(result.parameters > 0 && result.tokensPerSecond > 0 && result.trainingSeconds > 0)
        }
        // The soft-attention decoder has the attention layers on top of the GRU.
        #expect(summary.results[1].parameters > summary.results[0].parameters)

        let markdown = try String(contentsOf: out.appendingPathComponent("compare.md"), encoding: .utf8)
        for name in ["show-tell-gru", "soft-attention-gru", "BLEU-4", "METEOR", "ROUGE-L", "CIDEr-D", "parameters", "tokens/s",
                     "Attention and a GRU"] {
            #expect(markdown.contains(name), "compare.md mentions \(name)")
        }
        let bleu4 = String(format: "%.4f", summary.results[1].metric("BLEU-4")!)
        #expect(markdown.contains(bleu4))
        #expect(markdown.contains("Scored on the \(comparison.split.rawValue) split, beam"), "compare.md names the split it scored")
        let decoded = try JSONDecoder().decode(ComparisonSummary.self, from: Data(contentsOf: out.appendingPathComponent("compare.json")))
        #expect(decoded.results.map(\.config) == summary.results.map(\.config))
        let svg = try String(contentsOf: out.appendingPathComponent("curves.svg"), encoding: .utf8)
        #expect(svg.contains("<svg xmlns=\"http://www.w3.org/2000/svg\"") && svg.contains("soft-attention-gru"))
        let html = try String(contentsOf: out.appendingPathComponent("report.html"), encoding: .utf8)
        #expect(html.contains(bleu4) && html.contains("<svg"))
        // Two samples, each with its picture, plus one attention figure each from the attention model.
        #expect(html.components(separatedBy: "src=\"data:image/png;base64,").count - 1 == 4)
    }

    /// A configuration trained by compare ends with the weights `caption train` (TrainingRun with the
    /// same settings) gives.
    @Test func aConfigurationTrainsAsTrainDoes() throws {
        let tiny = try TinyShapes()
        let out = tiny.directory.appendingPathComponent("compare")
        let comparison = try Comparison(dataset: try tiny.dataset(), features: try tiny.store(), settings: TinyShapes.settings,
                                        configs: [.adaptiveAttentionGRU], directory: out)
        comparison.meteor = false
        comparison.sampleCount = 1
        _ = try comparison.run()

        var settings = TinyShapes.settings
        settings.architecture = .adaptiveAttentionGRU
        let alone = try TrainingRun(dataset: try tiny.dataset(), features: try tiny.store(), settings: settings)
        let model = tiny.directory.appendingPathComponent("alone.safetensors")
        _ = try alone.trainer.run(checkpoint: tiny.directory.appendingPathComponent("alone.checkpoint"), bestModel: model, log: nil)
        let compared = try CaptionModel.load(comparison.modelURL(.adaptiveAttentionGRU)).decoder.stateDict()
        let trained = try CaptionModel.load(model).decoder.stateDict()
        #expect(compared.keys.sorted() == trained.keys.sorted())
        for (name, tensor) in trained {
            #expect(compared[name]!.shape == tensor.shape)
            #expect(compared[name]!.scalars == tensor.scalars, "\(name) differs")
        }
    }

    /// A stopped comparison continues where it was: finished configurations are not trained again.
    @Test func resumeKeepsFinishedConfigurations() throws {
        let tiny = try TinyShapes()
        let out = tiny.directory.appendingPathComponent("compare")
        func comparison(resume: Bool) throws -> Comparison {
            let c = try Comparison(dataset: try tiny.dataset(), features: try tiny.store(), settings: TinyShapes.settings,
                                   configs: [.showTellLSTM], directory: out)
            c.meteor = false
            c.sampleCount = 0
            c.resume = resume
            return c
        }
        let first = try comparison(resume: false).run()
        var trainingSteps = 0
        let again = try comparison(resume: true).run(progress: { if case .training = $0 { trainingSteps += 1 } })
        #expect(trainingSteps == 0)
        #expect(again.results[0].history == first.results[0].history)
        #expect(again.results[0].metric("BLEU-4") == first.results[0].metric("BLEU-4"))
    }

    @Test func attentionConfigsNeedGridFeatures() throws {
        let tiny = try TinyShapes()
        let pooledOnly = tiny.directory.appendingPathComponent("pooled.safetensors")
        let file = try SafeTensors.read(tiny.features)
        try SafeTensors(tensors: ["pooled": file["pooled"]!], metadata: file.metadata).write(to: pooledOnly)
        #expect(throws: ReportError.self) {
            _ = try Comparison(dataset: try tiny.dataset(), features: try FeatureStore(pooledOnly), settings: TinyShapes.settings,
                               configs: [.showTellGRU, .softAttentionGRU], directory: tiny.directory)
        }
    }
}
