import Captioning
import Foundation
import TensorCore
import Testing
import TestSupport

/// The promises a hostile user tests first, through the real executable: an interrupted run resumes
/// to the same weights, a diverging run or a bad number damages nothing, and outputs are checked
/// before any work starts.
@Suite struct ReliabilityTests {
    let fixture: CaptionFixture
    static let images = (0..<60).map { "img\($0).png" }

    init() throws {
        let words = ["a", "red", "blue", "green", "circle", "square", "star", "above", "below", "left", "of", "the", "big", "small"]
        var rng = RandomGenerator(seed: 11)
        fixture = try CaptionFixture("cli-reliability", images: Self.images, captions: { _ in
            (0..<3).map { _ in (0..<(3 + rng.int(below: 6))).map { _ in words[rng.int(below: words.count)] }.joined(separator: " ") }
        }, split: (48, 6), featureSize: 16, seed: 12)
    }

    var dir: URL { fixture.dir }
    func write(_ name: String, _ text: String) throws { try fixture.write(name, text) }
    func path(_ name: String) -> String { fixture.path(name) }

    func trainArguments(out: String, epochs: Int = 30, extra: [String] = []) -> [String] {
        ["train", "--data", dir.path, "--features", path("features.safetensors"), "--arch", "soft-attention-gru", "--out", out,
         "--epochs", String(epochs), "--batch-size", "4", "--min-count", "1", "--embed", "16", "--hidden", "48", "--attention", "16",
         "--patience", "1000", "--seed", "5"] + extra
    }

    /// Every tensor of two safetensors files, equal bit for bit.
    func expectSameTensors(_ a: String, _ b: String, _ what: String) throws {
        let (x, y) = (try SafeTensors.read(URL(fileURLWithPath: a)), try SafeTensors.read(URL(fileURLWithPath: b)))
        #expect(Set(x.tensors.keys) == Set(y.tensors.keys), "\(what): the same tensors")
        #expect(!x.tensors.isEmpty)
        for (key, tensor) in x.tensors {
            guard let other = y.tensors[key] else { continue }
            #expect(tensor.shape == other.shape && tensor.scalars == other.scalars, "\(what): \(key) differs")
        }
    }

