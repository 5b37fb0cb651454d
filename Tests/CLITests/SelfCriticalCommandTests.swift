import Captioning
import Foundation
import TensorCore
import Testing
import TestSupport

/// `caption train --from MODEL --reward cider-d` through the real executable: it continues the model,
/// logs rewards, picks the best model by validation CIDEr-D, and resumes exactly after Ctrl-C.
@Suite struct SelfCriticalCommandTests {
    let fixture: CaptionFixture
    let reliability: ReliabilityTests

    init() throws {
        reliability = try ReliabilityTests()
        fixture = reliability.fixture
    }

    func path(_ name: String) -> String { fixture.path(name) }

    /// A cross-entropy model to continue, trained once per test.
    func trainedModel() throws -> String {
        let out = path("ce.safetensors")
        let run = try runCaption(reliability.trainArguments(out: out, epochs: 4))
        #expect(run.status == 0, "\(run.stderr)")
        return out
    }

    func selfCriticalArguments(from model: String, out: String, epochs: Int = 6, extra: [String] = []) -> [String] {
        ["train", "--data", fixture.dir.path, "--features", path("features.safetensors"), "--from", model, "--reward", "cider-d",
         "--samples", "3", "--out", out, "--epochs", String(epochs), "--batch-size", "4", "--patience", "1000", "--seed", "5"] + extra
    }

    @Test(arguments: ["greedy", "mean"]) func continuesAModelAndLogsRewards(baseline: String) throws {
        let model = try trainedModel()
        let out = path("scst-\(baseline).safetensors")
        let run = try runCaption(selfCriticalArguments(from: model, out: out, epochs: 3, extra: ["--baseline", baseline]))
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("self-critical (CIDEr-D reward, 3 samples per image, \(baseline) baseline)"), "\(run.stdout)")
        #expect(run.stdout.contains("on 48 images"), "one sample per training image: \(run.stdout)")
        let lines = try String(contentsOfFile: out + ".log.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 3)
        for line in lines {
            let record = try JSONDecoder().decode(EpochRecord.self, from: Data(line.utf8))
            #expect(record.reward.map { $0 >= 0 && $0.isFinite } == true, "\(line)")
            #expect(record.baseline != nil && record.validation["CIDEr-D"] != nil, "\(line)")
        }
        // The model keeps the decoder and vocabulary it continued, says how it was made, and best is by CIDEr-D.
        let (before, after) = (try CaptionModel.load(URL(fileURLWithPath: model)), try CaptionModel.load(URL(fileURLWithPath: out)))
        #expect(after.metadata.decoder == before.metadata.decoder && after.metadata.vocabulary == before.metadata.vocabulary)
        #expect(after.metadata.provenance.settings?.selfCritical?.baseline.rawValue == baseline)
        #expect(after.metadata.provenance.continued?.contains("ce.safetensors") == true, "\(after.metadata.provenance.continued ?? "nil")")
        #expect(after.metadata.provenance.bestValidation?["CIDEr-D"] != nil)
        let changed = before.decoder.namedParameters.contains { p in
            after.decoder.namedParameters.first { $0.name == p.name }!.tensor.scalars != p.tensor.scalars
        }
        #expect(changed, "self-critical steps changed the weights")
    }

    @Test func resumeAfterCtrlCEqualsAnUninterruptedRun() throws {
        let model = try trainedModel()
        let whole = try runCaption(selfCriticalArguments(from: model, out: path("whole.safetensors")))
        #expect(whole.status == 0, "\(whole.stderr)")
        let out = path("cut.safetensors")
        let first = try RunningCaption(selfCriticalArguments(from: model, out: out))
        #expect(eventually { FileManager.default.fileExists(atPath: out + ".checkpoint") })
        usleep(20_000)
        first.signal(SIGINT)
        #expect(first.wait().status == 130, "the run was still going when interrupted")
        // Resuming without the self-critical flags is refused by name; with them it continues exactly.
        let wrong = try runCaption(reliability.trainArguments(out: out, epochs: 6, extra: ["--resume"]))
        #expect(wrong.status != 0 && wrong.stderr.contains("self-critical"), "\(wrong.stderr)")
        let resumed = try runCaption(selfCriticalArguments(from: model, out: out, extra: ["--resume"]))
        #expect(resumed.status == 0, "\(resumed.stderr)")
        try reliability.expectSameTensors(out + ".checkpoint", path("whole.safetensors.checkpoint"), "checkpoint")
        try reliability.expectSameTensors(out, path("whole.safetensors"), "best model")
    }

    @Test func badSelfCriticalRequestsAreRefusedByName() throws {
        let model = try trainedModel()
        let noFrom = try runCaption(["train", "--data", fixture.dir.path, "--features", path("features.safetensors"),
                                     "--reward", "cider-d", "--out", path("x.safetensors")])
        #expect(noFrom.status != 0 && noFrom.stderr.contains("--from"), "\(noFrom.stderr)")
        for (extra, named) in [(["--reward", "bleu"], "--reward"), (["--baseline", "best"], "--baseline"),
                               (["--samples", "0"], "--samples"), (["--samples", "1", "--baseline", "mean"], "--baseline mean"),
                               (["--temperature", "0"], "--temperature"), (["--arch", "show-tell-gru"], "--arch")] {
            let run = try runCaption(selfCriticalArguments(from: model, out: path("y.safetensors"), extra: extra))
            #expect(run.status != 0 && run.stderr.contains(named), "\(extra): \(run.stderr)")
            #expect(!FileManager.default.fileExists(atPath: path("y.safetensors")))
        }
    }
}
