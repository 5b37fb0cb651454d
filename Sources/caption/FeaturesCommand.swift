import ArgumentParser
import AtomicFiles
import CaptionData
import Captioning
import Foundation
import TensorCore
import Vision

/// `caption features`: runs an encoder once over a folder or a dataset and stores grid + pooled
/// features in one safetensors file; `caption features merge` joins shards.
struct Features: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compute CNN features of a folder or dataset once, for training (resumable, shardable).",
        subcommands: [FeaturesExtract.self, FeaturesMerge.self],
        defaultSubcommand: FeaturesExtract.self)
}

struct FeaturesExtract: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "extract",
        abstract: "Write grid [N, L, C] and pooled [N, C] features of the images (the default of `caption features`).",
        discussion: """
            Features are written once, into a draft in OUT.partial/ with a journal of the finished batches, and the \
            draft becomes OUT when it is complete, so running the same command again resumes where it stopped. Images that cannot be read are reported one per line and skipped \
            (or stop the run with --strict). Under `mpirun -np N` each rank encodes its slice (as --shard r/N) and \
            rank 0 joins the slices into OUT.
            """)

    @OptionGroup var runtime: RuntimeOptions
    @Option(help: "A folder of JPEG/PNG images (not recursive).") var images: String?
    @Option(help: "A caption dataset (any layout `caption train` reads); its images are encoded.") var data: String?
    @Option(help: "Encoder: \(ConvNetEncoder.names.joined(separator: ", ")).") var encoder = ConvNetEncoder.defaultName
    @Option(help: "Weights (.pth or .safetensors); default: the file scripts/bootstrap downloads.") var weights: String?
    @Option(help: "The feature file to write (safetensors).") var out: String
    @Option(parsing: .unconditional, help: "Images per encoder call.") var batchSize = 32
    @Option(help: "Only this part of the images, as i/n with 0 ≤ i < n (contiguous slices; join with `caption features merge`).")
    var shard: String?
    @Flag(help: "Store features as float16 (half the file size).") var float16 = false
    @Flag(help: "Stop at the first image that cannot be read instead of skipping it.") var strict = false
    @Option(parsing: .unconditional, help: "Refuse images with more pixels than this (decompression-bomb guard).") var maxPixels = ImageDecoder.defaultMaxPixels

    func validate() throws {
        if (images == nil) == (data == nil) { throw ValidationError("give exactly one of --images DIR or --data DATASET.") }
        try OptionCheck.integer(batchSize, "--batch-size", 1...4_096)
        try OptionCheck.integer(maxPixels, "--max-pixels", 1...OptionCheck.maximumPixels)
        _ = try shardRange(count: 0)
    }

    /// The slice of `count` images this shard covers.
    func shardRange(count: Int) throws -> Range<Int> {
        guard let shard else { return 0..<count }
        let parts = shard.split(separator: "/")
        guard parts.count == 2, let i = Int(parts[0]), let n = Int(parts[1]), n > 0, i >= 0, i < n else {
            throw ValidationError("--shard \(shard) is not i/n with 0 ≤ i < n, e.g. --shard 0/4.")
        }
        return (count * i / n)..<(count * (i + 1) / n)
    }

    /// (name stored in the file, where the image is), in row order.
    func imageList() throws -> (list: [(name: String, url: URL)], missing: [String]) {
        if let images {
            let folder = URL(fileURLWithPath: images, isDirectory: true)
            let names: [String]
            do {
                names = try FileManager.default.contentsOfDirectory(atPath: folder.path)
            } catch {
                throw CommandFailure("cannot list \(images) (\(AtomicFileError.reason(error))): pass --images a folder of JPEG/PNG files.")
            }
            let kept = names.filter { ["jpg", "jpeg", "png"].contains(($0 as NSString).pathExtension.lowercased()) }.sorted()
            return (kept.map { ($0, folder.appendingPathComponent($0)) }, [])
        }
        let dataset = try CaptionDataset.load(data!, checkImages: true)
        let missing = Set(dataset.missingImages)
        let present = dataset.items.filter { !missing.contains($0.image) }
        return (present.map { ($0.image, dataset.imageURL(for: $0)) }, dataset.missingImages.map { dataset.imagesDirectory.appendingPathComponent($0).path })
    }

    func run() throws {
        try runtime.apply()
        try OutputPath.checkFile(out, option: "--out")
        let group = CaptionTool.group
        guard group.size > 1 else {
            let (all, missing) = try imageList()
            _ = try extract(all, range: try shardRange(count: all.count), missing: missing, into: out)
            return
        }
        // Under mpirun each rank encodes its slice into its own shard (resumable as any run), then the
        // leader joins the shards in rank order: the file a single run writes. The ranks agree on how
        // the slices went first (CaptionTool.agree).
        let shardPath = { (rank: Int) in "\(out).rank-\(rank)-of-\(group.size)" }
        let written = try CaptionTool.agree {
            if shard != nil { throw ValidationError("--shard is the rank's under mpirun: drop --shard (or run the shards without mpirun).") }
            let (all, missing) = try imageList()
            // Every rank sees the same missing images; the leader reports them once.
            return try extract(all, range: group.share(of: all.count), missing: group.isLeader ? missing : [], into: shardPath(group.rank),
                               group: group)
        }
        let counts = group.gather([Int32(written)]).map { Int($0[0]) }
        if group.isLeader {
            let shards = (0..<group.size).filter { counts[$0] > 0 }.map { URL(fileURLWithPath: shardPath($0)) }
            guard !shards.isEmpty else {
                throw CommandFailure("none of the images could be read (reasons above), so \(out) was not written: fix or replace the images and run again.")
            }
            try FeatureFileWriter.assemble(parts: shards, into: URL(fileURLWithPath: out), float16: float16)
            for shard in shards { try? FileManager.default.removeItem(at: shard) }
            print("joined the features of \(counts.reduce(0, +)) images from \(group.size) ranks into \(out).")
        }
        group.barrier()
    }

    /// Encodes `all[range]` into `out`, resuming from `out.partial/`; returns the images written.
    /// Alone, it reports progress and a summary and refuses an empty run; as one rank of a group,
    /// only the leader reports, and a rank with no images (or none readable) writes nothing.
    func extract(_ all: [(name: String, url: URL)], range: Range<Int>, missing: [String], into out: String,
                 group: ProcessGroup? = nil) throws -> Int {
        let reports = group?.isLeader ?? true
        for path in missing {
            if strict { throw CommandFailure("\(path) does not exist: add the image or drop --strict to skip it.") }
            FileHandle.standardError.write(Data("caption: skipped \(path): the dataset names it but the file does not exist.\n".utf8))
        }
        let list = Array(all[range])
        if list.isEmpty && group != nil { return 0 }
        guard !list.isEmpty else {
            throw CommandFailure("no images to encode in \(images ?? data!)\(shard.map { " (shard \($0))" } ?? ""): check the path.")
        }
        let weightsURL = try EncoderLoading.weightsURL(name: encoder, weights: weights)
        let model = try ConvNetEncoder.load(name: encoder, weights: weightsURL)
        let outURL = URL(fileURLWithPath: out)
        let partial = URL(fileURLWithPath: out + ".partial", isDirectory: true)
        let crop = model.preprocessing.crop
        let format: SafeTensors.FloatFormat = float16 ? .f16 : .f32
        try PartialRun.prepare(partial, for: PartialRun(images: list.map(\.url), encoder: model.name, weights: weightsURL,
                                                        batchSize: batchSize, format: format.rawValue, maxPixels: maxPixels))
        let batches = stride(from: 0, to: list.count, by: batchSize).map { $0..<min($0 + batchSize, list.count) }
        let progress = reports ? ProgressBar(group == nil ? "features" : "features (rank 0 of \(group!.size))", total: list.count, unit: "images") : nil
        let started = Date()
        // Rows go straight into the output-to-be (its draft in OUT.partial/); each batch also leaves
        // a small journal entry there (its names, failures, pooled rows and the fingerprint of its
        // grid rows), so a later run keeps the batches, from the first on, whose rows are still
        // what was written (the last ones may not have reached the disk).
        let draft = try SafetensorsDraft(partial.appendingPathComponent("features.draft"),
                                         headerCapacity: SafetensorsDraft.capacity(forHeaderOf: FeatureFileWriter.largestHeader(names: list.map(\.name), encoder: model.name)))
        let elementSize = SafetensorsHeader.elementSizes[format.rawValue]!
        var rows: [String] = [], pooled = Data(), cells = 0, channels = 0
        var done = 0, encodedThisRun = 0, skipped = missing.count, resumed = 0
        var clock = PhaseClock()
        for (k, range) in batches.enumerated() {
            let resuming = encodedThisRun == 0
            let journal = partial.appendingPathComponent(String(format: "batch-%06d.safetensors", k))
            let expected = list[range].map(\.name)
            let expectedJSON = String(decoding: try JSONEncoder().encode(expected), as: UTF8.self)
            if resuming, let finished = try? SafeTensors.read(journal), finished.metadata["expected"] == expectedJSON,
               finished.metadata["encoder"] == model.name, finished.metadata["format"] == format.rawValue,
               finished.metadata["first_row"] == String(rows.count),
               let names = try? JSONDecoder().decode([String].self, from: Data((finished.metadata["images"] ?? "").utf8)),
               let shape = try? JSONDecoder().decode([Int].self, from: Data((finished.metadata["grid_shape"] ?? "").utf8)), shape.count == 2,
               shape.allSatisfy({ (0...1 << 20).contains($0) }),
               names.isEmpty || (finished["pooled"]?.shape == [names.count, shape[1]] && (rows.isEmpty || shape == [cells, channels])) {
                let rowBytes = shape[0] * shape[1] * elementSize
                var fingerprint = Fingerprint()
                if let stored = draft.read((rows.count * rowBytes)..<((rows.count + names.count) * rowBytes)) {
                    stored.withUnsafeBytes { fingerprint.add(raw: $0) }
                }
                if finished.metadata["rows_fingerprint"] == String(fingerprint.value) {
                    let failed = (try? JSONDecoder().decode([[String]].self, from: Data((finished.metadata["failed"] ?? "[]").utf8))) ?? []
                    for entry in failed { FileHandle.standardError.write(Data("caption: skipped (earlier run): \(entry.last ?? "")\n".utf8)) }
                    if !names.isEmpty {
                        (cells, channels) = (shape[0], shape[1])
                        let stored = finished["pooled"]!
                        format.append(UnsafeBufferPointer(start: stored.data, count: stored.count), to: &pooled)
                    }
                    rows += names
                    skipped += failed.count
                    done += range.count
                    resumed += range.count
                    continue
                }
            }
            let batch = clock.time(\.reading) {
                ImageBatch.load(list[range].map(\.url), preprocessing: model.preprocessing, maxPixels: maxPixels)
            }
            var failed: [[String]] = []
            for failure in batch.failures {
                if strict { throw CommandFailure("\(failure.reason) (--strict stops here; finished batches are kept for the next run)") }
                FileHandle.standardError.write(Data("\(progressClear())caption: skipped: \(failure.reason)\n".utf8))
                failed.append([expected[failure.index], failure.reason])
            }
            skipped += failed.count
            let names = batch.decoded.map { expected[$0] }
            var entry = SafeTensors(metadata: [
                "images": String(decoding: try JSONEncoder().encode(names), as: UTF8.self),
                "expected": expectedJSON, "failed": String(decoding: try JSONEncoder().encode(failed), as: UTF8.self),
                "encoder": model.name, "format": format.rawValue, "first_row": String(rows.count),
            ])
            var fingerprint = Fingerprint()
            if !batch.decoded.isEmpty {
                let features = try clock.time(\.encoding) {
                    try model.encode(batch.pixels, batch: batch.decoded.count, height: crop, width: crop)
                }
                (cells, channels) = (features.cells, features.channels)
                try clock.time(\.writing) {
                    var bytes = Data()
                    features.grid.withUnsafeBufferPointer { format.append($0, to: &bytes) }
                    try bytes.withUnsafeBytes { grid in
                        fingerprint.add(raw: grid)
                        try draft.write(grid, at: rows.count * cells * channels * elementSize)
                    }
                }
                features.pooled.withUnsafeBufferPointer { format.append($0, to: &pooled) }
                entry.tensors["pooled"] = Tensor(shape: [features.batch, features.channels], values: features.pooled)
            }
            entry.metadata["grid_shape"] = "[\(cells),\(channels)]"
            entry.metadata["rows_fingerprint"] = String(fingerprint.value)
            try clock.time(\.writing) { try entry.write(to: journal, floatFormat: format) }
            rows += names
            done += range.count
            encodedThisRun += range.count
            let rate = Double(encodedThisRun) / max(Date().timeIntervalSince(started), 1e-9)
            progress?.update(done, rate: rate, note: skipped > 0 ? "\(skipped) skipped" : "")
        }
        progress?.finish()
        let written = rows.count
        if written == 0 && group != nil {
            try? FileManager.default.removeItem(at: partial)
            return 0
        }
        guard written > 0 else {
            try? FileManager.default.removeItem(at: partial)
            throw CommandFailure("none of the \(list.count) images could be read (reasons above), so \(out) was not written"
                                 + (FileManager.default.fileExists(atPath: out) ? " and keeps its earlier features" : "")
                                 + ": fix or replace the images and run again.")
        }
        try clock.time(\.writing) {
            try pooled.withUnsafeBytes { try draft.write($0, at: written * cells * channels * elementSize) }
            try draft.finish(tensors: FeatureFileWriter.tensors(count: written, cells: cells, channels: channels, format: format),
                             metadata: FeatureFileWriter.metadata(images: rows, encoder: model.name, imageSize: crop), into: outURL)
        }
        try? FileManager.default.removeItem(at: partial)
        var summary = "wrote features of \(written) images to \(out) in " + clock.summary(total: Date().timeIntervalSince(started))
        if resumed > 0 { summary += " (\(resumed) resumed from an earlier run)" }
        if skipped > 0 { summary += "; \(skipped) image(s) could not be read and were skipped" }
        if reports { print(summary + ".") }
        return written
    }

    private func progressClear() -> String { isatty(STDERR_FILENO) != 0 ? "\r\u{1B}[K" : "" }
}

