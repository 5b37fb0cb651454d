import AtomicFiles
import Dispatch
import Foundation

/// One generated example: the scene, its captions and its PNG file name.
public struct ShapesExample: Sendable, Equatable {
    public var fileName: String
    public var scene: ShapeScene
    public var captions: [String]
}

public enum ShapesDataset {
    /// Example `index` of the run with `seed`. Each example has its own random stream, so any one
    /// of them can be regenerated alone (tests use this to check captions against scenes).
    public static func example(index: Int, of total: Int, seed: UInt64, relations: Bool) -> ShapesExample {
        var rng = SplitMix64.stream(seed: seed, index: UInt64(index))
        let scene = SceneSampler.scene(using: &rng, relations: relations)
        let captions = SceneCaptioner.captions(for: scene, count: 5, relations: relations, using: &rng)
        return ShapesExample(fileName: fileName(index: index, total: total), scene: scene, captions: captions)
    }

    /// `00000.png`: zero-padded to five digits (more if needed) so names sort in generation order.
    public static func fileName(index: Int, total: Int) -> String {
        let digits = max(5, String(max(total - 1, 0)).count)
        let number = String(index)
        return String(repeating: "0", count: max(0, digits - number.count)) + number + ".png"
    }

    /// 80 % train, 10 % val, the rest test, in generation order (the examples are independent draws,
    /// so contiguous blocks are as random as any shuffle).
    public static func split(ofIndex index: Int, total: Int) -> Split {
        let trainCount = total * 8 / 10
        let valCount = total / 10
        if index < trainCount { return .train }
        if index < trainCount + valCount { return .val }
        return .test
    }

    /// A CSV field, quoted when it holds a delimiter, quote, line break or edge space (RFC 4180).
    static func csvField(_ text: String) -> String {
        let needsQuotes = text.contains { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }
            || text.first == " " || text.last == " "
        return needsQuotes ? "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : text
    }
}

/// Writes the Shapes dataset in the Flickr8k Kaggle layout — `Images/NNNNN.png`, `captions.txt`
/// (header `image,caption`, five captions per image) — plus `splits/{train,val,test}.txt` (80/10/10).
///
/// Everything is written into a hidden sibling directory first and renamed into place at the end,
/// so an interrupted run leaves any earlier dataset intact. An existing destination is replaced
/// only if it is empty or is itself a Shapes-style dataset (has `captions.txt` and `Images/`).
/// The same seed gives byte-identical files.
public func writeShapesDataset(to destination: URL, images: Int, seed: UInt64, relations: Bool,
                               progress: ((Int) -> Void)?) throws {
    guard images > 0 else {
        throw DatasetError(file: destination.path, problem: "the number of images must be at least 1",
                           fix: "ask for one or more images")
    }
    let fileManager = FileManager.default
    let destination = destination.standardizedFileURL
    let parent = destination.deletingLastPathComponent()
    try ShapesOutput.checkReplaceable(destination)
    do {
        try fileManager.createDirectory(at: parent, withIntermediateDirectories: true)
    } catch {
        throw DatasetError(file: parent.path, problem: "the output directory cannot be created (\(AtomicFileError.reason(error)))",
                           fix: "choose a writable location")
    }
    let staging = parent.appendingPathComponent(".\(destination.lastPathComponent).partial-\(getpid())")
    try? fileManager.removeItem(at: staging)
    do {
        try fileManager.createDirectory(at: staging.appendingPathComponent("Images"), withIntermediateDirectories: true)
        try fileManager.createDirectory(at: staging.appendingPathComponent("splits"), withIntermediateDirectories: true)
    } catch {
        throw DatasetError(file: staging.path, problem: "cannot create the output (\(AtomicFileError.reason(error)))",
                           fix: "choose a writable location")
    }

    do {
        var captionLines = ["image,caption"]
        var splitLines: [Split: [String]] = [.train: [], .val: [], .test: []]
        let chunkSize = 64
        var done = 0
        while done < images {
            let chunk = done..<min(done + chunkSize, images)
            let examples = chunk.map { ShapesDataset.example(index: $0, of: images, seed: seed, relations: relations) }
            // Rendering and PNG compression dominate; they are independent per image.
            let failures = FailureSlot()
            DispatchQueue.concurrentPerform(iterations: examples.count) { offset in
                let example = examples[offset]
                do {
                    let png = try PNGEncoder.encode(SceneRenderer.render(example.scene))
                    let url = staging.appendingPathComponent("Images").appendingPathComponent(example.fileName)
                    do {
                        try png.write(to: url)
                    } catch {
                        throw DatasetError(file: url.path, problem: "could not be written (\(AtomicFileError.reason(error)))",
                                           fix: "free some disk space or choose a writable output directory")
                    }
                } catch {
                    failures.record(error)
                }
            }
            if let error = failures.first { throw error }
            for (offset, example) in examples.enumerated() {
                for caption in example.captions {
                    captionLines.append("\(example.fileName),\(ShapesDataset.csvField(caption))")
                }
                splitLines[ShapesDataset.split(ofIndex: chunk.lowerBound + offset, total: images)]!.append(example.fileName)
            }
            done = chunk.upperBound
            progress?(done)
        }
        try AtomicFile.write(captionLines.joined(separator: "\n") + "\n", to: staging.appendingPathComponent("captions.txt"))
        for split in Split.allCases {
            let names = splitLines[split]!
            try AtomicFile.write(names.isEmpty ? "" : names.joined(separator: "\n") + "\n",
                                 to: staging.appendingPathComponent("splits/\(split.rawValue).txt"))
        }
        try ShapesOutput.moveIntoPlace(staging, destination)
    } catch {
        try? fileManager.removeItem(at: staging)
        throw error
    }
}

