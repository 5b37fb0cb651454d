import Foundation

/// Split membership read from list files (one image name per line): Flickr8k's
/// `Flickr_8k.{train,dev,test}Images.txt`, or `splits/{train,val,test}.txt` as the Shapes
/// generator writes them.
struct SplitLists {
    var splitOfImage: [String: Split] = [:]
    /// The list files that were found, for naming in messages.
    var files: [String] = []
    /// The splits whose list file is absent (e.g. a Flickr8k copy without its test list), with the
    /// file name that was looked for.
    var absent: [(name: String, split: Split)] = []

    static let flickrListNames: [(String, Split)] = [
        ("Flickr_8k.trainImages.txt", .train), ("Flickr_8k.devImages.txt", .val), ("Flickr_8k.testImages.txt", .test),
    ]
    static let splitsFolderNames: [(String, Split)] = [
        ("splits/train.txt", .train), ("splits/val.txt", .val), ("splits/test.txt", .test),
    ]

    /// Looks for Flickr8k list files first, then `splits/`; nil when neither set exists.
    static func find(in directory: URL) throws -> SplitLists? {
        for candidates in [flickrListNames, splitsFolderNames] {
            let present = candidates.filter { FileManager.default.fileExists(atPath: directory.appendingPathComponent($0.0).path) }
            if present.isEmpty { continue }
            var lists = SplitLists()
            lists.absent = candidates.filter { candidate in !present.contains { $0.0 == candidate.0 } }.map { (name: $0.0, split: $0.1) }
            for (name, split) in present {
                try lists.add(TextFile(url: directory.appendingPathComponent(name), allowEmpty: true), as: split)
            }
            return lists
        }
        return nil
    }

    mutating func add(_ file: TextFile, as split: Split) throws {
        files.append(file.displayPath)
        for (number, text) in try file.lines() {
            let image = text.trimmed
            if image.isEmpty { continue }
            if let existing = splitOfImage[image], existing != split {
                throw file.error(line: number, "image \"\(image)\" is already listed in the \(existing.rawValue) split",
                                 fix: "list every image in exactly one split file")
            }
            splitOfImage[image] = split
        }
    }
}
