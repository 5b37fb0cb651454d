import Foundation

extension CaptionDataset {
    /// Loads a caption dataset from a directory (layout detected from the files inside) or from a
    /// caption file directly.
    ///
    /// - Parameters:
    ///   - imagesDirectory: where the images are; by default the layout's usual folder next to the captions.
    ///   - strict: make captions naming missing images an error instead of a count in `missingImages`.
    ///   - checkImages: look for every image on disk (turn off when only the text is needed).
    public static func load(_ path: String, imagesDirectory: String? = nil, strict: Bool = false,
                            checkImages: Bool = true) throws -> CaptionDataset {
        let url = URL(fileURLWithPath: path).standardizedFileURL
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw DatasetError(file: path, problem: "no such file or directory",
                               fix: "pass a dataset directory or a caption file that exists")
        }
        let captionFile: URL
        let layout: DatasetLayout
        let root: URL
        if isDirectory.boolValue {
            (captionFile, layout) = try LayoutDetector.detect(inDirectory: url)
            root = url
        } else {
            captionFile = url
            layout = try LayoutDetector.detect(file: TextFile(url: url))
            root = url.deletingLastPathComponent()
        }

        let file = try TextFile(url: captionFile)
        var parsed: ParsedCaptions
        var name = root.lastPathComponent
        switch layout {
        case .flickr8kOriginal, .flickr30kToken:
            parsed = try FlickrTokenReader.read(file)
        case .flickr8kKaggle:
            parsed = try CSVCaptionReader.read(file, requireKaggleHeader: true)
        case .folderCSV:
            parsed = try CSVCaptionReader.read(file, requireKaggleHeader: false)
        case .flickr30kKaggle:
            parsed = try PipeCaptionReader.read(file)
        case .karpathyJSON:
            let result = try KarpathyReader.read(file)
            parsed = result.parsed
            if let datasetName = result.datasetName, !datasetName.isEmpty { name = datasetName }
        }
        guard !parsed.rows.isEmpty else {
            throw file.error(line: nil, "the dataset has no captions",
                             fix: "check that this is the right caption file and that it is complete")
        }

        var items = try CaptionGrouping.items(from: parsed.rows, file: file.displayPath)
        // Split lists only fill in images whose caption file says nothing about their split.
        var splitWarnings: [String] = []
        if layout != .karpathyJSON, let lists = try SplitLists.find(in: captionFile.deletingLastPathComponent())
            ?? (captionFile.deletingLastPathComponent() == root ? nil : SplitLists.find(in: root)) {
            for index in items.indices where items[index].split == nil {
                items[index].split = lists.splitOfImage[items[index].image]
            }
            for (listName, split) in lists.absent where !items.contains(where: { $0.split == split }) {
                splitWarnings.append("\(name) has no \(split.rawValue) split (there is no \(listName) beside \(lists.files[0])); the other splits are used as they are")
            }
        }

        let images = imagesDirectory.map { URL(fileURLWithPath: $0).standardizedFileURL }
            ?? LayoutDetector.imagesDirectory(for: layout, near: captionFile.deletingLastPathComponent(), root: root)
        var dataset = CaptionDataset(name: name, layout: layout, imagesDirectory: images, items: items,
                                     missingImages: [], warnings: parsed.warnings + splitWarnings)
        if checkImages {
            dataset.missingImages = missingImages(of: items, in: images)
            if !dataset.missingImages.isEmpty {
                let count = dataset.missingImages.count
                if strict {
                    throw DatasetError(file: file.displayPath,
                                       problem: "\(count) captioned image(s) are missing from \(images.path), the first being \"\(dataset.missingImages[0])\"",
                                       fix: "put the images there, pass the right images directory, or load without strict checking")
                }
                dataset.warnings.append("\(file.displayPath): \(count) captioned image(s) are missing from \(images.path), the first being \"\(dataset.missingImages[0])\"")
            }
        }
        return dataset
    }

    /// Images named by captions but absent on disk, in item order. One directory listing answers
    /// plain names, which keeps a 30k-image check fast; nested paths are checked one by one.
    static func missingImages(of items: [ImageCaptions], in directory: URL) -> [String] {
        let listing = Set((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? [])
        return items.compactMap { item in
            let present = item.image.contains("/")
                ? FileManager.default.fileExists(atPath: directory.appendingPathComponent(item.image).path)
                : listing.contains(item.image)
            return present ? nil : item.image
        }
    }
}
