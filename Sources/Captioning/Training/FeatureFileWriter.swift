import Foundation
import TensorCore

/// Writes the feature file `FeatureStore` reads (safetensors: `grid` [N, L, C], `pooled` [N, C],
/// metadata `images`, `encoder`, `image_size`) from parts that each hold some rows in the same
/// format: the finished batches of `caption features`, or the shards `caption features merge` joins.
/// Rows are streamed to a temporary file beside the output and renamed into place, so memory stays
/// at one part and an existing output is never left half-written.
public enum FeatureFileWriter {
    /// Joins `parts` in order into `url`. Parts with no rows are skipped; all others must agree on
    /// encoder, image size and grid shape, and no image may appear twice.
    public static func assemble(parts: [URL], into url: URL, float16: Bool,
                                encoder: String? = nil, imageSize: Int? = nil) throws {
        let dtype = float16 ? "F16" : "F32"
        var images: [String] = [], seen: Set<String> = []
        var rowsToCopy: [URL] = []
        var cells = -1, channels = -1
        var encoderName = encoder, size = imageSize
        var pooled = Data()   // [N, C] in `dtype`, small enough to hold
        for part in parts {
            // Only the header is parsed here: the rows are copied as bytes below.
            let header = try SafetensorsHeader(SafeTensors.mapped(part), file: part.path)
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
            pooled.append(try rows("pooled", of: part, as: dtype))
            rowsToCopy.append(part)
        }
        let count = images.count
        if cells < 0 { (cells, channels) = (0, 0) }
        let metadata = ["images": String(decoding: try JSONEncoder().encode(images), as: UTF8.self),
                        "encoder": encoderName ?? "unknown", "image_size": String(size ?? 0)]
        let writer = try SafetensorsWriter(url, tensors: [.init(name: "grid", dtype: dtype, shape: [count, cells, channels]),
                                                          .init(name: "pooled", dtype: dtype, shape: [count, channels])],
                                           metadata: metadata)
        for part in rowsToCopy { try writer.append(rows("grid", of: part, as: dtype)) }
        try writer.append(pooled)
        try writer.finish()
    }

    /// Tensor `name` of `part` as `dtype` bytes: its own bytes where it is stored so (the usual case:
    /// `caption features` writes its batches in the output's format), else converted.
    static func rows(_ name: String, of part: URL, as dtype: String) throws -> Data {
        let data = try SafeTensors.mapped(part)
        guard let entry = try SafetensorsHeader(data, file: part.path).entries[name] else {
            throw FeatureStoreError(description: "\(part.path) changed while it was merged (it lost its \"\(name)\" tensor): run the command again.")
        }
        if entry.dtype == dtype { return data[(data.startIndex + entry.bytes.lowerBound)..<(data.startIndex + entry.bytes.upperBound)] }
        return encode(try SafeTensors.parse(data, file: part.path)[name]?.scalars ?? [], float16: dtype == "F16")
    }

    /// Little-endian F32 or F16 bytes.
    static func encode(_ values: [Float], float16: Bool) -> Data {
        if !float16 { return values.withUnsafeBufferPointer { Data(buffer: $0) } }
        let halves = values.map { Float16($0).bitPattern.littleEndian }
        return halves.withUnsafeBufferPointer { Data(buffer: $0) }
    }
}
