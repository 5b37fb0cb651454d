import Foundation
import TensorCore

/// Writes the feature file `FeatureStore` reads (safetensors: `grid` [N, L, C], `pooled` [N, C],
/// metadata `images`, `encoder`, `image_size`) from feature files that each hold some rows: the
/// shards `caption features merge` joins, or the ranks' slices under `mpirun` (a single run writes
/// its file in place, `SafetensorsDraft`). Rows are streamed to a temporary file beside the output and renamed into place, so memory stays
/// at one part and an existing output is never left half-written.
public enum FeatureFileWriter {
    /// Joins `parts` in order into `url`. Parts with no rows are skipped; all others must agree on
    /// encoder, image size and grid shape, and no image may appear twice.
    public static func assemble(parts: [URL], into url: URL, float16: Bool) throws {
        let format: SafeTensors.FloatFormat = float16 ? .f16 : .f32
        var images: [String] = [], seen: Set<String> = []
        var grids: [(part: URL, data: Data, grid: SafetensorsHeader.Entry)] = []   // mapped, copied below
        var cells = -1, channels = -1
        var encoderName: String?, size: Int?
        var pooled = Data()   // [N, C] in `format`, small enough to hold
        for part in parts {
            // Each part is mapped and its header parsed once; rows are copied as bytes.
            let data = try SafeTensors.mapped(part)
            let header = try SafetensorsHeader(data, file: part.path)
            func fail(_ problem: String) -> FeatureStoreError {
                FeatureStoreError(description: "\(part.path) \(problem): re-create it with `caption features`.")
            }
            guard let namesJSON = header.metadata["images"],
                  let names = try? JSONDecoder().decode([String].self, from: Data(namesJSON.utf8)) else {
                throw fail("has no \"images\" metadata listing its rows")
            }
            if names.isEmpty { continue }
            guard let grid = header.entries["grid"], let partPooled = header.entries["pooled"], grid.shape.count == 3, partPooled.shape.count == 2,
                  grid.shape[0] == names.count, partPooled.shape[0] == names.count, grid.shape[2] == partPooled.shape[1],
                  ["F32", "F16"].contains(grid.dtype), ["F32", "F16"].contains(partPooled.dtype) else {
                throw fail("does not hold grid [N, L, C] and pooled [N, C] float tensors for its \(names.count) images")
            }
            if cells < 0 { (cells, channels) = (grid.shape[1], grid.shape[2]) }
            guard grid.shape[1] == cells && grid.shape[2] == channels else {
                throw fail("has a grid of \(grid.shape[1])×\(grid.shape[2]) where earlier parts have \(cells)×\(channels); merge only shards of one encoder")
            }
            let partEncoder = header.metadata["encoder"] ?? "unknown"
            if encoderName == nil { encoderName = partEncoder }
            guard partEncoder == encoderName else { throw fail("was made by \(partEncoder), not \(encoderName!); merge only shards of one encoder") }
            let partSize = Int(header.metadata["image_size"] ?? "") ?? 0
            if size == nil { size = partSize }
            guard partSize == size else { throw fail("was made at image size \(partSize), not \(size!); merge only shards made alike") }
            for name in names {
                guard seen.insert(name).inserted else { throw fail("repeats image \(name), which an earlier part already holds; merge each shard once") }
            }
            images += names
            pooled.append(try bytes(of: "pooled", partPooled, in: data, file: part.path, as: format))
            grids.append((part, data, grid))
        }
        if cells < 0 { (cells, channels) = (0, 0) }
        let writer = try SafetensorsWriter(url, tensors: tensors(count: images.count, cells: cells, channels: channels, format: format),
                                           metadata: metadata(images: images, encoder: encoderName ?? "unknown", imageSize: size ?? 0))
        for (part, data, grid) in grids { try writer.append(bytes(of: "grid", grid, in: data, file: part.path, as: format)) }
        try writer.append(pooled)
        try writer.finish()
    }

    /// The layout of a feature file of `count` images: grid rows, then pooled rows.
    public static func tensors(count: Int, cells: Int, channels: Int, format: SafeTensors.FloatFormat) -> [SafetensorsWriter.Planned] {
        [.init(name: "grid", dtype: format.rawValue, shape: [count, cells, channels]),
         .init(name: "pooled", dtype: format.rawValue, shape: [count, channels])]
    }

    public static func metadata(images: [String], encoder: String, imageSize: Int) -> [String: String] {
        ["images": String(decoding: try! JSONEncoder().encode(images), as: UTF8.self), "encoder": encoder, "image_size": String(imageSize)]
    }

    /// Bytes the header of a feature file holding any of `names` (encoded by `encoder`) may need: the
    /// header of all of them, with every number wider than it can be (count 99…9 with as many
    /// digits as `names.count`, 99,999 cells, channels and pixels).
    public static func largestHeader(names: [String], encoder: String) -> Int {
        let count = Int(String(repeating: "9", count: String(names.count).count))!, wide = 99_999
        return SafetensorsWriter.header(for: tensors(count: count, cells: wide, channels: wide, format: .f32),
                                        metadata: metadata(images: names, encoder: encoder, imageSize: wide)).count
    }

    /// The bytes of tensor `name` (`entry`) of a mapped part as `format`: its own bytes where it is
    /// stored so (the usual case: shards are merged in the format they were made in), else converted.
    static func bytes(of name: String, _ entry: SafetensorsHeader.Entry, in data: Data, file: String,
                      as format: SafeTensors.FloatFormat) throws -> Data {
        if entry.dtype == format.rawValue { return data[(data.startIndex + entry.bytes.lowerBound)..<(data.startIndex + entry.bytes.upperBound)] }
        let values = try SafeTensors.parse(data, file: file)[name]?.scalars ?? []
        var out = Data()
        values.withUnsafeBufferPointer { format.append($0, to: &out) }
        return out
    }
}
