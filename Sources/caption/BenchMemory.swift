import Captioning
import Foundation
import Layers
import TensorCore

/// The benchmark's memory workloads: peak and resident memory of training, each measured in a
/// child process of its own so one workload's peak does not hide another's.
extension Bench {
    static let memoryKeys = ["train_peak_rss_mb", "train_flickr8k_rss_anon_mb", "train_flickr8k_peak_rss_mb"]

    /// Fields of /proc/self/status in MiB (VmHWM, VmRSS, RssAnon, RssFile); nil off Linux.
    static func memoryStatus() -> [String: Double] {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return [:] }
        var out: [String: Double] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(whereSeparator: { $0 == ":" || $0 == " " || $0 == "\t" })
            if parts.count >= 2, let kb = Double(parts[1]) { out[String(parts[0])] = kb / 1024 }
        }
        return out
    }

    /// Resets VmHWM to the current RSS (Linux ≥ 4.0), so a peak belongs to the workload measured.
    static func resetPeakRSS() {
        try? "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8)
    }

    /// The memory figures: peak RSS of training the largest decoder (soft attention) on the SPEC §5
    /// batch, and training on a Flickr8k-sized memory-mapped feature store (8,091 × 49 × 1280
    /// float32, 2 GB on disk): peak anonymous memory (must stay under 1 GB) and peak RSS. Each is
    /// measured in a fresh process unless it is the only key asked for.
    static func memoryWorkloads(seconds: Double, isolated: Bool, threads: Int?) -> [Workload] {
        memoryKeys.map { key in
            Workload(key: key, unit: "MiB") {
                if !isolated { return measureInChild(key: key, seconds: seconds, threads: threads) }
                return key == "train_peak_rss_mb" ? trainPeakRSS() : trainOnMappedStore()[key] ?? .nan
            }
        }
    }

    /// This executable, to run a workload or a busy loop in a process of its own.
    static var executableURL: URL {
        let invoked = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL
        if !FileManager.default.isExecutableFile(atPath: invoked.path), let path = Bundle.main.executablePath {
            return URL(fileURLWithPath: path)
        }
        return invoked
    }

    static func measureInChild(key: String, seconds: Double, threads: Int?) -> Double {
        let process = Process()
        process.executableURL = executableURL
        process.arguments = ["bench", "--json", "--only", key, "--seconds", String(seconds), "--precision", Precision.defaultMatmul.rawValue]
            + (threads.map { ["--threads", String($0)] } ?? [])
        let pipe = Pipe()
        process.standardOutput = pipe
        do { try process.run() } catch { return .nan }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let value = (object[key] as? NSNumber)?.doubleValue else { return .nan }
        return value
    }

    static func trainPeakRSS() -> Double {
        let (v, c, l, b) = (3000, 1280, 49, 64)
        var rng = RandomGenerator(seed: 0)
        let tokens = flickrLikeTokens(batch: b, vocabulary: v, rng: &rng)
        let features = ImageFeatures(pooled: Tensor.randn([b, c], rng: &rng), grid: Tensor.randn([b, l, c], rng: &rng))
        let decoder = try! makeDecoder(DecoderConfig(architecture: .softAttentionGRU, vocabularySize: v, featureSize: c), source: .initialise(seed: 0))
        let optimizer = Adam(decoder.namedParameters, learningRate: 4e-4)
        decoder.setTraining(true)
        resetPeakRSS()
        for _ in 0..<3 { trainStep(decoder, optimizer, features, tokens) }
        return memoryStatus()["VmHWM"] ?? .nan
    }

    /// One training step as `Trainer` takes it: fused loss, backward, clipping at 5, Adam.
    static func trainStep(_ decoder: CaptionDecoder, _ optimizer: Adam, _ features: ImageFeatures, _ tokens: IntTensor) {
        let tape = Tape()
        let loss = tape.record {
            decoder.trainingLoss(features, tokens: tokens, attentionPenalty: decoder.config.architecture.defaultAttentionPenalty)
        }
        tape.backward(from: loss)
        optimizer.step(gradientScale: gradientClipping(decoder.parameters, maxNorm: 5).coefficient)
        optimizer.zeroGrad()
    }

    /// Writes (once) a Flickr8k-sized float32 feature store, then reads every row in batches of 64
    /// as an epoch does, with soft-attention training steps on the first batches; samples RssAnon
    /// after every batch.
    static func trainOnMappedStore() -> [String: Double] {
        let (images, l, c, b) = (8091, 49, 1280, 64)
        let url = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("captioner-bench/flickr8k-features-f32.safetensors")
        guard (try? writeFeatureStore(url, images: images, cells: l, channels: c)) != nil,
              let store = try? FeatureStore(url) else { return [:] }
        var rng = RandomGenerator(seed: 0)
        let decoder = try! makeDecoder(DecoderConfig(architecture: .softAttentionGRU, vocabularySize: 3000, featureSize: c), source: .initialise(seed: 0))
        let optimizer = Adam(decoder.namedParameters, learningRate: 4e-4)
        decoder.setTraining(true)
        let tokens = flickrLikeTokens(batch: b, vocabulary: 3000, rng: &rng)
        var order = Array(0..<images)
        for i in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(i, rng.int(below: i + 1)) }
        resetPeakRSS()
        var anon = memoryStatus()["RssAnon"] ?? 0
        var batchIndex = 0
        for start in stride(from: 0, to: images, by: b) {
            let rows = Array(order[start..<min(images, start + b)])
            let features = store.features(rows: rows)
            if batchIndex < 3 && rows.count == b { trainStep(decoder, optimizer, features, tokens) }
            batchIndex += 1
            anon = max(anon, memoryStatus()["RssAnon"] ?? 0)
        }
        return ["train_flickr8k_rss_anon_mb": anon, "train_flickr8k_peak_rss_mb": memoryStatus()["VmHWM"] ?? .nan]
    }

    /// A safetensors file as `caption features` writes it: pooled [N, C] and grid [N, L, C] float32.
    static func writeFeatureStore(_ url: URL, images: Int, cells: Int, channels: Int) throws {
        let names = (0..<images).map { String(format: "%05d.jpg", $0) }
        let namesJSON = String(decoding: try JSONSerialization.data(withJSONObject: names), as: UTF8.self)
        let tensors: [SafetensorsWriter.Planned] = [.init(name: "pooled", dtype: "F32", shape: [images, channels]),
                                                    .init(name: "grid", dtype: "F32", shape: [images, cells, channels])]
        let metadata = ["images": namesJSON, "encoder": "efficientnet-lite0", "image_size": "224"]
        let total = SafetensorsWriter.header(for: tensors, metadata: metadata).count + (images * channels + images * cells * channels) * 4
        if let size = (try? FileManager.default.attributesOfItem(atPath: url.path))?[.size] as? Int, size == total { return }
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        let writer = try SafetensorsWriter(url, tensors: tensors, metadata: metadata)
        // 1 MiB of N(0, 1) values, repeated: the values do not matter, only the size does.
        var rng = RandomGenerator(seed: 3)
        let block = Tensor.randn([1 << 18], rng: &rng)
        let chunk = Data(bytes: block.data, count: block.count * 4)
        var remaining = total - SafetensorsWriter.header(for: tensors, metadata: metadata).count
        while remaining > 0 {
            let n = min(remaining, chunk.count)
            try writer.append(chunk.prefix(n))
            remaining -= n
        }
        try writer.finish()
    }
}
