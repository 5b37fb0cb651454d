import Foundation

/// The partition an image belongs to. Karpathy's `restval` is folded into `train` when read.
public enum Split: String, Sendable, CaseIterable {
    case train, val, test
}

/// One image and all of its reference captions, as read from a caption file.
public struct ImageCaptions: Sendable, Equatable {
    /// File name (or relative path, for Karpathy `filepath/filename`) inside `imagesDirectory`.
    public var image: String
    /// `nil` when the dataset carries no split information for this image.
    public var split: Split?
    /// Captions in file order, exactly as written (not tokenised).
    public var captions: [String]

    public init(image: String, split: Split?, captions: [String]) {
        self.image = image
        self.split = split
        self.captions = captions
    }
}

/// The on-disk distributions `CaptionDataset.load` understands.
public enum DatasetLayout: String, Sendable, CaseIterable {
    case flickr8kOriginal, flickr8kKaggle, flickr30kToken, flickr30kKaggle, karpathyJSON, folderCSV
}

/// A loaded caption dataset: which images, which captions, which split.
public struct CaptionDataset: Sendable {
    public var name: String
    public var layout: DatasetLayout
    public var imagesDirectory: URL
    /// In file order, one per image.
    public var items: [ImageCaptions]
    /// Captioned images not found on disk (empty when loaded with `checkImages: false`).
    public var missingImages: [String]
    /// Problems that were tolerated rather than fatal, each naming its file and line
    /// (for example Flickr8k's `2258277193_586949ec62.jpg.1` key, whose image does not exist).
    public var warnings: [String]

    public init(name: String, layout: DatasetLayout, imagesDirectory: URL, items: [ImageCaptions],
                missingImages: [String] = [], warnings: [String] = []) {
        self.name = name
        self.layout = layout
        self.imagesDirectory = imagesDirectory
        self.items = items
        self.missingImages = missingImages
        self.warnings = warnings
    }

    /// The items of one split, in file order.
    public func split(_ s: Split) -> [ImageCaptions] {
        items.filter { $0.split == s }
    }

    /// Total number of captions over all images.
    public var captionCount: Int {
        items.reduce(0) { $0 + $1.captions.count }
    }

    /// Where an item's image file is expected to be.
    public func imageURL(for item: ImageCaptions) -> URL {
        imagesDirectory.appendingPathComponent(item.image)
    }
}

/// A dataset or vocabulary problem, reported as one plain sentence:
/// `<file>:<line>: <what is wrong> — <how to fix it>` (the line part only where there is one).
public struct DatasetError: Error, CustomStringConvertible, Sendable, Equatable {
    public var file: String?
    public var line: Int?
    public var problem: String
    public var fix: String

    public init(file: String?, line: Int? = nil, problem: String, fix: String) {
        self.file = file
        self.line = line
        self.problem = problem
        self.fix = fix
    }

    public var description: String {
        var location = ""
        if let file {
            location = file
            if let line { location += ":\(line)" }
            location += ": "
        } else if let line {
            location = "line \(line): "
        }
        return "\(location)\(problem) — \(fix)"
    }
}

extension DatasetError: LocalizedError {
    public var errorDescription: String? { description }
}
