import AtomicFiles
import Foundation

/// The one writer of the safetensors layout (`SafetensorsHeader` reads it): the header for tensors
/// laid out back to back in the order given, then their bytes, streamed through `AtomicFile.Writer`
/// so a file of gigabytes never has to be in memory and a failed write leaves any old file intact.
public final class SafetensorsWriter {
    /// A tensor to come: its name, dtype as safetensors spells it, and shape.
    public struct Planned: Sendable {
        public let name: String, dtype: String, shape: [Int]
        public init(name: String, dtype: String, shape: [Int]) {
            precondition(SafetensorsHeader.elementSizes[dtype] != nil, "unknown safetensors dtype \(dtype)")
            self.name = name
            self.dtype = dtype
            self.shape = shape
        }
        var byteCount: Int { shape.reduce(SafetensorsHeader.elementSizes[dtype]!, *) }
    }

    private let file: AtomicFile.Writer
    private let expected: Int
    private var written = 0

    /// Starts `url` with the header of `tensors`; their bytes follow through `append`, in that order.
    public init(_ url: URL, tensors: [Planned], metadata: [String: String] = [:]) throws {
        file = try AtomicFile.Writer(url)
        expected = tensors.reduce(0) { $0 + $1.byteCount }
        try file.append(Self.header(for: tensors, metadata: metadata))
    }

    /// The next bytes of the tensors, in the order they were planned (little-endian).
    public func append(_ bytes: Data) throws {
        written += bytes.count
        precondition(written <= expected, "SafetensorsWriter: more bytes than the planned tensors hold")
        try file.append(bytes)
    }

    /// Checks that every planned byte came, then flushes the file and puts it in place.
    public func finish() throws {
        precondition(written == expected, "SafetensorsWriter: \(written) of the planned \(expected) bytes were written")
        try file.commit()
    }

    /// The 8-byte length and the JSON header (padded with spaces to a multiple of 8, so tensors stay
    /// aligned, or to `length` bytes in all when the header must fill space reserved for it) for
    /// `tensors` back to back in that order.
    public static func header(for tensors: [Planned], metadata: [String: String], paddedTo length: Int? = nil) -> Data {
        var header: [String: Any] = [:]
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var offset = 0
        for t in tensors {
            precondition(header[t.name] == nil && t.name != "__metadata__", "tensor name \"\(t.name)\" is used twice")
            header[t.name] = ["dtype": t.dtype, "shape": t.shape, "data_offsets": [offset, offset + t.byteCount]] as [String: Any]
            offset += t.byteCount
        }
        var json = try! JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while (8 + json.count) % 8 != 0 || (length.map { 8 + json.count < $0 } ?? false) { json.append(0x20) }
        precondition(length.map { 8 + json.count == $0 } ?? true, "the header needs \(8 + json.count) bytes, more than the \(length ?? 0) reserved")
        var out = Data()
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { out.append(contentsOf: $0) }
        return out + json
    }
}

/// A safetensors file filled in place (`caption features` writes each batch's grid rows where
/// they will stay): the body is written in order behind `headerCapacity` bytes kept for the header,
/// which `finish` writes once the shapes are known, padded with spaces to fill the gap, so nothing
/// is copied at the end. The body bypasses the page cache (O_DIRECT, in whole 4 KiB blocks from an
/// aligned staging buffer): a virtual machine's page cache takes new memory at about 300 MB/s, its
/// disk gets direct writes at over 1 GB/s (docs/performance.md). Where the file system refuses
/// O_DIRECT (tmpfs) the writes are ordinary. The draft outlives the process, and a resumed run
/// reopens it and goes on from where its checked rows end; `finish` flushes it and renames it over
/// the output, so no reader ever sees a draft.
public final class SafetensorsDraft {
    public let url: URL
    /// Bytes before the body: the 8-byte length and the JSON header with its padding (whole blocks).
    public let headerCapacity: Int
    private static let block = 4096, stagingSize = 4 << 20
    /// Linux's O_DIRECT, which Glibc hides from Swift behind _GNU_SOURCE (its value differs by CPU);
    /// elsewhere the draft writes through the cache.
    #if os(Linux) && arch(x86_64)
    private static let openDirect: Int32? = 0o40000
    #elseif os(Linux) && arch(arm64)
    private static let openDirect: Int32? = 0o200000
    #else
    private static let openDirect: Int32? = nil
    #endif
    private var descriptor: Int32
    private var direct: Int32
    private let staging: UnsafeMutableRawPointer
    private var staged = 0          // bytes in `staging`
    private var stagingOffset = -1  // file offset of staging[0], block-aligned; -1 before the first write

    /// The header room `bytes` needs, rounded up to whole blocks.
    public static func capacity(forHeaderOf bytes: Int) -> Int { (bytes + block - 1) / block * block }

    /// Opens the draft at `url`, keeping what an earlier run wrote there.
    public init(_ url: URL, headerCapacity: Int) throws {
        precondition(headerCapacity % Self.block == 0, "the header room must end on a block boundary")
        self.url = url
        self.headerCapacity = headerCapacity
        descriptor = open(url.path, O_RDWR | O_CREAT, 0o644)
        guard descriptor >= 0 else { throw AtomicFileError(path: url.path, reason: String(cString: strerror(errno))) }
        direct = Self.openDirect.map { open(url.path, O_WRONLY | $0) } ?? -1
        var memory: UnsafeMutableRawPointer?
        precondition(posix_memalign(&memory, Self.block, Self.stagingSize) == 0, "out of memory for a 4 MiB buffer")
        staging = memory!
    }

