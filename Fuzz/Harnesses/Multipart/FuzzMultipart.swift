// libFuzzer harness: the multipart/form-data reader of `POST /v1/captions`. The input's first line
// is the Content-Type header (parsed by MediaType, which gives the boundary); the rest is the body,
// handed to Upload.fromMultipart (MultipartParser.parts plus the choice of the image part) as the
// server does after collecting it. Errors are fine; crashes are bugs.
import Foundation
import FuzzSupport
@testable import CaptionServer

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = UnsafeBufferPointer(start: data, count: size)
    let newline = input.firstIndex(of: 0x0A) ?? size
    let header = String(decoding: input[0..<newline], as: UTF8.self)
    let body = Data(input[min(newline + 1, size)...])  // a fresh Data, starting at index 0, as collected
    let mediaType = MediaType(header)
    let boundary = mediaType.parameters["boundary"] ?? "XyZ"
    guard !boundary.isEmpty else { return 0 }
    _ = try? Upload.fromMultipart(body, boundary: boundary)
    return 0
}

@main enum Harness {
    static func main() { runLibFuzzer() }
}
