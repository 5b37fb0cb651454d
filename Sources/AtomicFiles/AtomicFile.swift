import Foundation

/// Writes a file through a temporary sibling and a rename, so readers see the old file or the new
/// one, never a torn one; a failure (disk full, no permission) leaves the old file intact.
public enum AtomicFile {
    public static func write(_ data: Data, to url: URL) throws {
        let writer = try Writer(url)
        try writer.append(data)
        try writer.commit()
    }

    public static func write(_ text: String, to url: URL) throws {
        try write(Data(text.utf8), to: url)
    }

    /// A file written in pieces (a feature file's gigabytes, row block by row block) under the same
    /// rule: into a temporary sibling, flushed to disk, then renamed over `url` by `commit()`. A
    /// writer dropped without `commit()` removes its temporary file, and `url` is untouched.
    public final class Writer {
        public let url: URL
        private let temporary: URL
        private var descriptor: Int32
        private var committed = false

        public init(_ url: URL) throws {
            self.url = url
            temporary = url.deletingLastPathComponent()
                .appendingPathComponent(".\(url.lastPathComponent).\(getpid()).\(UInt32.random(in: 0...UInt32.max)).tmp")
            descriptor = open(temporary.path, O_WRONLY | O_CREAT | O_EXCL, 0o644)
            guard descriptor >= 0 else { throw AtomicFileError(path: url.path, reason: String(cString: strerror(errno))) }
        }

        deinit {
            if descriptor >= 0 { close(descriptor) }
            if !committed { unlink(temporary.path) }
        }

        public func append(_ data: Data) throws {
            try data.withUnsafeBytes { buffer in
                var offset = 0
                while offset < buffer.count {
                    let written = Foundation.write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
                    if written < 0 {
                        if errno == EINTR { continue }
                        throw AtomicFileError(path: url.path, reason: String(cString: strerror(errno)))
                    }
                    offset += written
                }
            }
        }

        /// Flushes the data to disk, then puts the file in place.
        public func commit() throws {
            if fsync(descriptor) != 0 { throw AtomicFileError(path: url.path, reason: String(cString: strerror(errno))) }
            let closed = close(descriptor)
            descriptor = -1
            if closed != 0 { throw AtomicFileError(path: url.path, reason: String(cString: strerror(errno))) }
            if rename(temporary.path, url.path) != 0 { throw AtomicFileError(path: url.path, reason: String(cString: strerror(errno))) }
            committed = true
        }
    }
}

public struct AtomicFileError: Error, CustomStringConvertible {
    public let path: String, reason: String
    public var description: String { "cannot write \(path) (\(reason)): choose a writable location with free space." }
    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }

    /// The plain reason inside a Foundation error ("No space left on device"), not its
    /// "NSCocoaErrorDomain error 512" wrapper.
    public static func reason(_ error: Error) -> String {
        let ns = error as NSError
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError { return reason(underlying) }
        if ns.domain == NSPOSIXErrorDomain, let code = Int32(exactly: ns.code) { return String(cString: strerror(code)) }
        if let posix = error as? POSIXError { return String(cString: strerror(posix.code.rawValue)) }
        if let cocoa = error as? CocoaError {
            switch cocoa.code {
            case .fileNoSuchFile, .fileReadNoSuchFile: return "No such file or directory"
            case .fileWriteOutOfSpace: return "No space left on device"
            case .fileWriteNoPermission, .fileReadNoPermission: return "Permission denied"
            case .fileWriteFileExists: return "File exists"
            default: break
            }
        }
        return ns.localizedDescription
    }
}
