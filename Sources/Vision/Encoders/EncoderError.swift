/// Why an encoder could not be built or run, as one sentence with the fix.
public struct EncoderError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