    /// Ctrl-C in the middle of an epoch and kill -9 at any moment: `--resume` ends with the weights
    /// and optimizer state of a run never interrupted, tensor by tensor.
    @Test(arguments: [SIGINT, SIGKILL]) func resumeAfterASignalEqualsAnUninterruptedRun(signal: Int32) throws {
        let whole = try runCaption(trainArguments(out: path("whole.safetensors")))
        #expect(whole.status == 0, "\(whole.stderr)")

        let out = path("cut.safetensors")
        let first = try RunningCaption(trainArguments(out: out))
        // The checkpoint exists from the end of the first epoch on; signal the run soon after.
        #expect(eventually { FileManager.default.fileExists(atPath: out + ".checkpoint") })
        usleep(30_000)
        first.signal(signal)
        let stopped = first.wait()
        #expect(stopped.status == (signal == SIGINT ? 130 : 128 + SIGKILL), "the run was still going when signalled: \(stopped.stdout)")
        if signal == SIGINT { #expect(stopped.stdout.contains("--resume"), "\(stopped.stdout)") }

        let resumed = try runCaption(trainArguments(out: out, extra: ["--resume"]))
        #expect(resumed.status == 0, "\(resumed.stderr)")
        try expectSameTensors(out + ".checkpoint", path("whole.safetensors.checkpoint"), "checkpoint")
        try expectSameTensors(out, path("whole.safetensors"), "best model")
        let log = try String(contentsOfFile: out + ".log.jsonl", encoding: .utf8)
        #expect(log.split(separator: "\n").count == 30, "every epoch once in the log")
    }

    @Test func resumeRefusesAnotherArchitecture() throws {
        let out = path("model.safetensors")
        #expect(try runCaption(trainArguments(out: out, epochs: 1)).status == 0)
        let other = try runCaption(trainArguments(out: out, epochs: 2, extra: ["--resume", "--hidden", "32"]))
        #expect(other.status != 0 && other.stderr.contains("hidden 48") && other.stderr.contains("without --resume"), "\(other.stderr)")
    }

    /// `--lr 1e10` (and NaN anywhere) stops the run with a sentence, and the model it would have
    /// replaced, its checkpoint and its log stay byte for byte as they were.
    @Test func aDivergingRunLeavesEveryOutputAsItWas() throws {
        let out = path("model.safetensors")
        #expect(try runCaption(trainArguments(out: out, epochs: 1)).status == 0)
        let before = try [out, out + ".checkpoint", out + ".log.jsonl"].map { try Data(contentsOf: URL(fileURLWithPath: $0)) }
        let run = try runCaption(trainArguments(out: out, epochs: 2, extra: ["--lr", "1e10"]))
        #expect(run.status == 1, "\(run.stderr)")
        #expect(run.stderr.contains("diverged") && run.stderr.contains("lower --lr"), "\(run.stderr)")
        let after = try [out, out + ".checkpoint", out + ".log.jsonl"].map { try Data(contentsOf: URL(fileURLWithPath: $0)) }
        #expect(before == after)
    }

    /// A full disk (a 256 KB tmpfs, so root only): the write fails with the system's reason, the
    /// model already there is intact and no temporary file is left behind.
    @Test(.enabled(if: geteuid() == 0, "mounting a small tmpfs needs root")) func aFullDiskLeavesTheExistingModelIntact() throws {
        let disk = path("disk")
        try FileManager.default.createDirectory(atPath: disk, withIntermediateDirectories: true)
        guard shell("/bin/mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", disk) == 0 else {
            print("aFullDiskLeavesTheExistingModelIntact: skipped, this sandbox cannot mount a tmpfs")
            return
        }
        defer { _ = shell("/bin/umount", disk) }
        let out = disk + "/model.safetensors"
        #expect(try runCaption(trainArguments(out: out, epochs: 1, extra: ["--checkpoint", path("c.checkpoint"), "--log", path("log.jsonl")])).status == 0)
        let before = try Data(contentsOf: URL(fileURLWithPath: out))
        try? Data(repeating: 1, count: 1 << 20).write(to: URL(fileURLWithPath: disk + "/filler"))  // fills what is left
        let full = try runCaption(trainArguments(out: out, epochs: 1, extra: ["--checkpoint", path("c2.checkpoint"), "--log", path("log2.jsonl")]))
        #expect(full.status == 1 && full.stderr.contains("No space left on device") && full.stderr.contains(out), "\(full.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: out)) == before)
        #expect(try FileManager.default.contentsOfDirectory(atPath: disk).sorted() == ["filler", "model.safetensors"])
    }

    /// Every numeric option is checked where it is parsed: one sentence naming the option, exit 64
    /// (usage), no crash and no work started.
    @Test(arguments: [
        (["--batch-size", "0"], "--batch-size"), (["--dropout", "1.5"], "--dropout"), (["--threads", "100000"], "--threads"),
        (["--lr", "nan"], "--lr"), (["--lr", "-1"], "--lr"), (["--max-words", "0"], "--max-words"), (["--epochs", "0"], "--epochs"),
        (["--clip", "inf"], "--clip"), (["--hidden", "-3"], "--hidden"), (["--scheduled-sampling", "2"], "--scheduled-sampling"),
        (["--time-budget", "-1"], "--time-budget"), (["--min-count", "0"], "--min-count"),
    ])
    func badTrainingNumbersAreRefusedByName(flag: [String], option: String) throws {
        let run = try runCaption(trainArguments(out: path("m.safetensors"), extra: flag))
        #expect(run.status == 64, "\(flag): \(run.status) \(run.stderr)")
        #expect(run.stderr.hasPrefix("Error: \(option) must be"), "\(flag): \(run.stderr)")
        #expect(!FileManager.default.fileExists(atPath: path("m.safetensors")))
    }

    @Test(arguments: [
        (["predict", "--beam", "-3"], "--beam"), (["predict", "--beam", "100000"], "--beam"), (["predict", "--max-words", "0"], "--max-words"),
        (["predict", "--length-penalty", "nan"], "--length-penalty"), (["predict", "--batch-size", "0"], "--batch-size"),
        (["predict", "--max-pixels", "4000000000"], "--max-pixels"), (["classify", "--max-pixels", "4000000000"], "--max-pixels"),
        (["features", "--images", ".", "--out", "x", "--batch-size", "-1"], "--batch-size"), (["serve", "--port", "70000"], "--port"),
        (["serve", "--timeout-s", "nan"], "--timeout-s"), (["serve", "--body-timeout-s", "0"], "--body-timeout-s"),
        (["evaluate", "--threads", "0"], "--threads"), (["synth", "--out", "x", "--images", "-5"], "--images"),
    ])
    func badNumbersOfOtherCommandsAreRefusedByName(arguments: [String], option: String) throws {
        let needsModel = ["predict", "serve"].contains(arguments[0])
        let run = try runCaption(arguments + (needsModel ? ["--model", "m.safetensors"] : []) + (arguments[0] == "predict" || arguments[0] == "classify" ? ["x.png"] : []))
        #expect(run.status == 64, "\(arguments): \(run.status) \(run.stderr)")
        #expect(run.stderr.contains("\(option) must be"), "\(arguments): \(run.stderr)")
    }

    /// Output paths are checked before the data is read or an epoch is trained.
    @Test func unwritableOutputsAreRefusedBeforeAnyWork() throws {
        let missing = try runCaption(trainArguments(out: "/no/such/folder/model.safetensors"))
        #expect(missing.status != 0 && missing.stderr.contains("/no/such/folder does not exist"), "\(missing.stderr)")
        #expect(!missing.stdout.contains("training"), "refused before training started")
        try write("plain-file", "x")
        let underFile = try runCaption(trainArguments(out: path("plain-file/model.safetensors")))
        #expect(underFile.status != 0 && underFile.stderr.contains("plain-file is a file, not a folder"), "\(underFile.stderr)")
        #expect(!underFile.stderr.contains("NSCocoaErrorDomain"))
        let folder = try runCaption(trainArguments(out: dir.path))
        #expect(folder.status != 0 && folder.stderr.contains("it is a folder"), "\(folder.stderr)")
        let synth = try runCaption(["synth", "--out", path("plain-file/shapes"), "--images", "10"])
        #expect(synth.status != 0 && synth.stderr.contains("plain-file is a file, not a folder"), "\(synth.stderr)")
        let classify = try runCaption(["classify", dir.path])
        #expect(classify.status != 0 && classify.stderr.contains("is a folder, not an image"), "\(classify.stderr)")
        #expect(!classify.stderr.contains("NSCocoaErrorDomain"))
    }

    /// A `.pth` is a PyTorch state dict: the message says to import it.
    @Test func aPyTorchCheckpointGivenAsAModelPointsToImport() throws {
        try Data([0x50, 0x4B, 0x03, 0x04] + [UInt8](repeating: 7, count: 64)).write(to: dir.appendingPathComponent("twin.pth"))
        try Data([0x80, 0x02, 0x7D, 0x71] + [UInt8](repeating: 7, count: 64)).write(to: dir.appendingPathComponent("legacy.pth"))
        for name in ["twin.pth", "legacy.pth"] {
            let run = try runCaption(["predict", "--model", path(name), "--features", path("features.safetensors")])
            #expect(run.status != 0 && run.stderr.contains("is a PyTorch checkpoint") && run.stderr.contains("caption import"), "\(run.stderr)")
        }
    }

    /// A model whose scores are not finite still prints JSON (null, never nan).
    @Test func nonFiniteScoresPrintAsJSONNull() throws {
        let vocabulary = ["<pad>", "<start>", "<end>", "<unk>", "red"]
        let config = DecoderConfig(architecture: .showTellGRU, vocabularySize: vocabulary.count, featureSize: 16, embeddingSize: 8, hiddenSize: 8)
        let decoder = try makeDecoder(config, source: .initialise(seed: 1))
        let bias = try #require(decoder.namedParameters.first { $0.name == "out.bias" }?.tensor)
        bias.data[4] = .infinity
        try CaptionModel(decoder: decoder, metadata: ModelMetadata(decoder: config, vocabulary: vocabulary, encoder: EncoderInfo(), provenance: Provenance()))
            .save(to: dir.appendingPathComponent("inf.safetensors"))
        let run = try runCaption(["predict", "--model", path("inf.safetensors"), "--features", path("features.safetensors"),
                                  "--image", "img0.png", "--json", "--beam", "2", "--max-words", "3"])
        #expect(run.status == 0, "\(run.stderr)")
        let line = try #require(run.stdout.split(separator: "\n").first)
        #expect(!line.contains("nan") && !line.contains("inf"), "\(line)")
        #expect(try JSONSerialization.jsonObject(with: Data(line.utf8)) is [String: Any], "\(line)")
    }

    /// Real images for `caption features` (Shapes scenes), in `folder`, as a.png, b.png, …
    func shapesImages(_ names: [String], in folder: String, seed: Int = 2) throws {
        let synth = try runCaption(["synth", "--out", path("synth-\(seed)"), "--images", "10", "--seed", String(seed)])
        #expect(synth.status == 0, "\(synth.stderr)")
        try FileManager.default.createDirectory(atPath: path(folder), withIntermediateDirectories: true)
        let rendered = try FileManager.default.contentsOfDirectory(atPath: path("synth-\(seed)/Images")).sorted()
        for (name, source) in zip(names, rendered) {
            try? FileManager.default.removeItem(atPath: path("\(folder)/\(name)"))
            try FileManager.default.copyItem(atPath: path("synth-\(seed)/Images/\(source)"), toPath: path("\(folder)/\(name)"))
        }
    }

    /// No readable image: an error, and the feature file of an earlier run is left as it was.
    @Test func aFeatureRunWithNoReadableImageKeepsTheOldFile() throws {
        try FileManager.default.createDirectory(atPath: path("junk"), withIntermediateDirectories: true)
        try write("junk/a.png", "not a picture")
        try Data().write(to: dir.appendingPathComponent("junk/b.jpg"))
        let old = try Data(contentsOf: dir.appendingPathComponent("features.safetensors"))
        let run = try runCaption(["features", "--images", path("junk"), "--out", path("features.safetensors")])
        if run.stderr.contains("bootstrap") { return }  // no encoder weights on this machine
        #expect(run.status == 1, "\(run.stderr)")
        #expect(run.stderr.contains("none of the 2 images could be read") && run.stderr.contains("keeps its earlier features"), "\(run.stderr)")
        #expect(try Data(contentsOf: dir.appendingPathComponent("features.safetensors")) == old)
    }

    /// OUT.partial/ resumes only a run of the same inputs: an image replaced under the same name
    /// makes the next run start over, and its features are those of a fresh run.
    @Test func aPartialFeatureRunResumesOnlyTheSameInputs() throws {
        try shapesImages(["a.png", "b.png"], in: "photos")
        try write("photos/c.png", "not a picture")
        let arguments = ["features", "--images", path("photos"), "--batch-size", "1"]
        let stopped = try runCaption(arguments + ["--out", path("f.safetensors"), "--strict"])
        if stopped.stderr.contains("bootstrap") { return }
        #expect(stopped.status != 0 && stopped.stderr.contains("c.png"), "\(stopped.stderr)")
        #expect(FileManager.default.fileExists(atPath: path("f.safetensors.partial")))
        let same = try runCaption(arguments + ["--out", path("f.safetensors")])
        #expect(same.status == 0 && same.stdout.contains("2 resumed from an earlier run"), "\(same.stdout) \(same.stderr)")

        #expect(try runCaption(arguments + ["--out", path("g.safetensors"), "--strict"]).status != 0)
        try shapesImages(["a.png"], in: "photos", seed: 3)     // another picture under the same name
        let changed = try runCaption(arguments + ["--out", path("g.safetensors")])
        #expect(changed.status == 0 && changed.stderr.contains("starting over") && !changed.stdout.contains("resumed"),
                "\(changed.stdout) \(changed.stderr)")
        #expect(try runCaption(arguments + ["--out", path("fresh.safetensors")]).status == 0)
        try expectSameTensors(path("g.safetensors"), path("fresh.safetensors"), "features after the restart")
    }