/// Where a feature run's time went, for its last line: on real photos the encoder is only part of it
/// (`docs/performance.md`, "From the file to the feature").
struct PhaseClock {
    var reading = 0.0, encoding = 0.0, writing = 0.0

    mutating func time<T>(_ phase: WritableKeyPath<PhaseClock, Double>, _ body: () throws -> T) rethrows -> T {
        let start = Date()
        defer { self[keyPath: phase] += Date().timeIntervalSince(start) }
        return try body()
    }

    func summary(total: Double) -> String {
        String(format: "%.1f s (reading images %.1f s, encoder %.1f s, writing features %.1f s)", total, reading, encoding, writing)
    }
}

struct FeaturesMerge: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Join feature shards (from --shard i/n) into one file, rows in the order the shards are given.")

    @Flag(help: "Store features as float16 (half the file size).") var float16 = false
    @Argument(help: "The feature file to write.") var out: String
    @Argument(help: "Shard files, in order.") var shards: [String]

    func validate() throws {
        if shards.isEmpty { throw ValidationError("give the shard files to merge after OUT.") }
    }

    func run() throws {
        try OutputPath.checkFile(out, option: "OUT")
        for shard in shards where !FileManager.default.fileExists(atPath: shard) {
            throw CommandFailure("\(shard) does not exist: pass the files `caption features --shard` wrote.")
        }
        try FeatureFileWriter.assemble(parts: shards.map { URL(fileURLWithPath: $0) }, into: URL(fileURLWithPath: out), float16: float16)
        let store = try FeatureStore(URL(fileURLWithPath: out))
        print("merged \(shards.count) shard(s) into \(out): \(store.count) images, \(store.featureSize) features each.")
    }
}

