// libFuzzer harness: image sniffing and decoding as the server and `caption attend` do it —
// ImageDecoder.decode (magic-byte sniffing, libjpeg-turbo, libpng simplified API, the pixel limit,
// the gAMA removal and the EXIF orientation of JPEG APP1 and PNG eXIf), plus the TIFF/EXIF walkers
// run directly on the input. The pixel limit is lowered to 4 megapixels so that one input cannot
// spend seconds in a legitimate decode; the limit check itself is still exercised.
import Foundation
import FuzzSupport
@testable import Vision

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Data(bytes: data, count: size)
    do {
        let image = try ImageDecoder.decode(data: bytes, name: "fuzz.img", maxPixels: 4_000_000)
        precondition(image.pixels.count == image.width * image.height * 3)
    } catch is ImageError {
    } catch {
        fatalError("ImageDecoder threw a non-ImageError: \(error)")
    }
    let raw = UnsafeRawBufferPointer(start: data, count: size)
    _ = JPEGMetadata.exifOrientation(in: raw)
    _ = JPEGMetadata.orientation(inTIFF: raw)
    _ = PNGDecoder.exifOrientation(in: raw)
    _ = PNGDecoder.withoutGammaChunk(bytes)
    return 0
}

@main enum Harness {
    static func main() { runLibFuzzer() }
}
