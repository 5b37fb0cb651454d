import Foundation

/// Checks, before any work starts, that a command will be able to write where it was told to, so a
/// run never fails at its end (after an epoch, after encoding every image) on a path it could have
/// refused at once.
enum OutputPath {
    /// `path` names a file that can be created or replaced: its folder exists and is writable, and
    /// the path itself is not a folder.
    static func checkFile(_ path: String, option: String) throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            throw CommandFailure("cannot write \(path): it is a folder; give \(option) a file path.")
        }
        try checkFolder(URL(fileURLWithPath: path).deletingLastPathComponent().path, for: path, option: option, create: false)
    }

    /// `path` names a folder that exists or can be created (its nearest existing ancestor is a
    /// writable folder), and is not a file.
    static func checkDirectory(_ path: String, option: String) throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw CommandFailure("cannot write into \(path): it is a file, not a folder; give \(option) a folder.") }
            guard access(path, W_OK) == 0 else { throw CommandFailure("cannot write into \(path): the folder is not writable; choose another \(option).") }
            return
        }
        try checkFolder(URL(fileURLWithPath: path).deletingLastPathComponent().path, for: path, option: option, create: true)
    }

    private static func checkFolder(_ folder: String, for path: String, option: String, create: Bool) throws {
        var ancestor = URL(fileURLWithPath: folder.isEmpty ? "." : folder).standardizedFileURL
        var isDirectory: ObjCBool = false
        while !FileManager.default.fileExists(atPath: ancestor.path, isDirectory: &isDirectory) {
            guard create else {
                throw CommandFailure("cannot write \(path): the folder \(folder) does not exist; create it or choose another \(option).")
            }
            ancestor.deleteLastPathComponent()
        }
        guard isDirectory.boolValue else {
            throw CommandFailure("cannot write \(path): \(ancestor.path) is a file, not a folder; choose another \(option).")
        }
        guard access(ancestor.path, W_OK) == 0 else {
            throw CommandFailure("cannot write \(path): the folder \(ancestor.path) is not writable; choose another \(option).")
        }
    }
}