    /// A resumed feature run checks the grid rows each finished batch left in the draft: a batch
    /// whose rows changed on disk (a crash before they reached it) is encoded again, with every batch
    /// after it, and the file equals a fresh run's.
    @Test func aResumedFeatureRunReencodesBatchesWhoseRowsChanged() throws {
        try shapesImages(["a.png", "b.png", "c.png"], in: "rows")
        try write("rows/d.png", "not a picture")
        let arguments = ["features", "--images", path("rows"), "--batch-size", "1"]
        let stopped = try runCaption(arguments + ["--out", path("r.safetensors"), "--strict"])
        if stopped.stderr.contains("bootstrap") { return }
        #expect(stopped.status != 0 && stopped.stderr.contains("d.png"), "\(stopped.stderr)")
        let journal = try SafeTensors.read(URL(fileURLWithPath: path("r.safetensors.partial/batch-000000.safetensors")))
        let shape = try JSONDecoder().decode([Int].self, from: Data(try #require(journal.metadata["grid_shape"]).utf8))
        let rowBytes = UInt64(shape[0] * shape[1] * 4)
        let draft = try FileHandle(forUpdating: URL(fileURLWithPath: path("r.safetensors.partial/features.draft")))
        let end = try draft.seekToEnd()                   // the header room, then rows a, b, c
        try draft.seek(toOffset: end - rowBytes - rowBytes / 2)
        try draft.write(contentsOf: Data(repeating: 0xAB, count: 16))   // in b's rows
        try draft.close()

        let resumed = try runCaption(arguments + ["--out", path("r.safetensors")])
        #expect(resumed.status == 0 && resumed.stdout.contains("(1 resumed from an earlier run)"), "\(resumed.stdout) \(resumed.stderr)")
        #expect(try runCaption(arguments + ["--out", path("fresh.safetensors")]).status == 0)
        try expectSameTensors(path("r.safetensors"), path("fresh.safetensors"), "features after rows were damaged")
    }

    /// Ctrl-C in the middle of a feature run keeps its finished batches in OUT.partial/ and writes no
    /// OUT; the next run resumes from them and writes the same features as a run never stopped.
    @Test func anInterruptedFeatureRunResumesToTheSameFeatures() throws {
        try shapesImages((0..<10).map { "s\($0).png" }, in: "ten")
        try FileManager.default.createDirectory(atPath: path("many"), withIntermediateDirectories: true)
        for copy in 0..<20 {
            for k in 0..<10 { try FileManager.default.copyItem(atPath: path("ten/s\(k).png"), toPath: path("many/\(copy)-\(k).png")) }
        }
        let arguments = ["features", "--images", path("many"), "--batch-size", "1"]
        let whole = try runCaption(arguments + ["--out", path("whole.safetensors")])
        if whole.stderr.contains("bootstrap") { return }  // no encoder weights on this machine
        #expect(whole.status == 0, "\(whole.stderr)")

        let out = path("cut.safetensors")
        let first = try RunningCaption(arguments + ["--out", out])
        let parts = { (try? FileManager.default.contentsOfDirectory(atPath: out + ".partial"))?.filter { $0.hasPrefix("batch-") }.count ?? 0 }
        #expect(eventually { parts() >= 3 })
        first.signal(SIGINT)
        let stopped = first.wait()
        #expect(stopped.status == 130, "the run was still going when signalled: \(stopped.stdout)")
        #expect(!FileManager.default.fileExists(atPath: out) && parts() >= 3)

        let resumed = try runCaption(arguments + ["--out", out])
        #expect(resumed.status == 0 && resumed.stdout.contains("resumed from an earlier run"), "\(resumed.stdout) \(resumed.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out + ".partial"))
        try expectSameTensors(out, path("whole.safetensors"), "features after the resume")
    }

    /// A port another process holds: one sentence naming it, and the way out.
    @Test func aPortInUseIsNamed() throws {
        let vocabulary = ["<pad>", "<start>", "<end>", "<unk>", "red"]
        let config = DecoderConfig(architecture: .showTellGRU, vocabularySize: vocabulary.count, featureSize: 1280, embeddingSize: 8, hiddenSize: 8)
        try CaptionModel(decoder: try makeDecoder(config, source: .initialise(seed: 1)),
                         metadata: ModelMetadata(decoder: config, vocabulary: vocabulary, encoder: EncoderInfo(), provenance: Provenance()))
            .save(to: dir.appendingPathComponent("serve.safetensors"))
        let (socket, port) = try listeningSocket()
        defer { close(socket) }
        let run = try runCaption(["serve", "--model", path("serve.safetensors"), "--port", String(port)])
        if run.stderr.contains("bootstrap") { return }  // no encoder weights here: nothing to serve
        #expect(run.status != 0 && run.stderr.contains("127.0.0.1:\(port)") && run.stderr.contains("already in use") && run.stderr.contains("--port"),
                "\(run.stderr)")
    }
}

/// Runs a system command; its exit status.
func shell(_ command: String, _ arguments: String...) -> Int32 {
    (try? runCaption(arguments, timeout: .seconds(60), executable: URL(fileURLWithPath: command)))?.status ?? -1
}

/// A TCP socket listening on a free loopback port, and that port.
func listeningSocket() throws -> (Int32, Int) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && listen(fd, 4) == 0 && getsockname(fd, $0, &length) == 0 }
    }
    guard bound else { close(fd); throw CocoaError(.fileWriteUnknown) }
    return (fd, Int(UInt16(bigEndian: address.sin_port)))
}
