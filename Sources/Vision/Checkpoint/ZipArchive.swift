import Foundation

/// Just enough ZIP to read PyTorch's archives: the central directory (with ZIP64 sizes and offsets)
/// and stored (uncompressed) entries, which is all torch.save writes.
struct ZipArchive {
    struct Entry {
        var name: String
        var method: UInt16
        var size, localHeaderOffset: Int
    }

    let data: Data
    let name: String
    private(set) var entries: [String: Entry] = [:]
    private(set) var entryNames: [String] = []

    init(data: Data, name: String) throws {
        self.data = data
        self.name = name
        try readCentralDirectory()
    }

    static func hasSignature(_ data: Data) -> Bool {
        data.prefix(4) == Data([0x50, 0x4B, 0x03, 0x04])
    }

    /// The bytes of a stored entry, sharing memory with the archive.
    func contents(of entryName: String) throws -> Data {
        guard let entry = entries[entryName] else {
            throw CheckpointError.truncated(name, "the archive has no entry \(entryName)")
        }
        guard entry.method == 0 else {
            throw CheckpointError.malformed(name, "entry \(entryName) is compressed, and PyTorch archives never are")
        }
        let header = entry.localHeaderOffset
        guard try u32(header) == 0x0403_4B50 else {
            throw CheckpointError.truncated(name, "the local header of \(entryName) is missing")
        }
        let start = header + 30 + Int(try u16(header + 26)) + Int(try u16(header + 28))
        guard start <= data.count - entry.size else {
            throw CheckpointError.truncated(name, "entry \(entryName) runs past the end of the file")
        }
        let base = data.startIndex
        return data[(base + start)..<(base + start + entry.size)]
    }

    private mutating func readCentralDirectory() throws {
        // The end-of-central-directory record sits in the last 22 + 65535 (comment) bytes.
        let searchStart = max(0, data.count - 22 - 65_535)
        var eocd = -1
        var position = data.count - 22
        while position >= searchStart {
            if try u32(position) == 0x0605_4B50 { eocd = position; break }
            position -= 1
        }
        guard eocd >= 0 else { throw CheckpointError.truncated(name, "its ZIP directory is missing") }

        var count = Int(try u16(eocd + 10))
        var directoryOffset = Int(try u32(eocd + 16))
        if count == 0xFFFF || directoryOffset == 0xFFFF_FFFF {  // ZIP64: the real numbers are elsewhere
            let locator = eocd - 20
            guard locator >= 0, try u32(locator) == 0x0706_4B50 else {
                throw CheckpointError.truncated(name, "its ZIP64 directory locator is missing")
            }
            let record = Int(clamping: try u64(locator + 8))
            guard try u32(record) == 0x0606_4B50 else {
                throw CheckpointError.truncated(name, "its ZIP64 directory record is missing")
            }
            count = Int(clamping: try u64(record + 32))
            directoryOffset = Int(clamping: try u64(record + 48))
        }

        var cursor = directoryOffset
        for _ in 0..<count {
            guard try u32(cursor) == 0x0201_4B50 else {
                throw CheckpointError.truncated(name, "its ZIP directory is damaged")
            }
            let method = try u16(cursor + 10)
            var size = Int(try u32(cursor + 24))
            let nameLength = Int(try u16(cursor + 28))
            let extraLength = Int(try u16(cursor + 30))
            let commentLength = Int(try u16(cursor + 32))
            var offset = Int(try u32(cursor + 42))
            let nameStart = cursor + 46
            let entryName = String(decoding: try slice(nameStart, nameLength), as: UTF8.self)
            // ZIP64 extra field (id 1): 64-bit values for whichever 32-bit fields are saturated, in order.
            var extra = nameStart + nameLength
            let extraEnd = extra + extraLength
            let compressedSaturated = try u32(cursor + 20) == 0xFFFF_FFFF
            while extra + 4 <= extraEnd {
                let id = try u16(extra), length = Int(try u16(extra + 2))
                if id == 1 {
                    var field = extra + 4
                    if size == 0xFFFF_FFFF { size = Int(clamping: try u64(field)); field += 8 }
                    if compressedSaturated { field += 8 }
                    if offset == 0xFFFF_FFFF { offset = Int(clamping: try u64(field)) }
                }
                extra += 4 + length
            }
            entries[entryName] = Entry(name: entryName, method: method, size: size, localHeaderOffset: offset)
            entryNames.append(entryName)
            cursor = extraEnd + commentLength
        }
    }

    private func slice(_ offset: Int, _ count: Int) throws -> Data {
        guard offset >= 0, count >= 0, offset <= data.count - count else {
            throw CheckpointError.truncated(name, "its ZIP structure points past the end of the file")
        }
        return data[(data.startIndex + offset)..<(data.startIndex + offset + count)]
    }

    private func little(_ offset: Int, _ width: Int) throws -> UInt64 {
        try slice(offset, width).reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
    }

    private func u16(_ offset: Int) throws -> UInt16 { UInt16(try little(offset, 2)) }
    private func u32(_ offset: Int) throws -> UInt32 { UInt32(try little(offset, 4)) }
    private func u64(_ offset: Int) throws -> UInt64 { try little(offset, 8) }
}
