import Foundation

/// Works out which distribution a directory or file is, and where its images live.
enum LayoutDetector {
    /// Sub-folders some distributions unpack their caption files into.
    static let captionSubfolders = ["Flickr8k_text", "flickr30k_images", "flickr30k", "annotations"]

    static func detect(inDirectory directory: URL) throws -> (URL, DatasetLayout) {
        if let found = try detectNamedFiles(in: directory) { return found }
        for subfolder in captionSubfolders {
            let candidate = directory.appendingPathComponent(subfolder)
            if isDirectory(candidate), let found = try detectNamedFiles(in: candidate) { return found }
        }
        // Any other CSV whose header names an image column and a caption column.
        let entries = ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []).sorted()
        for entry in entries where [".csv", ".tsv"].contains(where: entry.lowercased().hasSuffix) {
            let url = directory.appendingPathComponent(entry)
            guard let file = try? TextFile(url: url) else { continue }
            if PipeCaptionReader.isHeader(file.firstLine()) { return (url, .flickr30kKaggle) }
            if isCaptionHeader(file.firstLine()) { return (url, .folderCSV) }
        }
        throw DatasetError(file: directory.path, problem: "no caption file found in this directory",
                           fix: "expected Flickr8k.token.txt, captions.txt (image,caption), results_20130124.token, results.csv, dataset_*.json or a CSV with image and caption columns")
    }

    private static func detectNamedFiles(in directory: URL) throws -> (URL, DatasetLayout)? {
        func existing(_ name: String) -> URL? {
            let url = directory.appendingPathComponent(name)
            return FileManager.default.fileExists(atPath: url.path) ? url : nil
        }
        if let url = existing("Flickr8k.token.txt") { return (url, .flickr8kOriginal) }
        if let url = existing("captions.txt") {
            let file = try TextFile(url: url)
            return (url, isKaggleHeader(file.firstLine()) ? .flickr8kKaggle : try detect(file: file))
        }
        if let url = existing("results_20130124.token") { return (url, .flickr30kToken) }
        if let url = existing("results.csv") { return (url, try detect(file: TextFile(url: url))) }
        let karpathyFiles = ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? [])
            .filter { $0.hasPrefix("dataset_") && $0.hasSuffix(".json") }.sorted()
        if karpathyFiles.count > 1 {
            throw DatasetError(file: directory.path,
                               problem: "several Karpathy split files are here (\(karpathyFiles.joined(separator: ", ")))",
                               fix: "pass the one you want as a file path")
        }
        if let name = karpathyFiles.first { return (directory.appendingPathComponent(name), .karpathyJSON) }
        return nil
    }

    /// Detects the layout of a caption file from its name and first line.
    static func detect(file: TextFile) throws -> DatasetLayout {
        let name = file.url.lastPathComponent
        let lowercasedName = name.lowercased()
        if lowercasedName.hasSuffix(".json") { return .karpathyJSON }
        if lowercasedName.hasSuffix(".token") || lowercasedName.hasSuffix(".token.txt") {
            return lowercasedName.contains("30k") || lowercasedName.hasPrefix("results_") ? .flickr30kToken : .flickr8kOriginal
        }
        let header = file.firstLine()
        if PipeCaptionReader.isHeader(header) { return .flickr30kKaggle }
        if isKaggleHeader(header) { return .flickr8kKaggle }
        if isCaptionHeader(header) { return .folderCSV }
        if header.contains("\t"), let key = header.split(separator: "\t").first, key.contains("#") {
            return .flickr8kOriginal
        }
        throw file.error(line: 1, "cannot tell the caption format from the file name or its first line",
                         fix: "use a header such as image,caption, or the <image>#<n><tab><caption> token format")
    }

    static func isKaggleHeader(_ line: String) -> Bool {
        line.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmed.lowercased() } == ["image", "caption"]
    }

    static func isCaptionHeader(_ line: String) -> Bool {
        let delimiter = Character(UnicodeScalar(CSVCaptionReader.delimiter(ofHeader: line)))
        let fields = line.split(separator: delimiter, omittingEmptySubsequences: false).map(String.init)
        return CSVCaptionReader.columns(inHeader: fields) != nil
    }

    /// The usual image folders of each layout, in order of preference.
    static func imageFolderNames(for layout: DatasetLayout) -> [String] {
        switch layout {
        case .flickr8kOriginal: return ["Flicker8k_Dataset", "Flickr8k_Dataset", "Images", "images"]
        case .flickr8kKaggle: return ["Images", "images"]
        case .flickr30kToken: return ["flickr30k-images", "flickr30k_images", "Images", "images"]
        case .flickr30kKaggle: return ["flickr30k_images", "flickr30k-images", "Images", "images"]
        case .karpathyJSON: return ["images", "Images", "Flicker8k_Dataset", "flickr30k-images", "flickr30k_images"]
        case .folderCSV: return ["images", "Images"]
        }
    }

    /// The first usual image folder that exists next to the captions or in the dataset root;
    /// otherwise the caption file's own folder (folder + CSV datasets often keep images beside it).
    static func imagesDirectory(for layout: DatasetLayout, near captionDirectory: URL, root: URL) -> URL {
        for base in [captionDirectory, root] {
            for name in imageFolderNames(for: layout) {
                let candidate = base.appendingPathComponent(name)
                if isDirectory(candidate) { return candidate }
            }
        }
        return captionDirectory
    }

    static func isDirectory(_ url: URL) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) && isDirectory.boolValue
    }
}