/// What an `OUT.partial/` folder was made from: the images (path, size, modification time), the
/// encoder and its weights file, and the settings that shape the batches. A later run resumes the
/// folder only when all of it is unchanged; otherwise it starts over, so a batch is never reused
/// for pictures or weights it was not computed from.
struct PartialRun: Codable, Equatable {
    struct FileStamp: Codable, Equatable {
        var path: String
        var size: Int64
        var modified: Double

        init(_ url: URL) {
            path = url.standardizedFileURL.path
            let attributes = try? FileManager.default.attributesOfItem(atPath: url.path)
            size = (attributes?[.size] as? NSNumber)?.int64Value ?? -1
            modified = (attributes?[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
        }
    }

    var images: [FileStamp]
    var encoder: String
    var weights: FileStamp
    var batchSize: Int
    var format: String
    var maxPixels: Int
    /// What the folder holds: 2 is a draft of OUT plus journal entries (1, without the field, held
    /// whole batches as parts); a folder of another layout starts over.
    var layout = 2

    init(images: [URL], encoder: String, weights: URL, batchSize: Int, format: String, maxPixels: Int) {
        self.images = images.map(FileStamp.init)
        self.encoder = encoder
        self.weights = FileStamp(weights)
        self.batchSize = batchSize
        self.format = format
        self.maxPixels = maxPixels
    }

    static let manifestName = "run.json"

    /// Makes `folder` hold this run's batches: kept when an earlier run of the same inputs left it,
    /// emptied (with a note) when it was made from anything else.
    static func prepare(_ folder: URL, for run: PartialRun) throws {
        let manifest = folder.appendingPathComponent(manifestName)
        if FileManager.default.fileExists(atPath: folder.path) {
            let earlier = (try? Data(contentsOf: manifest)).flatMap { try? JSONDecoder().decode(PartialRun.self, from: $0) }
            if earlier == run { return }
            FileHandle.standardError.write(Data("caption: \(folder.path) was left by a run of other images, weights or settings; starting over.\n".utf8))
            do {
                try FileManager.default.removeItem(at: folder)
            } catch {
                throw CommandFailure("cannot clear \(folder.path) (\(AtomicFileError.reason(error))): remove it by hand and run again.")
            }
        }
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try AtomicFile.write(try JSONEncoder().encode(run), to: manifest)
        } catch {
            throw CommandFailure("cannot create \(folder.path) (\(AtomicFileError.reason(error))): choose a writable --out location.")
        }
    }
}
