/// One caption as read from any layout, before captions are grouped per image.
struct CaptionRow {
    var image: String
    var caption: String
    /// Split given by the caption file itself (Karpathy JSON, a CSV `split` column), if any.
    var split: Split?
    /// 1-based line in the caption file, when the format has lines.
    var line: Int?
}

/// What a layout reader hands back to `CaptionDataset.load`.
struct ParsedCaptions {
    var rows: [CaptionRow] = []
    var warnings: [String] = []
}

extension Split {
    /// Accepts the spellings found in the wild: `dev`/`validation` mean val, Karpathy's `restval` joins train.
    init?(lenient text: String) {
        switch text.trimmed.lowercased() {
        case "train", "training", "restval": self = .train
        case "val", "valid", "validation", "dev": self = .val
        case "test", "testing": self = .test
        default: return nil
        }
    }
}

enum CaptionGrouping {
    /// Groups rows per image in order of first appearance. A row's own split wins over none;
    /// two different splits for one image is an error naming the second row.
    static func items(from rows: [CaptionRow], file: String) throws -> [ImageCaptions] {
        var indexOfImage: [String: Int] = [:]
        var items: [ImageCaptions] = []
        for row in rows {
            if let index = indexOfImage[row.image] {
                if let split = row.split, let existing = items[index].split, existing != split {
                    throw DatasetError(file: file, line: row.line,
                                       problem: "image \"\(row.image)\" is in split \(existing.rawValue) earlier but in \(split.rawValue) here",
                                       fix: "give every caption of an image the same split")
                }
                items[index].captions.append(row.caption)
                if items[index].split == nil { items[index].split = row.split }
            } else {
                indexOfImage[row.image] = items.count
                items.append(ImageCaptions(image: row.image, split: row.split, captions: [row.caption]))
            }
        }
        return items
    }
}
