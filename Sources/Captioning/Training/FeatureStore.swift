import AtomicFiles
import Foundation
import TensorCore

/// A feature file written by `caption features`: safetensors with `grid` [N, L, C] and `pooled`
/// [N, C] (float32 or float16), and metadata `images` (JSON list of file names in row order),
/// `encoder` and `image_size`. The file is memory-mapped and only the rows a batch asks for are
/// converted to float32, so a Flickr8k-sized grid never has to fit in memory at once.
public final class FeatureStore: FeatureSource {
    public let url: URL
    public let images: [String]
    public let encoder: String
    public let imageSize: Int
    let store: MappedFeatures
    let rowOfImage: [String: Int]

    public init(_ url: URL) throws {
        func fail(_ what: String) -> FeatureStoreError {
            FeatureStoreError(description: "\(url.path) \(what): re-create it with `caption features`.")
        }
        let data: Data
        let shared: Bool
        if let mapped = sharedMapping(url) {
            (data, shared) = (mapped, true)
        } else {
            do {
                data = try Data(contentsOf: url, options: .alwaysMapped)
            } catch {
                throw FeatureStoreError(description: "\(url.path) cannot be read (\(AtomicFileError.reason(error))): check the path and its permissions.")
            }
            shared = false
        }
        let header: SafetensorsHeader
        do { header = try SafetensorsHeader(data, file: url.path) } catch { throw fail(error.problem) }
        let metadata = header.metadata

        /// A float tensor of the given rank (its bytes already checked against the file by the header).
        func entry(_ name: String, rank: Int) throws -> MappedFeatures.Slab? {
            guard let entry = header.entries[name] else { return nil }
            guard entry.shape.count == rank else { throw fail("has a \(name) of shape \(entry.shape), not of rank \(rank)") }
            guard entry.dtype == "F32" || entry.dtype == "F16" else { throw fail("stores \(name) as \(entry.dtype), not F32 or F16") }
            // An empty first dimension hides a row size that would wrap around when rows are gathered.
            guard entry.shape.dropFirst().reduce(Optional(4), { size, d in size.flatMap { s in
                let (p, overflow) = s.multipliedReportingOverflow(by: d); return overflow ? nil : p } }) != nil else {
                throw fail("has a \(name) of shape \(entry.shape), whose rows do not fit in 64 bits")
            }
            return MappedFeatures.Slab(shape: entry.shape, offset: entry.bytes.lowerBound, half: entry.dtype == "F16")
        }
        guard let pooled = try entry("pooled", rank: 2) else { throw fail("has no pooled [N, C] tensor") }
        let grid = try entry("grid", rank: 3)
        if let grid, grid.shape[0] != pooled.shape[0] || grid.shape[2] != pooled.shape[1] {
            throw fail("has a grid of shape \(grid.shape) that does not fit pooled \(pooled.shape)")
        }
        guard let json = metadata["images"], let names = try? JSONDecoder().decode([String].self, from: Data(json.utf8)) else {
            throw fail("has no \"images\" metadata listing its rows")
        }
        guard names.count == pooled.shape[0] else { throw fail("lists \(names.count) images for \(pooled.shape[0]) feature rows") }
        self.url = url
        images = names
        encoder = metadata["encoder"] ?? "unknown"
        imageSize = Int(metadata["image_size"] ?? "") ?? 0
        store = MappedFeatures(data: data, pooled: pooled, grid: grid, releasesPages: shared)
        rowOfImage = Dictionary(names.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
    }

    public var count: Int { store.count }
    public var featureSize: Int { store.featureSize }
    public var hasGrid: Bool { store.hasGrid }
    public func features(rows: [Int]) -> ImageFeatures { store.features(rows: rows) }

    /// The row of an image, by its file name (or its last path component).
    public func row(of image: String) -> Int? {
        rowOfImage[image] ?? rowOfImage[(image as NSString).lastPathComponent]
    }
}

/// Rows of pooled and grid features read straight from a memory-mapped safetensors body.
final class MappedFeatures: FeatureSource {
    struct Slab {
        let shape: [Int]
        /// Byte offset of element 0 within the mapped file.
        let offset: Int
        let half: Bool
        var rowElements: Int { shape.dropFirst().reduce(1, *) }
    }
    let data: Data
    let pooled: Slab
    let grid: Slab?
    /// `data` is a read-only shared mapping of the file: after converting rows, their pages are
    /// dropped from this process (MADV_DONTNEED; they stay in the page cache), so resident memory
    /// does not grow to the file's size over an epoch.
    let releasesPages: Bool