/// Collects the first error thrown by concurrent workers.
private final class FailureSlot: @unchecked Sendable {
    private let lock = NSLock()
    private var error: Error?

    func record(_ error: Error) {
        lock.lock()
        if self.error == nil { self.error = error }
        lock.unlock()
    }

    var first: Error? {
        lock.lock()
        defer { lock.unlock() }
        return error
    }
}

enum ShapesOutput {
    /// Refuses destinations that hold something other than a previous dataset, so a mistyped
    /// path never deletes unrelated files.
    static func checkReplaceable(_ destination: URL) throws {
        let fileManager = FileManager.default
        var isDirectory: ObjCBool = false
        guard fileManager.fileExists(atPath: destination.path, isDirectory: &isDirectory) else { return }
        guard isDirectory.boolValue else {
            throw DatasetError(file: destination.path, problem: "exists and is a file, not a directory",
                               fix: "choose a new or empty directory for the dataset")
        }
        let contents = (try? fileManager.contentsOfDirectory(atPath: destination.path)) ?? []
        let looksLikeDataset = contents.contains("captions.txt") && contents.contains("Images")
        guard contents.isEmpty || looksLikeDataset else {
            throw DatasetError(file: destination.path, problem: "exists and holds files that are not a Shapes dataset",
                               fix: "choose a new or empty directory for the dataset")
        }
    }

    /// Renames the finished staging directory onto the destination, moving an old dataset aside
    /// first and deleting it only once the new one is in place.
    static func moveIntoPlace(_ staging: URL, _ destination: URL) throws {
        let fileManager = FileManager.default
        var previous: URL?
        if fileManager.fileExists(atPath: destination.path) {
            let aside = destination.deletingLastPathComponent()
                .appendingPathComponent(".\(destination.lastPathComponent).old-\(getpid())")
            try? fileManager.removeItem(at: aside)
            guard rename(destination.path, aside.path) == 0 else {
                throw DatasetError(file: destination.path, problem: "the previous dataset could not be moved aside (\(String(cString: strerror(errno))))",
                                   fix: "check the directory's permissions")
            }
            previous = aside
        }
        guard rename(staging.path, destination.path) == 0 else {
            let reason = String(cString: strerror(errno))
            if let previous { _ = rename(previous.path, destination.path) }
            throw DatasetError(file: destination.path, problem: "the new dataset could not be moved into place (\(reason))",
                               fix: "check the directory's permissions")
        }
        if let previous { try? fileManager.removeItem(at: previous) }
    }
}
