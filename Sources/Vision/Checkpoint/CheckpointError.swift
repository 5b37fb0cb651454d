/// Why a checkpoint could not be read: one plain sentence that names the file.
public struct CheckpointError: Error, CustomStringConvertible, Sendable, Equatable {
    public let description: String

    public init(_ description: String) {
        self.description = description
    }

    static func truncated(_ name: String, _ detail: String) -> CheckpointError {
        CheckpointError("\(name) is truncated or corrupt: \(detail).")
    }

    static func disallowedGlobal(_ name: String, _ global: String) -> CheckpointError {
        CheckpointError("\(name) asks for \(global), which is not a tensor; refusing to load it.")
    }

    static func malformed(_ name: String, _ detail: String) -> CheckpointError {
        CheckpointError("\(name) is not a checkpoint this reader understands: \(detail).")
    }
}