    init(data: Data, pooled: Slab, grid: Slab?, releasesPages: Bool = false) {
        self.data = data
        self.pooled = pooled
        self.grid = grid
        self.releasesPages = releasesPages
    }

    var count: Int { pooled.shape[0] }
    var featureSize: Int { pooled.shape[1] }
    var hasGrid: Bool { grid != nil }

    func features(rows: [Int]) -> ImageFeatures {
        ImageFeatures(pooled: gather(pooled, rows), grid: grid.map { gather($0, rows) })
    }

    /// The given rows of `slab` as a new float32 tensor [rows.count, …].
    private func gather(_ slab: Slab, _ rows: [Int]) -> Tensor {
        let width = slab.rowElements
        let out = Tensor(zeros: [rows.count] + slab.shape.dropFirst())
        data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            for (i, row) in rows.enumerated() {
                precondition(row >= 0 && row < slab.shape[0], "feature row \(row) is out of range 0..<\(slab.shape[0])")
                let target = out.data + i * width
                if slab.half {
                    let base = slab.offset + row * width * 2
                    for j in 0..<width {
                        target[j] = Float(Float16(bitPattern: UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: base + 2 * j, as: UInt16.self))))
                    }
                } else {
                    let base = slab.offset + row * width * 4
                    for j in 0..<width {
                        target[j] = Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: base + 4 * j, as: UInt32.self)))
                    }
                }
                if releasesPages, let start = raw.baseAddress {
                    let rowBytes = width * (slab.half ? 2 : 4)
                    releasePages(start + slab.offset + row * rowBytes, count: rowBytes)
                }
            }
        }
        return out
    }

    /// MADV_DONTNEED on the whole pages inside [pointer, pointer + count).
    private func releasePages(_ pointer: UnsafeRawPointer, count: Int) {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let first = (Int(bitPattern: pointer) + page - 1) / page * page
        let last = (Int(bitPattern: pointer) + count) / page * page
        guard last > first, let address = UnsafeMutableRawPointer(bitPattern: first) else { return }
        _ = madvise(address, last - first, Int32(MADV_DONTNEED))
    }
}

/// The file mapped read-only and shared (so dropping its pages never loses data), as `Data`; nil
/// when it cannot be mapped that way (the caller falls back to Foundation's mapping).
private func sharedMapping(_ url: URL) -> Data? {
    #if os(Linux)
    let fd = open(url.path, O_RDONLY)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var info = stat()
    guard fstat(fd, &info) == 0, info.st_size > 0 else { return nil }
    let size = Int(info.st_size)
    guard let address = mmap(nil, size, PROT_READ, MAP_SHARED, fd, 0), address != MAP_FAILED else { return nil }
    return Data(bytesNoCopy: address, count: size, deallocator: .custom { pointer, count in munmap(pointer, count) })
    #else
    return nil
    #endif
}

public struct FeatureStoreError: Error, CustomStringConvertible {
    public let description: String
}

extension FeatureStore {
    /// Checks that this store can feed `model`: the same feature size, and the grid when the
    /// decoder attends over it. `modelPath` names the model in the message.
    public func checkFits(_ model: CaptionModel, modelPath: String) throws {
        let config = model.metadata.decoder
        guard featureSize == config.featureSize else {
            throw FeatureStoreError(description: "\(url.path) holds \(featureSize)-channel features but \(modelPath) expects \(config.featureSize): extract them with the model's encoder (\(model.metadata.encoder.name)).")
        }
        if config.architecture.usesGrid && !hasGrid {
            throw FeatureStoreError(description: "\(url.path) has no grid features, which \(config.architecture.rawValue) needs: re-run caption features.")
        }
    }
}

