import Foundation

/// Why a captioner could not be made or could not caption an image: one plain sentence that names
/// the file or the limit and says what to do, the same sentence `caption` prints.
public struct CaptionerError: Error, Sendable, CustomStringConvertible, LocalizedError, Equatable {
    /// What went wrong, for code that reacts differently (the server picks its HTTP status by it).
    public enum Kind: Sendable, Equatable {
        /// The model file is missing, truncated, foreign, or does not fit its architecture.
        case model
        /// The encoder's weights are missing or do not belong to the model's encoder.
        case encoderWeights
        /// The image is empty, not a JPEG or PNG, truncated or corrupt.
        case unreadableImage
        /// The image has more pixels than `Captioner.Options.maxPixels` allows.
        case tooManyPixels
        /// An option is out of range (a beam of 0, a negative limit).
        case option
        /// `finish()` was called: the captioner takes no more images.
        case shuttingDown
        /// The encoder or decoder failed on an image it had accepted.
        case modelFailure
    }

    /// What went wrong.
    public let kind: Kind
    /// One sentence naming the file or the limit, and the fix.
    public let description: String
    /// The same sentence, for `localizedDescription`.
    public var errorDescription: String? { description }

    /// An error of `kind`, described in one sentence that ends with a full stop.
    public init(_ kind: Kind, _ description: String) {
        self.kind = kind
        self.description = description
    }

    static let shuttingDown = CaptionerError(.shuttingDown, "The captioner is shutting down and takes no more images: make a new Captioner.")

    static func modelFailure(_ error: Error) -> CaptionerError {
        CaptionerError(.modelFailure, "Captioning failed inside the model (\(error)): report this with the image that caused it.")
    }
}