    /// A draft dropped unfinished (a run that stopped on an error) keeps everything written to it,
    /// so the next run resumes it whole.
    deinit {
        if descriptor >= 0 && staged > 0 { _ = Self.writeAll(UnsafeRawBufferPointer(start: staging, count: staged), atFile: stagingOffset, through: descriptor) }
        if descriptor >= 0 { close(descriptor) }
        if direct >= 0 { close(direct) }
        free(staging)
    }

    /// The body's bytes in `range`, or nil where the draft does not hold them all.
    public func read(_ range: Range<Int>) -> [UInt8]? {
        var out = [UInt8](repeating: 0, count: range.count)
        let complete = out.withUnsafeMutableBytes { read(into: $0, atFile: headerCapacity + range.lowerBound) }
        return complete ? out : nil
    }

    /// Writes `bytes` at body offset `offset`: anywhere the first time (a resumed run goes on after
    /// the rows it kept), then each write right after the one before.
    public func write(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws {
        let position = headerCapacity + offset
        if stagingOffset < 0 {
            // Stage the start of the block `position` falls in, which rows already on disk fill.
            stagingOffset = position / Self.block * Self.block
            staged = position - stagingOffset
            guard read(into: UnsafeMutableRawBufferPointer(start: staging, count: staged), atFile: stagingOffset) else {
                (stagingOffset, staged) = (-1, 0)
                throw SafeTensorsError(file: url.path, problem: "ends before byte \(position), where the next rows go",
                                       fix: "delete the folder it is in and run again")
            }
        }
        precondition(position == stagingOffset + staged, "SafetensorsDraft writes its body in order")
        var done = 0
        while done < bytes.count {
            let n = min(Self.stagingSize - staged, bytes.count - done)
            (staging + staged).copyMemory(from: bytes.baseAddress! + done, byteCount: n)
            staged += n
            done += n
            if staged == Self.stagingSize { try flushBlocks() }
        }
        try flushBlocks()
    }

    /// Writes the header of `tensors`, which must lie back to back from the body's start and fill
    /// what was written of it, cuts the draft after them, flushes it and renames it to `destination`.
    public func finish(tensors: [SafetensorsWriter.Planned], metadata: [String: String], into destination: URL) throws {
        let length = headerCapacity + tensors.reduce(0) { $0 + $1.byteCount }
        precondition(stagingOffset < 0 || stagingOffset + staged == length, "the body does not hold the planned tensors")
        if staged > 0 { try write(UnsafeRawBufferPointer(start: staging, count: staged), atFile: stagingOffset, through: descriptor) }
        let header = SafetensorsWriter.header(for: tensors, metadata: metadata, paddedTo: headerCapacity)
        try header.withUnsafeBytes { try write($0, atFile: 0, through: descriptor) }
        guard ftruncate(descriptor, off_t(length)) == 0, fsync(descriptor) == 0 else {
            throw AtomicFileError(path: url.path, reason: String(cString: strerror(errno)))
        }
        let closed = close(descriptor)
        descriptor = -1
        guard closed == 0, rename(url.path, destination.path) == 0 else {
            throw AtomicFileError(path: destination.path, reason: String(cString: strerror(errno)))
        }
    }

    /// Writes the whole blocks staged (O_DIRECT) and keeps the rest for the next write or `finish`.
    private func flushBlocks() throws {
        let whole = direct >= 0 ? staged / Self.block * Self.block : staged
        guard whole > 0 else { return }
        let failure = Self.writeAll(UnsafeRawBufferPointer(start: staging, count: whole), atFile: stagingOffset, through: direct >= 0 ? direct : descriptor)
        if failure == EINVAL && direct >= 0 {  // this file system takes no direct writes after all
            close(direct)
            direct = -1
            return try flushBlocks()
        }
        if failure != 0 { throw AtomicFileError(path: url.path, reason: String(cString: strerror(failure))) }
        staging.copyMemory(from: staging + whole, byteCount: staged - whole)
        staged -= whole
        stagingOffset += whole
    }

    private func write(_ bytes: UnsafeRawBufferPointer, atFile offset: Int, through fd: Int32) throws {
        let failure = Self.writeAll(bytes, atFile: offset, through: fd)
        if failure != 0 { throw AtomicFileError(path: url.path, reason: String(cString: strerror(failure))) }
    }

    /// 0, or the errno of the write that failed.
    private static func writeAll(_ bytes: UnsafeRawBufferPointer, atFile offset: Int, through fd: Int32) -> Int32 {
        var done = 0
        while done < bytes.count {
            let written = pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset + done))
            if written < 0 {
                if errno == EINTR { continue }
                return errno
            }
            if written == 0 { return EIO }
            done += written
        }
        return 0
    }

    private func read(into buffer: UnsafeMutableRawBufferPointer, atFile offset: Int) -> Bool {
        var done = 0
        while done < buffer.count {
            let got = pread(descriptor, buffer.baseAddress! + done, buffer.count - done, off_t(offset + done))
            if got < 0 && errno == EINTR { continue }
            if got <= 0 { return false }
            done += got
        }
        return true
    }
}
